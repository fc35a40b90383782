import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { isLogLevel, LOG_LEVELS, type LogLevel } from './log.js';

/** Bad flags or config: the runtime prints the message and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface RuntimeConfig {
  help: boolean;
  version: boolean;
  node: string;
  logLevel: LogLevel;
  /** Tree file; undefined runs the built-in demo tree. */
  tree: string | undefined;
  askTimeout: number;
  demoCrashes: boolean;
}

export const USAGE = `Usage: node dist/runtime.js [TREE_FILE] [options]

Starts one eldertree node on the embedded in-process transport and runs a
supervision tree: TREE_FILE (.js/.mjs exporting a supervisor spec, or .json naming
built-in machines), or the built-in demo tree. SIGINT/SIGTERM stop it cleanly
(children in reverse start order, exit 0).

Options:
  --tree FILE          same as TREE_FILE
  --node NAME          node name (env ELDERTREE_NODE; default HOST-PID)
  --log-level LEVEL    ${LOG_LEVELS.join(' | ')} (env ELDERTREE_LOG_LEVEL; default info)
  --ask-timeout MS     default timeout of ask, in ms (default 5000)
  --no-demo-crashes    the demo tree runs without its injected crashes
  -h, --help           this text
  -v, --version        the version

Exit codes: 0 stopped on a signal, 1 the root supervisor failed or the tree could
not start, 2 bad flags, config or tree file.`;

export function parseRuntimeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): RuntimeConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        tree: { type: 'string' },
        node: { type: 'string' },
        'log-level': { type: 'string' },
        'ask-timeout': { type: 'string' },
        'no-demo-crashes': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`expected at most one tree file, got: ${positionals.join(' ')}`);
  if (positionals.length === 1 && values.tree !== undefined) {
    throw new UsageError('give the tree file either as TREE_FILE or as --tree, not both');
  }
  const logLevel = values['log-level'] ?? env.ELDERTREE_LOG_LEVEL ?? 'info';
  if (!isLogLevel(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}; got "${logLevel}"`);
  }
  const node = values.node ?? env.ELDERTREE_NODE ?? `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9_-]+$/.test(node)) {
    throw new UsageError(`--node must be letters, digits, _ and - (it becomes a NATS subject token); got "${node}"`);
  }
  const askTimeout = Number(values['ask-timeout'] ?? 5000);
  if (!Number.isInteger(askTimeout) || askTimeout <= 0) {
    throw new UsageError(`--ask-timeout must be a whole number of ms > 0; got "${values['ask-timeout']}"`);
  }
  return {
    help: values.help ?? false,
    version: values.version ?? false,
    node,
    logLevel,
    tree: values.tree ?? positionals[0],
    askTimeout,
    demoCrashes: !(values['no-demo-crashes'] ?? false),
  };
}
