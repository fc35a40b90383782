#!/usr/bin/env node
/**
 * `eldertree` command: talk to a running cluster over NATS.
 *   send | ask | status | events | inspect | cluster up
 */
import { parseEntityTarget } from './actors/entity-address.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ClusterClient } from './cluster/client.js';
import type { WireEvent } from './cluster/events-wire.js';
import { ClusterSource } from './inspector/cluster-source.js';
import { isLoopback } from './inspector/http-util.js';
import { startInspector } from './inspector/server.js';
import { InspectorTokens } from './inspector/tokens.js';
import { findEntity, renderStatus, statusReport } from './cli-status.js';
import { createLogger } from './log.js';
import { freePort, listening } from './net.js';
import { makeDevCerts } from './security/certs.js';
import { generateNatsConf } from './security/nats-conf.js';
import { generateClusterNatsConf } from './security/nats-cluster-conf.js';
import { parseServerList, ServerListError } from './cluster/servers.js';

class UsageError extends Error {}

const USAGE = `Usage: eldertree <command> [options]

Commands:
  send PATH TYPE [JSON]     tell an actor; with --ack wait for its acknowledgement (up to
                            --timeout) and exit 1 when it was not delivered. JSON "-": stdin
  ask PATH TYPE [JSON]      ask an actor and print its reply as JSON (JSON "-": stdin)
  status                    nodes (up/down, heartbeat age) and the supervision tree across
                            nodes: path, node, status, state, incarnation, restarts,
                            mailbox (--json for JSON)
  events                    lifecycle events, dead letters, node up/down as JSON lines
                            (--follow to stream until Ctrl-C, else --for MS, default 1000)
  inspect                   serve the live inspector page for every node of the cluster on
                            http://127.0.0.1:7070 (--port, --host) without hosting actors
  cluster up                a local dev cluster: nats-server on a free loopback port plus
                            --nodes N runtime nodes (default 3); --servers 3: three
                            nats-servers with routes, KV at 3 replicas; Ctrl-C stops all
  nats-conf                 print nats.conf generated from the role table (--no-tls: without
                            the mTLS block); the repository's nats.conf is this output;
                            --cluster: for three servers with routes (--hosts a,b,c; the
                            name with --cluster NAME; each server sets ELDERTREE_NATS_NAME)
  certs --out DIR           a dev CA, a nats-server certificate and a client certificate per
                            role (--roles a,b; default the Elder Tree roles) with openssl

Connection (send, ask, status, events, inspect):
  --nats URL[,URL..]  servers of the cluster, any one that answers will do; repeatable
                      (default $NATS_URL, a comma list, or nats://127.0.0.1:4222)
  --cluster NAME      default $ELDERTREE_CLUSTER or elders
  --nats-user USER    --nats-pass PASS   (env NATS_USER, NATS_PASS)
  --tls-cert FILE     --tls-key FILE     --tls-ca FILE

Other options:
  --timeout MS        ask, send --ack: how long to wait; status: how long to wait for every node up (default 5000)
  --priority N        0..9 (default 5)
  --json              status as JSON
  --find KIND/KEY     status: the shard of an entity's key and the node that owns it
  --nodes N           cluster up: how many nodes (default 3)
  --tree FILE         cluster up: the tree each node runs (default the Elder Tree)
  --port N            inspect: HTTP port (default 7070; 0 picks a free one)
  --host ADDR         inspect: address to bind (default 127.0.0.1; anything else exposes
                      the inspector to that network: needs a token)
  --inspect-token T   inspect: the bearer token (16+ characters) that may act, as operator
                      (env ELDERTREE_INSPECT_TOKEN); without one debug actions are off
  --inspect-token-file FILE  inspect: tokens and roles, a line each: TOKEN ROLE [NAME]
  -h, --help          this text
  -v, --version       the version

Exit codes: 0 ok, 1 the request failed (timeout, refused, unreachable), 2 bad usage.`;

