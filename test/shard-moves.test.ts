/**
 * Shard ownership on one node while the membership it sees changes faster than a hand-off
 * completes (a peer paused past its heartbeat, seen down, up, down again). Real lease
 * keepers on the in-memory lease store; the region and the transport record what they
 * are told.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chooseNodes, memoryLeases, ShardManager, silentLogger, type MembershipView, type RegionHandle } from '../src/internals.js';
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

function world() {
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
  const manager = new ShardManager({ self: 'a', membership: () => membership, leases: memoryLeases(), ttlMs: 200, transport, logger: silentLogger() });
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
    await sleep(20);
    expect(bs.every((s) => !subscribed.has(s))).toBe(true);
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
});
