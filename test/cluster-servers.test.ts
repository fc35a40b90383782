// Server lists and replicated buckets on a real 3-server NATS cluster (routes on
// loopback): nodes in this process, servers started and stopped by PID.
import { assign, setup } from 'xstate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient, ClusterNode, reply, supervisor, worker } from '../src/index.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsCluster, type NatsCluster } from './nats-server.js';
import { parseServerList } from '../src/cluster/servers.js';
import { parseRuntimeArgs } from '../src/config.js';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/net.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const counter = setup({ types: { context: {} as { n: number } } }).createMachine({
  context: { n: 0 },
  on: {
    hit: { actions: [assign({ n: ({ context }) => context.n + 1 }), reply(({ context }) => ({ n: context.n }))] },
  },
});
const tree = () => supervisor('app', {}, [worker('singleton', counter, { placement: { singleton: true } })]);
const fast = { intervalMs: 100, downAfterMs: 500 };

let nats: NatsCluster;
const started: ClusterNode[] = [];
beforeAll(async () => {
  nats = await startNatsCluster(3);
}, 30_000);
afterAll(async () => {
  for (const n of started) await n.stop().catch(() => undefined);
  await nats?.stop();
});

async function node(nodeId: string, servers: string[], extra: Partial<Parameters<typeof ClusterNode.start>[0]> = {}): Promise<ClusterNode> {
  const n = await ClusterNode.start({
    tree: tree(),
    nodeId,
    // In list order, so "the first listed server" is really tried first.
    nats: { servers, connectOptions: { noRandomize: true } },
    membership: fast,
    ...extra,
  });
  started.push(n);
  return n;
}

describe('server lists', () => {
  it('parses repeated flags and comma lists, in order, without duplicates; refuses what is not a server', () => {
    expect(parseServerList(['nats://a:4222,nats://b:4222', 'c:4223', ' nats://a:4222 '])).toEqual(['nats://a:4222', 'nats://b:4222', 'c:4223']);
    expect(parseServerList('tls://h:1')).toEqual(['tls://h:1']);
    expect(parseServerList(undefined)).toBeUndefined();
    expect(() => parseServerList('nats://a:4222,http://x/y')).toThrow('"http://x/y" is not a NATS server URL');
    expect(() => parseServerList(',')).toThrow('the server list is empty');
  });

  it('the runtime takes --nats repeated and as comma lists, and NATS_URL as a comma list', () => {
    expect(parseRuntimeArgs(['--nats', 'nats://a:1,nats://b:2', '--nats', 'nats://c:3'], {}).nats).toEqual(['nats://a:1', 'nats://b:2', 'nats://c:3']);
    expect(parseRuntimeArgs([], { NATS_URL: 'nats://a:1, nats://b:2' }).nats).toEqual(['nats://a:1', 'nats://b:2']);
    expect(parseRuntimeArgs(['--nats', 'a:1', '--kv-replicas', '3'], {}).kvReplicas).toBe(3);
    expect(() => parseRuntimeArgs(['--nats', 'nats://a:1,http://b'], {})).toThrow('--nats: "http://b" is not a NATS server URL');
    expect(() => parseRuntimeArgs(['--kv-replicas', '3'], {})).toThrow('--kv-replicas needs --nats');
    expect(() => parseRuntimeArgs(['--nats', 'a:1', '--kv-replicas', '7'], {})).toThrow('--kv-replicas must be a whole number from 1 to 5');
  });

  it('the CLI reaches the cluster through any listed server (--nats repeated, the first one down)', { timeout: 30_000 }, async () => {
    const dead = `nats://127.0.0.1:${await freePort()}`;
    // No node yet: "no node answered" is a full answer from a reachable server (exit 1),
    // unlike a connection failure, which names the servers.
    const r = spawnSync(process.execPath, [cli, 'status', '--nats', dead, '--nats', nats.urls.slice(1).join(','), '--timeout', '500'], { encoding: 'utf8' });
    expect([r.status, r.stderr.trim()]).toEqual([1, 'eldertree: no node answered in cluster elders: is any node running?']);
    const none = spawnSync(process.execPath, [cli, 'status', '--nats', `${dead},${dead.replace(/\d+$/, String(await freePort()))}`], { encoding: 'utf8' });
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^eldertree: cannot connect to NATS at .*: no server of 2 answered: .*cannot reach/);
  });
});

