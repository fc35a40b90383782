/**
 * Entities over a cluster: three in-process nodes on a real nats-server. Keys spread over
 * the nodes by shard; a node that leaves hands its shards over (saving its entities) and
 * acked messages are processed exactly once, in order per key, through the move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient, ClusterNode, entities, supervisor, type LifecycleEvent } from '../src/index.js';
import { Cart } from './fixtures/cart.js';
import { eventually } from './helpers.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const tree = supervisor('app', {}, [entities('carts', Cart, { persist: { version: 1 }, idleAfter: 60_000 })]);

describe('entities across three nodes (real nats-server)', () => {
  let server: NatsServer;
  const nodes: ClusterNode[] = [];
  let client: ClusterClient;
  const started: { node: string; path: string; at: number }[] = [];

  const startNode = (id: string) =>
    ClusterNode.start({
      nodeId: id,
      tree,
      nats: { servers: server.url },
      membership: { intervalMs: 50, downAfterMs: 400 },
      onEvent: (e) => {
        if (e.type === 'started' || e.type === 'restarted') started.push({ node: id, path: (e as LifecycleEvent).path, at: Date.now() });
      },
    });

  beforeAll(async () => {
    server = await startNatsServer();
    for (const id of ['e1', 'e2', 'e3']) nodes.push(await startNode(id));
    client = await ClusterClient.connect({ servers: server.url });
    // Every shard owned by some node: asks to a key in each shard answer.
    const keys = Array.from({ length: 64 }, (_, i) => `warm-${i}`);
    expect(
      await eventually(() => {
        const owned = nodes.flatMap((n) => n.node.view().actors.find((a) => a.path === '/app/carts')?.entities?.owned ?? []);
        return new Set(owned).size === 16 && owned.length === 16;
      }, 10_000),
    ).toBe(true);
    await Promise.all(keys.map((k) => client.entity(Cart, k).ask({ type: 'get' }, { timeout: 5000 })));
  });
  afterAll(async () => {
    await client?.close();
    for (const n of nodes) await n.stop().catch(() => undefined);
    await server?.stop();
  });

  it('keys are spread over the nodes by shard, each key one actor on the node that owns its shard', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    for (const k of keys) client.entity(Cart, k).tell({ type: 'add', item: k });
    const answers = await Promise.all(keys.map((k) => client.entity(Cart, k).ask({ type: 'get' }, { timeout: 5000 })));
    expect(answers.map((a) => a.items)).toEqual(keys.map((k) => [k]));
    const active = nodes.map((n) => n.node.view().actors.find((a) => a.path === '/app/carts')?.entities?.active ?? 0);
    expect(active.every((a) => a > 0)).toBe(true); // every node runs some
    // One activation per key, on one node.
    for (const k of keys) expect(started.filter((s) => s.path === `/app/carts/${k}`)).toHaveLength(1);
    // Where is it? The node that owns its shard says so.
    const where = nodes.map((n) => n.node.findEntity(Cart, 'user-7')).filter((l) => l?.path !== undefined);
    expect(where).toHaveLength(1);
    expect(where[0]).toMatchObject({ key: 'user-7', owned: true, status: 'running' });
  });

  it('a node that leaves hands its shards over: acked messages once each, in order per key, state kept', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `move-${i}`);
    let seq = 0;
    const sent = new Map<string, number[]>(keys.map((k) => [k, []]));
    const send = (n: number) => {
      for (let i = 0; i < n; i++) {
        const key = keys[seq % keys.length]!;
        const s = ++seq;
        sent.get(key)!.push(s);
        client.entity(Cart, key).tell({ type: 'add', item: 'x', seq: s }, { requiresAck: true });
      }
    };
    send(300);
    await client.flush();
    // e3 leaves mid-stream (SIGTERM's path: ClusterNode.stop), load goes on meanwhile.
    const leaving = nodes.pop()!;
    const moved = keys.find((k) => leaving.node.findEntity(Cart, k)?.owned === true)!;
    const stopAt = performance.now();
    const stopped = leaving.stop();
    // Hand-off time: from the stop until a key it owned answers from another node.
    const handOff = (async () => {
      for (;;) {
        // A short timeout: an ask lost in the move (a relay from the stopping node) costs the probe 100 ms, not the figure a second.
        const ok = await client.entity(Cart, moved).ask({ type: 'get' }, { timeout: 100 }).then(() => true, () => false);
        if (ok && !nodes.includes(leaving) && performance.now() - stopAt > 0 && leaving.node.findEntity(Cart, moved)?.path === undefined) return performance.now() - stopAt;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    for (let round = 0; round < 10; round++) {
      send(30);
      await new Promise((r) => setTimeout(r, 30));
    }
    await stopped;
    const stopMs = performance.now() - stopAt;
    const handOffMs = await handOff;
    // Every key answers from a remaining node, with exactly what was sent to it, in order.
    const done = async () => {
      const got = await Promise.all(keys.map((k) => client.entity(Cart, k).ask({ type: 'get' }, { timeout: 3000 }).catch(() => undefined)));
      return got.every((g, i) => g !== undefined && g.seen.length === sent.get(keys[i]!)!.length) ? got : undefined;
    };
    let got: Awaited<ReturnType<typeof done>>;
    const deadline = Date.now() + 20_000;
    while (!(got = await done()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(got).toBeDefined();
    for (const [i, k] of keys.entries()) expect(got![i]!.seen).toEqual(sent.get(k));
    console.log(`entities: e3 stopped in ${Math.round(stopMs)} ms, its key ${moved} answered from another node ${Math.round(handOffMs)} ms after the stop began; ${seq} acked messages to ${keys.length} keys, each processed once, in order`);
    // The survivors own every shard, each once.
    const owned = () => nodes.flatMap((n) => n.node.view().actors.find((a) => a.path === '/app/carts')?.entities?.owned ?? []);
    expect(await eventually(() => new Set(owned()).size === 16 && owned().length === 16, 5000)).toBe(true);
  });
});
