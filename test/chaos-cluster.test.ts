import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster-harness.js';

/**
 * Chaos on a three-server NATS cluster (routes on loopback, KV buckets at 3 replicas):
 * 3 nodes, acked load to a persistent singleton, and a fault every few seconds:
 * SIGKILL a nats-server (the leader of a KV stream when there is one, else any) and
 * start it again 2.5 s later, or SIGKILL a node and start it again. Held: nothing
 * acked lost or processed twice, never two owners, every node up at the end, and the
 * longest gap in answers: <= 10 s across a fault that cost a stream its leader,
 * <= 2 s across any other. CHAOS_SECONDS sets how long faults go on (default 14 in
 * `npm test`; `npm run chaos` runs 120).
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 14);
const NODES = ['n1', 'n2', 'n3'];
const STREAMS = ['leases', 'locks', 'snapshots'].map((p) => `KV_elders_elders_${p}`);
const fixture = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

type Hit = { node: string; n: number; at: number };
interface Fault {
  what: string;
  /** Streams whose leader was on the server lost: an election had to follow. */
  led: string[];
  from: number;
  goalMs: number;
}

async function leaders(jsm: JetStreamManager): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const s of STREAMS) {
    const info = await jsm.streams.info(s).catch(() => undefined);
    if (info?.cluster?.leader) out.set(s, info.cluster.leader);
  }
  return out;
}

/** The longest silence between answers after a fault: from its start until the next fault. */
function longestGap(answers: number[], from: number, until: number): number {
  let gap = 0;
  let prev = from;
  for (const t of answers) {
    if (t < from) continue;
    if (t > until) break;
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return gap;
}

it(`chaos on 3 nats-servers for ${SECONDS} s: acked messages exactly once, never two owners, answers back within the goals`, { timeout: (SECONDS + 150) * 1000 }, async () => {
  const cluster: Cluster = await startCluster(fixture, NODES, [], true, { servers: 3 });
  try {
    await cluster.ready(NODES, 30_000);
    const { client } = cluster;
    const jsm = await jetstreamManager(client.connection);
    for (const s of STREAMS) expect((await jsm.streams.info(s)).config.num_replicas).toBe(3);
    const undelivered: string[] = [];
    client.system.subscribe((e) => e.type === 'dead_letter' && e.reason === 'undelivered' && undelivered.push(e.detail));

    let sent = 0;
    let running = true;
    const answers: number[] = [];
    const owners: { node: string; at: number }[] = [];
    const load = (async () => {
      while (running) {
        client.tell('/app/singleton', 'inc', {}, { requiresAck: true });
        sent++;
        await sleep(5);
      }
    })();
    // Asks in flight at once, one every 20 ms: an answer's arrival time is when the
    // singleton served again, not when a timed-out ask gave up.
    const asks = (async () => {
      while (running) {
        void client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 1000 }).then(
          (h) => {
            answers.push(performance.now());
            owners.push({ node: h.node, at: h.at });
          },
          () => undefined,
        );
        await sleep(20);
      }
    })();

    const faults: Fault[] = [];
    const end = performance.now() + SECONDS * 1000;
    let k = 0;
    let serverFaults = 0;
    while (performance.now() < end) {
      await sleep(500);
      const from = performance.now();
      if (k++ % 2 === 0) {
        // A nats-server: the leader of a KV stream when one is up, else any.
        const led = await leaders(jsm);
        const names = cluster.servers.map((_, i) => `s${i + 1}`);
        const leading = names.filter((n) => [...led.values()].includes(n));
        // Mostly a leader; every third server fault one that leads no KV stream, if there is one.
        const idle = names.filter((n) => !leading.includes(n));
        const pool = serverFaults++ % 3 === 1 && idle.length > 0 ? idle : leading.length > 0 ? leading : names;
        const victim = pool[rand(pool.length)]!;
        const streams = [...led].filter(([, l]) => l === victim).map(([s]) => s);
        const server = cluster.servers[Number(victim.slice(1)) - 1]!;
        await server.kill();
        faults.push({ what: `SIGKILL nats ${victim}${streams.length ? ` (leader of ${streams.map((s) => s.split('_').at(-1)).join(', ')})` : ''}`, led: streams, from, goalMs: streams.length ? 10_000 : 2000 });
        await sleep(2500);
        await server.start();
      } else {
        const victim = NODES[rand(NODES.length)]!;
        cluster.kill(victim, 'SIGKILL');
        faults.push({ what: `SIGKILL node ${victim}`, led: [], from, goalMs: 2000 });
        await sleep(800);
        cluster.start(victim);
      }
      // Next fault once the singleton answers again and the lost server has rejoined.
      const deadline = performance.now() + 20_000;
      while ((answers.at(-1) ?? 0) < performance.now() - 200 && performance.now() < deadline) await sleep(100);
      await sleep(1500);
    }
    running = false;
    await Promise.all([load, asks]);

    let n = -1;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      n = (await client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 1000 }).catch(() => ({ n: -1 }))).n;
      if (n >= sent) break;
      await sleep(250);
    }
    await sleep(1000);
    const final = await client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 5000 });
    await cluster.ready(NODES, 30_000);

    const sorted = [...owners].sort((a, b) => a.at - b.at);
    const tenures: { node: string; from: number; to: number }[] = [];
    for (const h of sorted) {
      const last = tenures.at(-1);
      if (last?.node === h.node) last.to = h.at;
      else tenures.push({ node: h.node, from: h.at, to: h.at });
    }
    // Two owners at once would answer alternately: ownership back and forth within 500 ms.
    const flips = tenures.filter((t, i) => i > 0 && i < tenures.length - 1 && tenures[i - 1]!.node === tenures[i + 1]!.node && tenures[i + 1]!.from - tenures[i - 1]!.to < 500);
    answers.sort((a, b) => a - b);
    const t0 = faults[0]?.from ?? 0;
    const gaps = faults.map((f, i) => ({ ...f, gap: longestGap(answers, f.from, faults[i + 1]?.from ?? f.from + 20_000) }));
    const longest = Math.max(...gaps.map((g) => g.gap));
    console.log(
      `chaos (3 nats-servers): ${faults.length} faults; acked sent ${sent}, processed ${final.n}, duplicates ${Math.max(0, final.n - sent)}, ` +
        `lost ${Math.max(0, sent - final.n)}; ${answers.length} asks answered; owners ${tenures.map((t) => t.node).join('>')}; ` +
        `longest gap ${longest.toFixed(0)} ms\n` +
        gaps.map((g) => `  +${((g.from - t0) / 1000).toFixed(1)} s ${g.what}: longest gap ${g.gap.toFixed(0)} ms (goal <= ${g.goalMs})`).join('\n'),
    );
    if (final.n !== sent || gaps.some((g) => g.gap > g.goalMs)) {
      // The nodes' own story (dead letters of asks that timed out say nothing new).
      for (const node of cluster.nodes.values()) {
        const lines = node.output.join('').split('\n').filter((l) => l && !l.includes('"deadLetter"'));
        console.log(`--- ${node.name}\n${lines.slice(-40).map((l) => l.slice(0, 300)).join('\n')}`);
      }
    }
    expect(faults.length).toBeGreaterThanOrEqual(Math.max(2, Math.floor(SECONDS / 7)));
    expect(final.n).toBe(sent);
    expect(undelivered).toEqual([]);
    expect(flips).toEqual([]);
    for (const g of gaps) expect(g.gap, g.what).toBeLessThanOrEqual(g.goalMs);
  } finally {
    await cluster.stop();
  }
});
