import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { startCluster } from './cluster-harness.js';

/**
 * Chaos: 3 nodes and a nats-server under a steady stream of acked messages and asks,
 * with a fault every few seconds (SIGKILL a node and start it again, SIGSTOP a node
 * past its lease then SIGCONT, restart the nats-server). `npm run chaos` runs it long;
 * `npm test` runs it for CHAOS_SECONDS (default 20).
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 20);
const tree = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));
const NODES = ['n1', 'n2', 'n3'];

type Hit = { node: string; n: number; at: number };

it(`chaos for ${SECONDS} s: acked messages exactly once, never two owners, tree restored`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const cluster = await startCluster(tree, NODES);
  const faults: string[] = [];
  try {
    await cluster.ready(NODES);
    const { client } = cluster;
    const undelivered: string[] = [];
    client.system.subscribe((e) => e.type === 'dead_letter' && e.reason === 'undelivered' && undelivered.push(e.detail));

    let sent = 0;
    const hits: Hit[] = [];
    let running = true;
    const acked = (async () => {
      while (running) {
        client.tell('/app/singleton', 'inc', {}, { requiresAck: true });
        sent++;
        await new Promise((r) => setTimeout(r, 4));
      }
    })();
    const asks = (async () => {
      while (running) {
        await client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 1500 }).then((h) => void hits.push(h), () => undefined);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();

    const rand = (n: number) => Math.floor(Math.random() * n);
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end - 4000) {
      await new Promise((r) => setTimeout(r, 2000 + rand(2000)));
      const victim = NODES[rand(NODES.length)]!;
      const only = process.env.CHAOS_FAULTS; // e.g. 'nats' to replay one kind of fault
      const kind = only === 'nats' ? 2 : only === 'kill' ? 0 : only === 'stop' ? 1 : rand(3);
      if (kind === 0) {
        faults.push(`SIGKILL ${victim}`);
        cluster.kill(victim, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 800));
        cluster.start(victim);
      } else if (kind === 1) {
        faults.push(`SIGSTOP ${victim} 2.5 s`);
        cluster.kill(victim, 'SIGSTOP');
        await new Promise((r) => setTimeout(r, 2500)); // past the 1 s lease
        cluster.kill(victim, 'SIGCONT');
      } else {
        faults.push('restart nats-server');
        await cluster.server.restart();
      }
    }
    running = false;
    await Promise.all([acked, asks]);

    // Everything acked must land exactly once: wait for the resends to settle.
    let n = -1;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      n = (await client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 1000 }).catch(() => ({ n: -1 }))).n;
      if (n >= sent) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const final = await client.ask<Hit>('/app/singleton', 'get');
    // The tree is whole again: every node up and seeing the others.
    await cluster.ready(NODES, 30_000);

    // Never two owners at once: ownership may move, but never back and forth faster
    // than a lease can change hands.
    const sorted = [...hits].sort((a, b) => a.at - b.at);
    const tenures: { node: string; from: number; to: number }[] = [];
    for (const h of sorted) {
      const last = tenures.at(-1);
      if (last?.node === h.node) last.to = h.at;
      else tenures.push({ node: h.node, from: h.at, to: h.at });
    }
    const flips = tenures.filter((t, i) => i > 0 && i < tenures.length - 1 && tenures[i - 1]!.node === tenures[i + 1]!.node && tenures[i + 1]!.from - tenures[i - 1]!.to < 500);

    if (final.n !== sent) {
      for (const node of cluster.nodes.values()) console.log(`--- ${node.name}\n${node.output.join('').split('\n').slice(-15).join('\n')}`);
    }
    console.log(
      `chaos: ${faults.length} faults (${faults.join(', ')}); acked sent ${sent}, processed ${final.n}, ` +
        `duplicates ${Math.max(0, final.n - sent)}, lost ${Math.max(0, sent - final.n)}; ${hits.length} asks answered; ` +
        `owners ${tenures.map((t) => t.node).join('>')}`,
    );
    expect(faults.length).toBeGreaterThanOrEqual(Math.floor(SECONDS / 6));
    expect(final.n).toBe(sent);
    expect(undelivered).toEqual([]);
    expect(flips).toEqual([]);
  } finally {
    await cluster.stop();
  }
});
