import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parseServerList, ServerListError } from './cluster/servers.js';
import { isLoopback } from './inspector/http-util.js';
import { InspectorTokens, TokenConfigError } from './inspector/tokens.js';
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
  /** Tree file; undefined runs the Elder Tree. */
  tree: string | undefined;
  askTimeout: number;
  /** The Elder Tree's demo load (tasks and scaling proposals); --no-demo turns it off. */
  demo: boolean;
  /** The demo load's injected servant crashes. */
  demoCrashes: boolean;
  /** Servants per node the Elder Tree starts with. */
  servants: number;
  /** Where the Elder Tree's persistent sages keep their snapshots on the embedded transport. */
  dataDir: string;
  /** Port of the inspector's web page and API; undefined: no inspector. */
  inspect: number | undefined;
  inspectHost: string | undefined;
  /** Bearer tokens for the inspector's debug actions (--inspect-token, --inspect-token-file). */
  inspectTokens: InspectorTokens | undefined;
  /** NATS servers (any one that answers will do); undefined runs on the embedded in-process transport. */
  nats: string[] | undefined;
  /** Replicas of the KV buckets this node creates; undefined: 3 on a cluster of 3+ servers, else 1. */
  kvReplicas: number | undefined;
  cluster: string;
  heartbeatMs: number;
  downAfterMs: number;
  natsUser: string | undefined;
  natsPass: string | undefined;
  tls: { certFile?: string; keyFile?: string; caFile?: string } | undefined;
}

