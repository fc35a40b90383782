import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { assign, setup } from 'xstate';
import { entities, kind, Node, reply, supervisor, validateTree, worker, type Ask, type DeadLetterEvent, type LifecycleEvent, type SystemEvent } from '../src/index.js';
import { MemorySnapshotStore, SNAPSHOTS_SERVICE, shardOf, slotOf } from '../src/internals.js';
import { Cart } from './fixtures/cart.js';
import { eventually, sleep } from './helpers.js';

let node: Node | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

async function start(tree: Parameters<typeof Node.start>[0]['tree'], services?: Record<string, unknown>) {
  const events: SystemEvent[] = [];
  node = await Node.start({ tree, onEvent: (e) => events.push(e), ...(services ? { services } : {}) });
  const lifecycle = (type: string) => events.filter((e): e is LifecycleEvent => e.type === type).map((e) => e.path);
  const dead = () => events.filter((e): e is DeadLetterEvent => e.type === 'dead_letter');
  return { node, events, lifecycle, dead };
}

describe('entities on one node', () => {
  it('the first message activates a key; each key is its own actor, typed by its kind', async () => {
    const { node, lifecycle } = await start(supervisor('app', {}, [entities('carts', Cart, { idleAfter: 60_000 })]));
    const a = node.entity(Cart, 'user-1');
    a.tell({ type: 'add', item: 'tea' });
    a.tell({ type: 'add', item: 'milk' });
    node.entity(Cart, 'user-2').tell({ type: 'add', item: 'bread' });
    const got = await a.ask({ type: 'get' });
    expectTypeOf(got.items).toEqualTypeOf<string[]>();
    expect(got).toMatchObject({ key: 'user-1', items: ['tea', 'milk'] });
    expect(await node.entity(Cart, 'user-2').ask({ type: 'get' })).toMatchObject({ key: 'user-2', items: ['bread'] });
    expect(lifecycle('started').filter((p) => p.startsWith('/app/carts/'))).toEqual(['/app/carts/user-1', '/app/carts/user-2']);
    // The region's row counts its entities; they are not rows of their own.
    const rows = node.view().actors;
    expect(rows.find((r) => r.path === '/app/carts')?.entities).toMatchObject({ kind: 'cart', active: 2, activations: 2, shards: 16 });
    expect(rows.some((r) => r.path.startsWith('/app/carts/'))).toBe(false);
    expect(node.findEntity(Cart, 'user-1')).toMatchObject({ kind: 'cart', key: 'user-1', owned: true, path: '/app/carts/user-1', status: 'running', incarnation: 1 });
  });

  it('a region can be the root of a node\'s tree', async () => {
    const { node, dead } = await start(entities('carts', Cart, { idleAfter: 60_000 }));
    node.entity(Cart, 'root-1').tell({ type: 'add', item: 'tea' });
    expect(await node.entity(Cart, 'root-1').ask({ type: 'get' })).toMatchObject({ key: 'root-1', items: ['tea'] });
    expect(node.findEntity(Cart, 'root-1')).toMatchObject({ path: '/carts/root-1', status: 'running' });
    expect(dead()).toEqual([]);
  });

  it('idle entities passivate and the next message activates them again (from their snapshot when persistent)', async () => {
    const store = new MemorySnapshotStore();
    const { node, lifecycle } = await start(
      supervisor('app', {}, [entities('carts', Cart, { idleAfter: 150, persist: { version: 1 } })]),
      { [SNAPSHOTS_SERVICE]: store },
    );
    const cart = node.entity(Cart, 'k1');
    cart.tell({ type: 'add', item: 'a' });
    const first = await cart.ask({ type: 'get' });
    expect(await eventually(() => lifecycle('stopped').includes('/app/carts/k1'), 5000)).toBe(true);
    expect(node.findEntity(Cart, 'k1')?.path).toBeUndefined();
    cart.tell({ type: 'add', item: 'b' });
    const again = await cart.ask({ type: 'get' });
    expect(again.items).toEqual(['a', 'b']); // resumed from the saved snapshot
    expect(again.started).toBe(first.started);
    expect(lifecycle('started').filter((p) => p === '/app/carts/k1')).toHaveLength(2);
  });

  it('mail sent while an entity passivates waits and goes to its next activation, in order', async () => {
    const { node, lifecycle } = await start(supervisor('app', {}, [entities('carts', Cart, { idleAfter: 40 })]));
    const cart = node.entity(Cart, 'k');
    let n = 0;
    // Sends across many passivations: every message is processed once, in order, by some incarnation.
    const seen: number[] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 5; i++) cart.tell({ type: 'add', item: 'x', seq: ++n });
      const got = await cart.ask({ type: 'get' });
      seen.push(...got.seen.filter((s) => !seen.includes(s)));
      await sleep(20 + (round % 3) * 30);
    }
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(lifecycle('stopped').filter((p) => p === '/app/carts/k').length).toBeGreaterThanOrEqual(2); // it did passivate meanwhile
  });

  it('a crash restarts that entity only; the message that crashed it is a dead letter', async () => {
    const { node, dead, lifecycle } = await start(supervisor('app', {}, [entities('carts', Cart)]));
    node.entity(Cart, 'a').tell({ type: 'add', item: 'keep' });
    node.entity(Cart, 'b').tell({ type: 'add', item: 'one' });
    node.entity(Cart, 'b').tell({ type: 'crash' });
    const b = await node.entity(Cart, 'b').ask({ type: 'get' });
    expect(b.items).toEqual([]); // a new incarnation
    expect(await node.entity(Cart, 'a').ask({ type: 'get' })).toMatchObject({ items: ['keep'] });
    expect(lifecycle('restarted')).toEqual(['/app/carts/b']);
    expect(dead().map((d) => d.reason)).toContain('crashed');
  });

  it('an address of a kind nobody runs, or a bad key, is a dead letter and an ask is rejected', async () => {
    const { node, dead } = await start(supervisor('app', {}, [entities('carts', Cart)]));
    await expect(node.ask('boat/b1', 'get')).rejects.toThrow('no region of entity kind boat on node');
    await expect(node.ask('cart/no spaces', 'get')).rejects.toThrow('entity key "no spaces" must be 1-128 letters, digits, _ or -');
    expect(() => node.entity(Cart, 'a/b')).toThrow(/entity key "a\/b"/);
    expect(dead().map((d) => d.reason)).toEqual(['unknown_target', 'unknown_target']);
  });

  it('keys hash to slots and shards any client can compute (FNV-1a 32)', () => {
    // Reference: FNV-1a 32 of "user-42" is 0x026073ab (python3: h = 0x811c9dc5; per byte h ^= b; h = h * 0x01000193 mod 2^32).
    expect(slotOf('user-42')).toBe('026');
    expect(shardOf('user-42', 16)).toBe(0x0);
    expect(shardOf('user-42', 256)).toBe(0x02);
    expect(shardOf('user-42', 4096)).toBe(0x026);
  });

  it('is validated: one region per kind, shard counts, idleAfter', () => {
    const ok = supervisor('app', {}, [entities('carts', Cart)]);
    expect(validateTree(ok)).toEqual([]);
    expect(validateTree(supervisor('app', {}, [entities('carts', Cart), entities('more', Cart)]))).toEqual([
      '/app/more: a second region of entity kind cart (the first is /app/carts)',
    ]);
    expect(validateTree(supervisor('app', {}, [entities('carts', Cart, { shards: 100 as 16 })]))).toEqual([
      '/app/carts: entities.shards must be one of 16, 256, 4096, got 100',
    ]);
    expect(validateTree(supervisor('app', {}, [entities('carts', Cart, { idleAfter: 0 })]))).toEqual([
      '/app/carts: entities.idleAfter must be an integer of ms > 0, got 0',
    ]);
  });
});