const options = {
  nats: { type: 'string', multiple: true },
  cluster: { type: 'string' },
  'nats-user': { type: 'string' },
  'nats-pass': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-ca': { type: 'string' },
  timeout: { type: 'string' },
  priority: { type: 'string' },
  ack: { type: 'boolean' },
  json: { type: 'boolean' },
  find: { type: 'string' },
  follow: { type: 'boolean' },
  for: { type: 'string' },
  nodes: { type: 'string' },
  tree: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'inspect-token': { type: 'string' },
  'inspect-token-file': { type: 'string' },
  out: { type: 'string' },
  'no-tls': { type: 'boolean' },
  servers: { type: 'string' },
  'nats-cluster': { type: 'boolean' },
  roles: { type: 'string' },
  hosts: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** `nats-conf --cluster` takes no value (elsewhere --cluster NAME does): say so to parseArgs. */
function natsConfCluster(argv: string[]): string[] {
  if (argv[0] !== 'nats-conf') return argv;
  return argv.flatMap((a, i) => (a === '--cluster' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('-')) ? ['--nats-cluster'] : [a]));
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parse(natsConfCluster(argv));
  const [command, ...args] = positionals;
  if (values.version) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`eldertree ${pkg.version}\n`);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'send':
      return send(values, args);
    case 'ask':
      return ask(values, args);
    case 'status':
      return status(values);
    case 'events':
      return events(values);
    case 'inspect':
      return inspect(values);
    case 'certs':
      return certs(values);
    case 'nats-conf': {
      const conf = values['no-tls'] ? { tls: false as const } : {};
      const hosts = values.hosts?.split(',').map((h) => h.trim()).filter(Boolean);
      const cluster = values['nats-cluster'] || values.cluster !== undefined;
      const name = values.cluster !== undefined ? { name: values.cluster } : {};
      process.stdout.write(cluster ? generateClusterNatsConf({ ...conf, ...name, ...(hosts ? { hosts } : {}) }) : generateNatsConf(conf));
      return 0;
    }
    case 'cluster':
      if (args[0] !== 'up') throw new UsageError(`unknown cluster command "${args[0] ?? ''}"; did you mean "cluster up"?`);
      return clusterUp(values);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** The servers of --nats (repeatable, comma lists), else $NATS_URL, else the local default. */
function serverList(values: Values): string[] {
  try {
    return parseServerList(values.nats ?? process.env.NATS_URL) ?? ['nats://127.0.0.1:4222'];
  } catch (err) {
    if (err instanceof ServerListError) throw new UsageError(`--nats: ${err.message}`);
    throw err;
  }
}

function connect(values: Values): Promise<ClusterClient> {
  const servers = serverList(values);
  const user = values['nats-user'] ?? process.env.NATS_USER;
  const tls = {
    ...(values['tls-cert'] ? { certFile: values['tls-cert'] } : {}),
    ...(values['tls-key'] ? { keyFile: values['tls-key'] } : {}),
    ...(values['tls-ca'] ? { caFile: values['tls-ca'] } : {}),
  };
  return ClusterClient.connect({
    servers,
    cluster: values.cluster ?? process.env.ELDERTREE_CLUSTER ?? 'elders',
    connectOptions: {
      ...(user ? { user, pass: values['nats-pass'] ?? process.env.NATS_PASS } : {}),
      ...(Object.keys(tls).length ? { tls } : {}),
    },
  }).catch((err: Error) => {
    throw new Failure(`cannot connect to NATS at ${servers}: ${err.message}`);
  });
}

class Failure extends Error {}

