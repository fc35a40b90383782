#!/usr/bin/env node
/** `node dist/runtime.js`: flags -> config -> Node -> run until a signal or root failure. */
import { readFileSync } from 'node:fs';
import { parseRuntimeArgs, USAGE, UsageError, type RuntimeConfig } from './config.js';
import { createLogger } from './log.js';
import { attachElderTree } from './machines/elder-tree/bridge.js';
import { elderTreeServices } from './machines/elder-tree/start.js';
import { elderTree, isElderTree } from './machines/elder-tree/tree.js';
import { loadTreeFile, TreeFileError } from './machines/tree-file.js';
import { EldertreeError } from './actors/errors.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { startRuntimeInspector, TokenConfigError, type RuntimeInspector } from './inspector/index.js';
import { roleOf, roleToken } from './security/roles.js';
import { FileSnapshotStore, MemorySnapshotStore } from './cluster/snapshots.js';
import { MemoryTaskLocks } from './cluster/task-locks.js';
import { createAuthorizer } from './security/roles.js';
import { Node, TreeSpecError } from './supervision/node.js';
import type { SupervisorSpec } from './supervision/spec.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<number> {
  let config: RuntimeConfig;
  let tree: SupervisorSpec;
  try {
    config = parseRuntimeArgs(argv);
    if (config.help) return print(USAGE, EXIT_OK);
    if (config.version) return print(version(), EXIT_OK);
    // No tree file: the Elder Tree, placed for a cluster when on NATS.
    tree = config.tree
      ? await loadTreeFile(config.tree)
      : elderTree({
          servants: config.servants,
          cluster: config.nats !== undefined,
          demo: config.demo ? { crashEvery: config.demoCrashes ? 7 : 0 } : false,
        });
  } catch (err) {
    if (err instanceof UsageError || err instanceof TreeFileError) {
      return fail(`${err.message}\nRun 'node dist/runtime.js --help' for usage.`, EXIT_USAGE);
    }
    if (err instanceof TokenConfigError) return fail(err.message, EXIT_USAGE);
    throw err;
  }

  const logger = createLogger({ level: config.logLevel, base: { node: config.node } });
  // Handlers go in before anything starts: a signal during startup must not kill the
  // process with the tree half up, and one right after "running" must be caught.
  let node: Node | undefined;
  let stopNode: (() => Promise<unknown>) | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn(`${signal} again: exiting without waiting for the shutdown to finish`);
      process.exit(EXIT_FAILED);
    }
    logger.info(`${signal}: stopping children in reverse start order`);
    void stopNode?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // The Elder Tree (the default, or a tree file exporting elderTree(...)) also gets its
  // role checks, the 'tree' service (the council's decisions change the servants) and
  // the bridge from the node's events to its sages.
  const elder = isElderTree(tree);
  let clusterNode: ClusterNode | undefined;
  const { services: elderServices, control } = elderTreeServices();
  const authorize = elder ? createAuthorizer() : undefined;
  try {
    if (config.nats) {
      const cluster = await ClusterNode.start({
        tree,
        nodeId: config.node,
        logger,
        askTimeout: config.askTimeout,
        // The page's /metrics serves the latency histograms: timed only when it is served.
        telemetry: { metrics: config.inspect !== undefined },
        ...(elder ? { authorize, services: elderServices } : {}),
        nats: {
          servers: config.nats,
          cluster: config.cluster,
          // Messages go out under their sender's role token, which the broker checks.
          ...(elder ? { roleOf: (path: string) => tokenOf(path) } : {}),
          connectOptions: {
            ...(config.natsUser !== undefined ? { user: config.natsUser, pass: config.natsPass } : {}),
            ...(config.tls ? { tls: config.tls } : {}),
          },
        },
        membership: { intervalMs: config.heartbeatMs, downAfterMs: config.downAfterMs },
        ...(config.kvReplicas !== undefined ? { kvReplicas: config.kvReplicas } : {}),
      });
      node = cluster.node;
      clusterNode = cluster;
      const bridge = elder ? attachElderTree(node, { membership: cluster.membership, control }) : undefined;
      stopNode = () => {
        bridge?.detach();
        return cluster.stop();
      };
    } else {
      node = await Node.start({
        tree,
        nodeId: config.node,
        logger,
        askTimeout: config.askTimeout,
        // The page's /metrics serves the latency histograms: timed only when it is served.
        telemetry: { metrics: config.inspect !== undefined },
        ...(authorize ? { authorize } : {}),
        services: {
          locks: new MemoryTaskLocks(),
          // The Elder Tree's knowledge outlives the process: a file per persistent actor.
          snapshots: elder ? new FileSnapshotStore(config.dataDir) : new MemorySnapshotStore(),
          ...(elder ? elderServices : {}),
        },
      });
      const bridge = elder ? attachElderTree(node, { control }) : undefined;
      stopNode = () => {
        bridge?.detach();
        return node!.stop();
      };
    }
  } catch (err) {
    if (err instanceof TreeSpecError) return fail(err.message, EXIT_USAGE);
    if (config.nats && !(err instanceof EldertreeError)) {
      return fail(`cannot join the cluster at ${config.nats}: ${(err as Error).message}`, EXIT_FAILED);
    }
    logger.fatal({ err }, `the tree could not start: ${(err as Error).message}`);
    return EXIT_FAILED;
  }
  const where = config.nats ? `NATS ${config.nats} (cluster ${config.cluster})` : 'the embedded transport';
  logger.info({ root: node.root.path }, `node ${config.node} running on ${where}`);
  // On NATS the inspector agent always runs (other inspectors read this node through it);
  // the web page only with --inspect.
  let inspector: RuntimeInspector | undefined;
  try {
    inspector = await startRuntimeInspector({
      node,
      cluster: clusterNode,
      port: config.inspect,
      host: config.inspectHost,
      ...(config.inspectTokens ? { tokens: config.inspectTokens } : {}),
      logger,
    });
    if (inspector.url) {
      logger.info({ url: inspector.url }, `inspector on ${inspector.url}`);
      if (!config.inspectTokens) logger.info('inspector debug actions are off: give --inspect-token or --inspect-token-file to enable them');
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'no such local address' : (err as Error).message;
    process.stderr.write(`eldertree: --inspect ${config.inspect}: ${why}\n`);
    await stopNode();
    return EXIT_FAILED;
  }
  if (signals > 0) void stopNode();

  // An idle tree has no timers or sockets; a node still lives until it is told to stop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  const exit = await node.done;
  clearInterval(keepAlive);
  await inspector.close();
  if (exit.status === 'failed') {
    logger.fatal(`node ${config.node} exits: ${exit.reason}`);
    return EXIT_FAILED;
  }
  logger.info(`node ${config.node} stopped`);
  return EXIT_OK;
}

function tokenOf(path: string): string | undefined {
  const role = roleOf(path);
  return role && roleToken(role);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `eldertree ${pkg.version}`;
}

function print(text: string, code: number): number {
  process.stdout.write(text + '\n');
  return code;
}

function fail(message: string, code: number): number {
  process.stderr.write(`eldertree: ${message}\n`);
  return code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`eldertree: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