describe('snapshot migrations', () => {
  const v1 = setup({ types: { context: {} as { count: number }, events: {} as { type: 'inc' } } }).createMachine({
    context: { count: 0 },
    on: { inc: { actions: assign({ count: ({ context }) => context.count + 1 }) } },
  });
  const v3 = setup({
    types: { context: {} as { total: number; unit: string }, events: {} as { type: 'inc' } | Ask<{ type: 'get' }, { total: number; unit: string }> },
  }).createMachine({
    context: { total: 0, unit: 'item' },
    on: {
      inc: { actions: assign({ total: ({ context }) => context.total + 1 }) },
      get: { actions: reply(({ context }) => ({ total: context.total, unit: context.unit })) },
    },
  });
  const V3 = kind('counter3', v3);

  it('an older snapshot is upgraded step by step; a missing step is a clear refusal', async () => {
    const store = new MemorySnapshotStore();
    let first = await Node.start({ tree: supervisor('s', {}, [worker('c', v1, { persist: { version: 1 } })]), services: { [SNAPSHOTS_SERVICE]: store } });
    first.tell('/s/c', 'inc');
    first.tell('/s/c', 'inc');
    await first.settled();
    await first.stop();

    const migrate = {
      1: (s: { context?: unknown }) => ({ ...s, context: { total: (s.context as { count: number }).count } }),
      2: (s: { context?: unknown }) => ({ ...s, context: { ...(s.context as object), unit: 'apple' } }),
    };
    node = await Node.start({ tree: supervisor('s', {}, [worker('c', V3, { persist: { version: 3, migrate } })]), services: { [SNAPSHOTS_SERVICE]: store } });
    const c = node.ref('/s/c');
    c.tell({ type: 'inc' });
    expect(await c.ask({ type: 'get' })).toEqual({ total: 3, unit: 'apple' });
    await node.stop();
    node = undefined;

    // Saved as version 3 now; a version 5 with no step 4 refuses it and names the gap.
    first = undefined as never;
    const refused = await Node.start({
      tree: supervisor('s', {}, [worker('c', V3, { persist: { version: 5, migrate: { 3: (s) => s } } })]),
      services: { [SNAPSHOTS_SERVICE]: store },
    }).catch((e: unknown) => e as Error);
    expect((refused as Error).message).toContain('snapshot of /s/c is version 3: no migration step from 4 to 5 (this is version 5)');
  });

  it('migration steps need an integer version: with a string one they do not compile, and a cast is refused at start', async () => {
    // @ts-expect-error migrate needs version: number (step n upgrades version n to n + 1)
    const bad = worker('c', V3, { persist: { version: '3', migrate: { 2: (s) => s } } });
    // A version read from configuration, either kind, still compiles without steps.
    const fromConfig: string | number = process.env.NO_SUCH_VERSION ?? 3;
    expect(worker('c', V3, { persist: { version: fromConfig } }).persist).toEqual({ version: 3 });
    const refused = await Node.start({ tree: supervisor('s', {}, [bad]), services: { [SNAPSHOTS_SERVICE]: new MemorySnapshotStore() } }).catch((e: unknown) => e as Error);
    expect((refused as Error).message).toContain('persist.migrate needs an integer persist.version');
  });
});