async function message(args: string[], verb: string): Promise<{ path: string; type: string; payload: Record<string, unknown> }> {
  const [path, type, arg] = args;
  if (!path || !type) throw new UsageError(`${verb} needs PATH and TYPE, e.g. ${verb} /grand-elder/claude-elder task.status '{"id":"t1"}'`);
  // An actor path, or an entity address kind/key (the entity is activated by this message).
  if (!/^(\/[A-Za-z0-9_-]+)+$/.test(path) && typeof parseEntityTarget(path) === 'string') {
    throw new UsageError(`PATH must be an actor path like /a/b-c/d or an entity address like cart/user-42; got "${path}"`);
  }
  if (args.length > 3) throw new UsageError(`${verb} takes PATH TYPE [JSON]; got ${args.length} arguments (quote the JSON)`);
  const json = arg === '-' ? await readStdin() : arg;
  let payload: unknown = {};
  if (json !== undefined) {
    try {
      payload = JSON.parse(json);
    } catch (err) {
      throw new UsageError(`payload${arg === '-' ? ' on stdin' : ''} is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new UsageError('payload must be a JSON object, e.g. \'{"title":"x"}\'');
  }
  return { path, type, payload: payload as Record<string, unknown> };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function intFlag(name: string, value: string | undefined, fallback: number, min: number, max = Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min}${max < Infinity ? ` to ${max}` : ''}; got "${value}"`);
  return n;
}

async function send(values: Values, args: string[]): Promise<number> {
  const { path, type, payload } = await message(args, 'send');
  const priority = intFlag('priority', values.priority, 5, 0, 9);
  const timeout = intFlag('timeout', values.timeout, 5000, 1);
  const client = await connect(values);
  try {
    if (values.ack) {
      // Acknowledged: wait for the receiver's ack (the transport resends meanwhile).
      const id = await client.tellAcked(path, type, payload, { priority, timeoutMs: timeout }).catch(async (err: Error) => {
        throw new Failure(`not delivered: ${err.message}${await whyUndelivered(client, path)}`);
      });
      process.stdout.write(JSON.stringify({ message_id: id, acknowledged: true }) + '\n');
      return 0;
    }
    let refused: string | undefined;
    client.system.subscribe((e) => {
      if (e.type === 'dead_letter') refused = `${e.reason}: ${e.detail}`;
    });
    const id = client.tell(path, type, payload, { priority });
    await client.flush();
    await new Promise((r) => setTimeout(r, 50)); // a no-responders status comes back within a round trip
    if (refused) throw new Failure(`not delivered: ${refused}`);
    process.stdout.write(JSON.stringify({ message_id: id }) + '\n');
    return 0;
  } finally {
    await client.close();
  }
}

/** Why an acked message found nobody: no node at all, or none hosting the path. */
async function whyUndelivered(client: ClusterClient, path: string): Promise<string> {
  const replies = await client.inspect().catch(() => []);
  if (replies.length === 0) return ' (no eldertree node answered in this cluster)';
  if (!replies.some((r) => r.actors.some((a) => a.path === path))) return ` (no node hosts ${path})`;
  return '';
}

async function ask(values: Values, args: string[]): Promise<number> {
  const { path, type, payload } = await message(args, 'ask');
  const timeout = intFlag('timeout', values.timeout, 5000, 1);
  const priority = intFlag('priority', values.priority, 5, 0, 9);
  const client = await connect(values);
  try {
    const answer = await client.ask(path, type, payload, { timeout, priority }).catch((err: Error) => {
      throw new Failure(err.message);
    });
    process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
    return 0;
  } finally {
    await client.close();
  }
}

async function status(values: Values): Promise<number> {
  const timeout = intFlag('timeout', values.timeout, 5000, 1);
  const client = await connect(values);
  try {
    // Until every node known up has answered in full (chunked past ~10k actors), or the timeout.
    const { replies, missing } = await client.inspectAll(timeout);
    if (replies.length === 0 && !values.json) {
      throw new Failure(`no node answered in cluster ${values.cluster ?? process.env.ELDERTREE_CLUSTER ?? 'elders'}: is any node running?`);
    }
    const report = { ...statusReport(replies), ...(missing.length > 0 ? { missing } : {}) };
    if (values.find !== undefined) {
      // One entity, without listing a million: its shard, and the node that owns it.
      const found = findEntity(report, values.find);
      if (typeof found === 'string') throw new Failure(found);
      process.stdout.write(values.json ? JSON.stringify(found) + '\n' : `${found.entity}: shard ${found.shard} of ${found.shards} in ${found.region}, owned by ${found.node}\n`);
      return 0;
    }
    process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : renderStatus(report));
    if (missing.length > 0) {
      process.stderr.write(`eldertree: incomplete: no full answer within ${timeout} ms from ${missing.join(', ')} (up as far as their peers know)\n`);
      return 1;
    }
    return replies.length > 0 ? 0 : 1;
  } finally {
    await client.close();
  }
}

async function events(values: Values): Promise<number> {
  const forMs = intFlag('for', values.for, 1000, 1);
  const client = await connect(values);
  const sub = client.events((e: WireEvent) => process.stdout.write(JSON.stringify(e) + '\n'));
  await new Promise<void>((resolve) => {
    if (values.follow) {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    } else setTimeout(resolve, forMs);
  });
  sub.unsubscribe();
  await client.close();
  return 0;
}

async function certs(values: Values): Promise<number> {
  if (!values.out) throw new UsageError('certs needs --out DIR');
  const list = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter(Boolean);
  const made = await makeDevCerts({ dir: values.out, roles: list(values.roles), hosts: list(values.hosts) }).catch((err: Error) => {
    throw new Failure(err.message);
  });
  process.stdout.write(JSON.stringify(made, null, 2) + '\n');
  return 0;
}

function inspectTokens(token: string | undefined, file: string | undefined): InspectorTokens | undefined {
  try {
    if (token !== undefined && file !== undefined) throw new Error('give --inspect-token or --inspect-token-file, not both');
    if (file !== undefined) return InspectorTokens.fromFile(file);
    return token === undefined ? undefined : InspectorTokens.single(token);
  } catch (err) {
    throw new Failure(`inspect: ${(err as Error).message}`);
  }
}

async function inspect(values: Values): Promise<number> {
  const port = intFlag('port', values.port, 7070, 0, 65535);
  const host = values.host ?? '127.0.0.1';
  const cluster = values.cluster ?? process.env.ELDERTREE_CLUSTER ?? 'elders';
  const tokens = inspectTokens(values['inspect-token'] ?? process.env.ELDERTREE_INSPECT_TOKEN, values['inspect-token-file']);
  if (!isLoopback(host) && !tokens) {
    throw new Failure(`--host ${host}: refusing to serve the inspector off loopback without --inspect-token or --inspect-token-file`);
  }
  const client = await connect(values);
  const logger = createLogger({ level: 'info', base: { inspector: true } });
  const inspector = await startInspector({
    source: ClusterSource.fromClient(client, cluster),
    port,
    host,
    logger,
    pushMs: 1000,
    ...(tokens ? { tokens } : {}),
  }).catch(
    async (err: Error) => {
      await client.close();
      throw new Failure(`cannot serve the inspector on ${host}:${port}: ${err.message}`);
    },
  );
  process.stdout.write(`inspector for cluster ${cluster} on ${inspector.url} (Ctrl-C stops it)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await inspector.close();
  return 0;
}

async function clusterUp(values: Values): Promise<number> {
  const n = intFlag('nodes', values.nodes, 3, 1, 32);
  const servers = intFlag('servers', values.servers, 1, 1, 5);
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < servers; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const stores = clientPorts.map(() => mkdtempSync(join(tmpdir(), 'eldertree-cluster-')));
  const urls = clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  const children: ChildProcess[] = [];
  const prefix = (name: string, proc: ChildProcess) => {
    for (const stream of [proc.stdout, proc.stderr]) {
      let rest = '';
      stream?.on('data', (d: Buffer) => {
        const lines = (rest + d.toString()).split('\n');
        rest = lines.pop()!;
        for (const line of lines) process.stdout.write(`${name.padEnd(6)}| ${line}\n`);
      });
    }
  };
  // With several servers: routes between all of them on loopback, one JetStream cluster.
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  let spawnError: Error | undefined;
  const brokers = clientPorts.map((port, i) => {
    const clustered = servers > 1 ? ['-n', `s${i + 1}`, '--cluster_name', 'eldertree-dev', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes] : [];
    const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', stores[i]!, ...clustered], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` }, // Debian puts it in /usr/sbin
    });
    nats.on('error', (err) => (spawnError = err));
    prefix(servers > 1 ? `nats${i + 1}` : 'nats', nats);
    children.push(nats);
    return nats;
  });
  const cleanUp = () => {
    for (const b of brokers) if (b.exitCode === null) b.kill('SIGTERM');
    for (const store of stores) rmSync(store, { recursive: true, force: true });
  };
  // Nodes start once every broker listens (not after a fixed pause: the machine may be busy).
  const deadline = Date.now() + 15_000;
  for (const port of clientPorts) {
    while (!(await listening(port))) {
      if (spawnError) {
        cleanUp();
        throw new Failure(`cannot start nats-server (${spawnError.message}): install it with \`sudo apt-get install nats-server\``);
      }
      if (brokers.some((b) => b.exitCode !== null) || Date.now() > deadline) {
        cleanUp();
        throw new Failure(`nats-server did not start listening on 127.0.0.1:${port}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const runtime = fileURLToPath(new URL('./runtime.js', import.meta.url));
  for (let i = 1; i <= n; i++) {
    const name = `n${i}`;
    // Node k lists the servers from server k on: the nodes spread over the servers.
    const list = [...urls.slice((i - 1) % servers), ...urls.slice(0, (i - 1) % servers)].join(',');
    const args = [runtime, '--nats', list, '--node', name, ...(values.tree ? [values.tree] : [])];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    prefix(name, proc);
    children.push(proc);
  }
  const layout = servers > 1 ? ` (${servers} nats-servers with routes)` : '';
  process.stdout.write(`cluster up: ${urls.join(',')} with ${n} nodes${layout}; node dist/cli.js status --nats ${urls.join(',')}; Ctrl-C stops all\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Nodes first (each stops its tree in reverse order), then the brokers.
  const exited = (p: ChildProcess) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)));
  const nodes = children.slice(servers);
  for (const p of nodes) p.kill('SIGTERM');
  await Promise.all(nodes.map(exited));
  for (const b of brokers) b.kill('SIGTERM');
  await Promise.all(brokers.map(exited));
  for (const store of stores) rmSync(store, { recursive: true, force: true });
  return 0;
}


main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`eldertree: ${err.message}\nRun 'eldertree --help' for usage.\n`);
      process.exitCode = 2;
    } else if (err instanceof Failure) {
      process.stderr.write(`eldertree: ${err.message}\n`);
      process.exitCode = 1;
    } else {
      // One line, as for every other failure; the stack only when asked for.
      const e = err as Error;
      process.stderr.write(`eldertree: ${e?.message ?? String(err)}\n`);
      if (process.env.ELDERTREE_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
      process.exitCode = 1;
    }
  },
);
