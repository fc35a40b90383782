/**
 * Entities at scale over a cluster: 3 cluster nodes (in this process) on a real
 * nats-server; a client tells --n distinct keys one message each (acked), so --n entities
 * are activated and stay. Measured: activations per second over NATS, heap per entity
 * (all three nodes are in this process), and the nats-server's subscription count before
 * and after (from its monitoring endpoint): it must not grow with the entities.
 * Result: { rate, bytes, subsBefore, subsAfter }.
 */
import { ClusterClient, ClusterNode, entities, kind, supervisor } from 'eldertree';
import { freePort } from 'eldertree/internals';
import { assign, setup } from 'xstate';
import { caseArgs, gc, intArg, report } from './lib.js';
import { sleep, startNats } from './cluster-lib.js';

const args = caseArgs();
const n = intArg(args, 'n');
const counter = setup({ types: { context: {} as { n: number }, events: {} as { type: 'inc' } } }).createMachine({
  context: { n: 0 },
  on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } },
});
const Key = kind('key', counter);
const tree = supervisor('bench', {}, [entities('keys', Key, { idleAfter: 3_600_000 })]);

const monitor = await freePort();
const nats = await startNats(['-m', String(monitor)]);
const subs = async () => ((await (await fetch(`http://127.0.0.1:${monitor}/subsz`)).json()) as { num_subscriptions: number }).num_subscriptions;
const nodes: ClusterNode[] = [];
for (const id of ['b1', 'b2', 'b3']) nodes.push(await ClusterNode.start({ nodeId: id, tree, nats: { servers: nats.url } }));
const client = await ClusterClient.connect({ servers: nats.url });
// Every shard owned before measuring.
const owned = () => nodes.flatMap((c) => c.node.view().actors.find((a) => a.path === '/bench/keys')?.entities?.owned ?? []).length;
for (const end = Date.now() + 30_000; owned() < 16 && Date.now() < end; ) await sleep(50);
await sleep(500);
const subsBefore = await subs();
gc();
const heapBefore = process.memoryUsage().heapUsed;
const active = () => nodes.reduce((sum, c) => sum + (c.node.view().actors.find((a) => a.path === '/bench/keys')?.entities?.active ?? 0), 0);
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  client.entity(Key, `k${i}`).tell({ type: 'inc' });
  // Keep the outstanding work bounded: the client would otherwise race far ahead.
  if ((i & 4095) === 4095) {
    await client.flush();
    while (i - active() > 50_000) await sleep(10);
  }
}
for (let last = -1, end = Date.now() + 600_000; active() < n && Date.now() < end; ) {
  await sleep(200);
  if (process.env.BENCH_DEBUG) process.stderr.write(`active ${active()} of ${n}\n`);
  void last;
}
const ms = performance.now() - t0;
if (active() !== n) throw new Error(`${active()} of ${n} entities active`);
await sleep(500);
const subsAfter = await subs();
gc();
const bytes = (process.memoryUsage().heapUsed - heapBefore) / n;
report({ rate: (n / ms) * 1000, bytes, subsBefore, subsAfter });