export const USAGE = `Usage: node dist/runtime.js [TREE_FILE] [options]

Starts one eldertree node on the embedded in-process transport (or on NATS with
--nats) and runs a supervision tree: TREE_FILE (.js/.mjs exporting a supervisor
spec, or .json naming built-in machines), or without one the Elder Tree, with its
demo load and role checks on every message. SIGINT/SIGTERM stop it cleanly
(children in reverse start order, exit 0).

Options:
  --tree FILE          same as TREE_FILE
  --node NAME          node name (env ELDERTREE_NODE; default HOST-PID)
  --log-level LEVEL    ${LOG_LEVELS.join(' | ')} (env ELDERTREE_LOG_LEVEL; default info)
  --ask-timeout MS     default timeout of ask, in ms (default 5000)

Elder Tree (when no tree file is given):
  --no-demo            run without the demo load (tasks, injected crashes, proposals)
  --no-demo-crashes    the demo load submits tasks but injects no servant crashes
  --servants N         servants per node at start, 1..64 (default 4)
  --inspect PORT       serve the live inspector on http://127.0.0.1:PORT (npm start: 7070)
  --inspect-host ADDR  bind the inspector to ADDR instead of 127.0.0.1 (needs a token)
  --inspect-token T    the token (16+ characters) that may take debug actions, as operator
                       (env ELDERTREE_INSPECT_TOKEN); without a token actions are off
  --inspect-token-file FILE  tokens and their roles, a line each: TOKEN ROLE [NAME]
  --data-dir DIR       snapshots of the persistent sages on the embedded transport
                       (env ELDERTREE_DATA_DIR; default .eldertree-data); on NATS they
                       go to KV

Cluster (NATS):
  --nats URL[,URL...]  join a cluster over NATS (env NATS_URL, a comma list), e.g.
                       nats://a:4222,nats://b:4222; repeatable; any listed server that
                       answers will do
  --kv-replicas N      replicas of the KV buckets (leases, locks, snapshots) when this
                       node creates them, 1..5 (default 3 on a cluster of 3+ servers, else 1)
  --cluster NAME       subject namespace elders.NAME.* (env ELDERTREE_CLUSTER; default elders)
  --heartbeat-ms MS    membership heartbeat interval (default 150)
  --down-after-ms MS   silence before a node is declared down (default 750)
  --nats-user USER     NATS user (env NATS_USER); --nats-pass PASS (env NATS_PASS)
  --tls-cert FILE      client certificate for mTLS (env ELDERTREE_TLS_CERT)
  --tls-key FILE       its private key (env ELDERTREE_TLS_KEY)
  --tls-ca FILE        CA that signed the server's certificate (env ELDERTREE_TLS_CA)
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
        'no-demo': { type: 'boolean' },
        'no-demo-crashes': { type: 'boolean' },
        servants: { type: 'string' },
        'data-dir': { type: 'string' },
        inspect: { type: 'string' },
        'inspect-host': { type: 'string' },
        'inspect-token': { type: 'string' },
        'inspect-token-file': { type: 'string' },
        nats: { type: 'string', multiple: true },
        'kv-replicas': { type: 'string' },
        cluster: { type: 'string' },
        'heartbeat-ms': { type: 'string' },
        'down-after-ms': { type: 'string' },
        'nats-user': { type: 'string' },
        'nats-pass': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-ca': { type: 'string' },
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
  const node = values.node ?? env.ELDERTREE_NODE ?? `${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}-${process.pid}`;
  if (!/^[A-Za-z0-9_-]+$/.test(node)) {
    throw new UsageError(`--node must be letters, digits, _ and - (it becomes a NATS subject token); got "${node}"`);
  }
  const askTimeout = positiveMs('--ask-timeout', values['ask-timeout'], 5000);
  const servants = values.servants === undefined ? 4 : Number(values.servants);
  if (!Number.isInteger(servants) || servants < 1 || servants > 64) {
    throw new UsageError(`--servants must be a whole number from 1 to 64; got "${values.servants}"`);
  }
  const dataDir = values['data-dir'] ?? env.ELDERTREE_DATA_DIR ?? '.eldertree-data';
  if (dataDir.trim() === '') throw new UsageError('--data-dir must not be empty');
  const heartbeatMs = positiveMs('--heartbeat-ms', values['heartbeat-ms'], 150);
  const downAfterMs = positiveMs('--down-after-ms', values['down-after-ms'], 750);
  if (downAfterMs < 2 * heartbeatMs) {
    throw new UsageError(`--down-after-ms (${downAfterMs}) must be at least twice --heartbeat-ms (${heartbeatMs})`);
  }
  let nats: string[] | undefined;
  try {
    nats = parseServerList(values.nats ?? env.NATS_URL);
  } catch (err) {
    if (!(err instanceof ServerListError)) throw err;
    throw new UsageError(`--nats: ${err.message}`);
  }
  let kvReplicas: number | undefined;
  if (values['kv-replicas'] !== undefined) {
    kvReplicas = Number(values['kv-replicas']);
    if (!Number.isInteger(kvReplicas) || kvReplicas < 1 || kvReplicas > 5) {
      throw new UsageError(`--kv-replicas must be a whole number from 1 to 5; got "${values['kv-replicas']}"`);
    }
    if (nats === undefined) throw new UsageError('--kv-replicas needs --nats');
  }
  const cluster = values.cluster ?? env.ELDERTREE_CLUSTER ?? 'elders';
  if (!/^[A-Za-z0-9_-]+$/.test(cluster)) throw new UsageError(`--cluster must be letters, digits, _ and -; got "${cluster}"`);
  const tlsFiles = {
    certFile: values['tls-cert'] ?? env.ELDERTREE_TLS_CERT,
    keyFile: values['tls-key'] ?? env.ELDERTREE_TLS_KEY,
    caFile: values['tls-ca'] ?? env.ELDERTREE_TLS_CA,
  };
  for (const [flag, file] of [['--tls-cert', tlsFiles.certFile], ['--tls-key', tlsFiles.keyFile], ['--tls-ca', tlsFiles.caFile]] as const) {
    if (file !== undefined && !existsSync(file)) throw new UsageError(`${flag}: no such file "${file}"`);
  }
  if ((tlsFiles.certFile === undefined) !== (tlsFiles.keyFile === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const anyTls = Object.values(tlsFiles).some((f) => f !== undefined);
  if (anyTls && nats === undefined) throw new UsageError('--tls-* flags need --nats');
  const inspectTokens = tokensOf(values['inspect-token'] ?? env.ELDERTREE_INSPECT_TOKEN, values['inspect-token-file']);
  const inspectHost = values['inspect-host'];
  if (values.inspect !== undefined && inspectHost !== undefined && !isLoopback(inspectHost) && !inspectTokens) {
    throw new TokenConfigError(`--inspect-host ${inspectHost}: refusing to serve the inspector off loopback without --inspect-token or --inspect-token-file`);
  }
  return {
    help: values.help ?? false,
    version: values.version ?? false,
    node,
    logLevel,
    tree: values.tree ?? positionals[0],
    askTimeout,
    demo: !(values['no-demo'] ?? false),
    demoCrashes: !(values['no-demo-crashes'] ?? false),
    servants,
    dataDir,
    inspect: port('--inspect', values.inspect),
    inspectHost,
    inspectTokens,
    nats,
    kvReplicas,
    cluster,
    heartbeatMs,
    downAfterMs,
    natsUser: values['nats-user'] ?? env.NATS_USER,
    natsPass: values['nats-pass'] ?? env.NATS_PASS,
    tls: anyTls ? Object.fromEntries(Object.entries(tlsFiles).filter(([, f]) => f !== undefined)) : undefined,
  };
}

/** Token errors are TokenConfigError: the runtime prints them as one line. */
function tokensOf(token: string | undefined, file: string | undefined): InspectorTokens | undefined {
  if (token !== undefined && file !== undefined) throw new TokenConfigError('give --inspect-token or --inspect-token-file, not both');
  if (file !== undefined) return InspectorTokens.fromFile(file);
  if (token !== undefined) {
    try {
      return InspectorTokens.single(token);
    } catch (err) {
      throw new TokenConfigError(`--inspect-token: ${(err as Error).message}`);
    }
  }
  return undefined;
}

function port(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} must be a port number 0..65535; got "${value}"`);
  return n;
}

function positiveMs(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a whole number of ms > 0; got "${value}"`);
  return n;
}