describe('a node on a 3-server cluster', () => {
  it('creates its buckets with 3 replicas by default, and a node whose first listed server is down joins through another', { timeout: 90_000 }, async () => {
    const a = await node('a', [nats.urls[0]!], { kvReplicas: undefined });
    const jsm = await jetstreamManager(a.transport.connection);
    for (const purpose of ['leases', 'locks', 'snapshots']) {
      expect((await jsm.streams.info(`KV_elders_elders_${purpose}`)).config.num_replicas).toBe(3);
    }
    expect(a.warnings).toEqual([]);

    // s1 down (SIGKILL): a node listing it first still starts, through s2 or s3.
    await nats.servers[0]!.kill();
    try {
      const b = await node('b', nats.urls);
      expect(b.transport.connection.getServer()).not.toBe(nats.urls[0]!.replace('nats://', ''));
      // a reconnects on its own (it learned the other servers from s1's INFO): both see each other.
      const deadline = Date.now() + 20_000;
      while (!(a.membership.up().includes('b') && b.membership.up().includes('a'))) {
        if (Date.now() > deadline) throw new Error(`a sees ${a.membership.up()}, b sees ${b.membership.up()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const client = await ClusterClient.connect({ servers: [nats.urls[1]!, nats.urls[2]!] });
      try {
        const hit = await client.ask<{ n: number }>('/app/singleton', 'hit', {}, { timeout: 15_000 });
        expect(hit.n).toBeGreaterThanOrEqual(1);
      } finally {
        await client.close();
      }
    } finally {
      await nats.servers[0]!.start();
    }
  });

  it('reports an existing bucket with fewer replicas than asked, in the log and in inspect', { timeout: 60_000 }, async () => {
    const one = await node('r1', nats.urls, { kvReplicas: 1, nats: { servers: nats.urls, cluster: 'thin' } });
    expect(one.warnings).toEqual([]);
    const three = await node('r3', nats.urls, { kvReplicas: 3, nats: { servers: nats.urls, cluster: 'thin' } });
    expect(three.warnings).toHaveLength(3);
    expect(three.warnings[0]).toMatch(/^bucket elders_thin_\w+ has 1 replica, 3 asked: .*nats stream edit KV_elders_thin_\w+ --replicas 3$/);
    expect(three.inspect().warnings).toEqual(three.warnings);
  });
});

describe('eldertree cluster up --servers 3', () => {
  it('starts three routed nats-servers and N nodes (buckets at 3 replicas); Ctrl-C stops them all, exit 0', { timeout: 60_000 }, async () => {
    const tree = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));
    const proc = spawn(process.execPath, [cli, 'cluster', 'up', '--servers', '3', '--nodes', '2', '--tree', tree], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    try {
      const urls = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no cluster line: ${out}`)), 15_000);
        proc.stdout.on('data', () => {
          const m = /cluster up: ((?:nats:\/\/127\.0\.0\.1:\d+,?){3}) with 2 nodes \(3 nats-servers with routes\)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
      });
      const client = await ClusterClient.connect({ servers: urls.split(',') });
      try {
        const deadline = Date.now() + 30_000;
        let nodes: string[] = [];
        while (nodes.length < 2 && Date.now() < deadline) nodes = (await client.inspect(1000)).map((r) => r.node);
        expect(nodes).toEqual(['n1', 'n2']);
        const jsm = await jetstreamManager(client.connection);
        expect((await jsm.streams.info('KV_elders_elders_leases')).config.num_replicas).toBe(3);
      } finally {
        await client.close();
      }
    } finally {
      proc.kill('SIGINT');
    }
    const code = await new Promise<number | null>((r) => (proc.exitCode !== null ? r(proc.exitCode) : proc.once('exit', r)));
    expect(code).toBe(0);
    for (const name of ['nats1', 'nats2', 'nats3']) expect(out).toMatch(new RegExp(`${name}\\s+\\| .*Server Exiting`));
  });
});
