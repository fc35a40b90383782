/**
 * Shard ownership on one node while the membership it sees changes faster than a hand-off
 * completes (a peer paused past its heartbeat, seen down, up, down again). Real lease
 * keepers on the in-memory lease store; the region and the transport record what they
 * are told.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chooseNodes, LeaseStore, memoryLeases, ShardManager, silentLogger, type MembershipView, type RegionHandle } from '../src/internals.js';
import { MemoryLeaseBackend } from '../src/cluster/lease-memory.js';
import type { ShardCount } from '../src/actors/entity-address.js';
import { eventually, sleep } from './helpers.js';

const SHARDS = 16 as ShardCount;
let detach: (() => Promise<void>) | undefined;
/** Lets passivations finish from now on (a failed test must not hang the detach). */
let unblock: (() => void) | undefined;
afterEach(async () => {
  unblock?.();
  await detach?.();
  detach = undefined;
});

/** The in-memory lease store, or one whose releases take `releaseMs` (a slow or reconnecting NATS). */
function leases(releaseMs = 0): LeaseStore {
  if (releaseMs === 0) return memoryLeases();
  const backend = new MemoryLeaseBackend('slow releases');
  return new LeaseStore({
    name: backend.name,
    maxTtlMs: backend.maxTtlMs,
    create: (k, v) => backend.create(k, v),
    update: (k, v, r) => backend.update(k, v, r),
    get: (k) => backend.get(k),
    delete: async (k, r) => {
      await sleep(releaseMs);
      return backend.delete(k, r);
    },
  });
}

function world(releaseMs = 0) {
  let up = ['a'];
  const listeners = new Set<() => void>();
  const membership: MembershipView = {
    intervalMs: 5,
    up: () => up,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const see = (nodes: string[]) => {
    up = nodes;
    for (const l of listeners) l();
  };
  const subscribed = new Set<number>();
  const transport = {
    registerShard: (_kind: string, shard: number) => void subscribed.add(shard),
    unregisterShard: (_kind: string, shard: number) => void subscribed.delete(shard),
  };
  // Passivating a shard's entities waits until the test lets it finish.
  let finish: () => void = () => undefined;
  let passivating = new Promise<void>((r) => (finish = r));
  unblock = () => {
    passivating = Promise.resolve();
    finish();
  };
  const region: RegionHandle = {
    kind: 'cart',
    path: '/app/carts',
    shards: SHARDS,
    setOwned: async (_shard, owned) => {
      if (!owned) await passivating;
    },
  };
  const manager = new ShardManager({ self: 'a', membership: () => membership, leases: leases(releaseMs), ttlMs: 200, transport, logger: silentLogger() });
  detach = manager.attach(region);
  const release = () => {
    finish();
    passivating = new Promise<void>((r) => (finish = r));
  };
  return { see, subscribed, manager, release };
}

describe('shard ownership under a changing membership', () => {
  it('a shard chosen again while it was being handed off is claimed again, not left without an owner', async () => {
    const { see, subscribed, manager, release } = world();
    expect(await eventually(() => subscribed.size === SHARDS, 5000)).toBe(true);
    const bs = Array.from({ length: SHARDS }, (_, s) => s).filter((s) => chooseNodes(`cart#${s}`, ['a', 'b'], 1)[0] === 'b');
    expect(bs.length).toBeGreaterThan(0);
    // b appears: its shards leave a (their entities passivate slowly) ...
    see(['a', 'b']);
    expect(await eventually(() => bs.every((s) => !subscribed.has(s)), 5000)).toBe(true);
    // ... and b is gone again before that finished: a is their owner once more.
    see(['a']);
    release();
    expect(await eventually(() => subscribed.size === SHARDS, 5000)).toBe(true);
    expect(manager.owned().cart).toEqual(Array.from({ length: SHARDS }, (_, s) => s));
    // Many flips, then a steady view: every shard ends owned exactly as the last view says.
    for (let i = 0; i < 10; i++) {
      see(i % 2 === 0 ? ['a', 'b'] : ['a']);
      if (i % 3 === 0) release();
      await sleep(i * 3);
    }
    see(['a', 'b']);
    release();
    const mine = Array.from({ length: SHARDS }, (_, s) => s).filter((s) => !bs.includes(s));
    expect(await eventually(() => subscribed.size === mine.length && mine.every((s) => subscribed.has(s)), 5000)).toBe(true);
    expect(manager.owned().cart).toEqual(mine);
  });

  it('chosen again while its lease is being released: claimed once the old keeper has let go', async () => {
    const { see, subscribed, manager } = world(300);
    unblock!(); // passivation is quick here; the lease's release round trip is the slow part
    expect(await eventually(() => subscribed.size === SHARDS, 5000)).toBe(true);
    see(['a', 'b']);
    const bs = Array.from({ length: SHARDS }, (_, s) => s).filter((s) => chooseNodes(`cart#${s}`, ['a', 'b'], 1)[0] === 'b');
    expect(await eventually(() => bs.every((s) => !subscribed.has(s)), 5000)).toBe(true);
    // The releases (300 ms each) are on their way: b is gone again.
    see(['a']);
    expect(await eventually(() => subscribed.size === SHARDS, 5000)).toBe(true);
    expect(manager.owned().cart).toEqual(Array.from({ length: SHARDS }, (_, s) => s));
  });
});
