import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { beforeAll, describe, expect, it } from 'vitest';
import { assign, createActor, setup } from 'xstate';
import { connect } from '@nats-io/transport-node';
import { openBucket } from '../src/cluster/buckets.js';
import { decodeKey, encodeKey, KvNameError } from '../src/cluster/kv-names.js';
import {
  KvSnapshotStore,
  loadChecked,
  MemorySnapshotStore,
  SnapshotError,
  SnapshotVersionError,
  type SnapshotStore,
} from '../src/cluster/snapshots.js';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();

/** A persistent actor's machine: a nested state and a context worth keeping. */
const sage = setup({
  types: {
    context: {} as { entries: { topic: string; text: string }[]; queries: number },
    events: {} as { type: 'learn'; topic: string; text: string } | { type: 'query' } | { type: 'rest' } | { type: 'wake' },
  },
}).createMachine({
  id: 'knowledge-sage',
  context: { entries: [], queries: 0 },
  initial: 'awake',
  states: {
    awake: {
      initial: 'idle',
      states: { idle: {}, busy: {} },
      on: {
        learn: {
          target: '.busy',
          actions: assign({ entries: ({ context, event }) => [...context.entries, { topic: event.topic, text: event.text }] }),
        },
        query: { actions: assign({ queries: ({ context }) => context.queries + 1 }) },
        rest: 'asleep',
      },
    },
    asleep: { on: { wake: 'awake' } },
  },
});

const stores: [string, () => Promise<SnapshotStore>][] = [
  ['KvSnapshotStore', () => KvSnapshotStore.open(nats.nc1)],
  ['MemorySnapshotStore', async () => new MemorySnapshotStore()],
];

describe.each(stores)('%s', (_name, open) => {
  let store: SnapshotStore;
  beforeAll(async () => {
    store = await open();
  });

  it('saves getPersistedSnapshot() and a new actor resumes from it', async () => {
    const path = '/grand-elder/claude-elder/knowledge-sage';
    const actor = createActor(sage).start();
    actor.send({ type: 'learn', topic: 'otp', text: 'let it crash' });
    actor.send({ type: 'query' });
    actor.send({ type: 'query' });
    await store.save(path, '3', actor.getPersistedSnapshot());
    actor.stop();

    const snapshot = await loadChecked(store, path, '3');
    expect(snapshot).toBeDefined();
    const restored = createActor(sage, { snapshot: snapshot as never }).start();
    expect(restored.getSnapshot().context).toEqual({ entries: [{ topic: 'otp', text: 'let it crash' }], queries: 2 });
    expect(restored.getSnapshot().value).toEqual({ awake: 'busy' });
    // And it goes on from there.
    restored.send({ type: 'rest' });
    restored.send({ type: 'query' }); // asleep: not handled
    expect(restored.getSnapshot().value).toBe('asleep');
    expect(restored.getSnapshot().context.queries).toBe(2);
    await store.save(path, '3', restored.getPersistedSnapshot());
    const again = createActor(sage, { snapshot: (await loadChecked(store, path, '3')) as never }).start();
    expect(again.getSnapshot().value).toBe('asleep');
    again.send({ type: 'wake' });
    expect(again.getSnapshot().matches('awake')).toBe(true);
  });

  it('refuses a snapshot saved by another machine version', async () => {
    await store.save('/a/b', '2', { value: 'x' });
    await expect(loadChecked(store, '/a/b', '3')).rejects.toThrow(SnapshotVersionError);
    await expect(loadChecked(store, '/a/b', '3')).rejects.toThrow('snapshot of /a/b was saved by machine version 2, this is version 3');
    const err = await loadChecked(store, '/a/b', '3').catch((e: SnapshotVersionError) => e);
    expect(err).toMatchObject({ path: '/a/b', savedVersion: '2', version: '3' });
    expect(await loadChecked(store, '/a/b', '2')).toEqual({ value: 'x' });
  });

  it('returns undefined for a path never saved, and keeps the last save only', async () => {
    expect(await store.load('/never/saved')).toBeUndefined();
    expect(await loadChecked(store, '/never/saved', '1')).toBeUndefined();
    await store.save('/x/y', '1', { n: 1 });
    await store.save('/x/y', '1', { n: 2 });
    const loaded = await store.load('/x/y');
    expect(loaded).toMatchObject({ version: '1', snapshot: { n: 2 } });
    expect(loaded!.savedAt).toBeGreaterThan(Date.now() - 60_000);
  });

  it('keeps paths apart that differ only in characters KV keys lack', async () => {
    const paths = ['/a/b-c/d', '/a/b.c/d', '/a/b_c/d', '/a/b=c/d', '/a/b c/d', '/a/bc/d', '/a/b/c/d', '/a/b=2Ec/d', '/ä/ß'];
    for (const [i, path] of paths.entries()) await store.save(path, '1', { i });
    for (const [i, path] of paths.entries()) expect((await store.load(path))?.snapshot).toEqual({ i });
  });

  it('refuses a version that is not a non-empty string, clearly', async () => {
    await expect(store.save('/a/v', '', {})).rejects.toThrow(SnapshotError);
    await expect(store.save('/a/v', 3 as unknown as string, {})).rejects.toThrow('snapshot of /a/v: the machine version must be a non-empty string');
    await expect(store.save('', '1', {})).rejects.toThrow(KvNameError);
  });
});

describe('KvSnapshotStore on NATS', () => {
  it('uses bucket elders_<cluster>_snapshots with history 1, msgpack values, path-shaped keys', async () => {
    const store = await KvSnapshotStore.open(nats.nc1, { cluster: 'snap' });
    await store.save('/a/b-c/d', '7', { hello: 'world' });
    const jsm = await jetstreamManager(nats.nc1);
    const info = await jsm.streams.info('KV_elders_snap_snapshots');
    expect(info.config.max_msgs_per_subject).toBe(1);
    expect(info.config.max_age).toBe(0); // snapshots do not expire
    const kv = await new Kvm(nats.nc1).open('elders_snap_snapshots');
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    expect(keys).toEqual(['/a/b-c/d']);
    // A plain msgpack map (map16 here), no msgpackr records extension.
    const bytes = (await kv.get('/a/b-c/d'))!.value;
    expect(bytes[0]).toBe(0xde);
    expect(unpack(bytes)).toMatchObject({ version: '7', snapshot: { hello: 'world' }, savedAt: expect.any(Number) });
  });

  it('a save is a compare-and-set: an owner that lost the actor cannot write over the new owner', async () => {
    const old = await KvSnapshotStore.open(nats.nc1, { cluster: 'cas' });
    const next = await KvSnapshotStore.open(nats.nc2, { cluster: 'cas' });
    expect(await old.load('/s/counter')).toBeUndefined();
    await old.save('/s/counter', '1', { n: 1 });
    await old.save('/s/counter', '1', { n: 2 }); // its own saves follow each other
    // Failover: the new owner reads and saves; the old one's late save is refused.
    expect((await next.load('/s/counter'))?.snapshot).toEqual({ n: 2 });
    await next.save('/s/counter', '1', { n: 3 });
    await expect(old.save('/s/counter', '1', { n: 99 })).rejects.toThrow(
      /the snapshot of \/s\/counter was written by another owner since this node read it \(revision \d+\): not overwritten/,
    );
    expect((await next.load('/s/counter'))?.snapshot).toEqual({ n: 3 });
    // Two first owners of a new key: only one create wins.
    expect(await old.load('/s/fresh')).toBeUndefined();
    expect(await next.load('/s/fresh')).toBeUndefined();
    await next.save('/s/fresh', '1', { by: 'next' });
    await expect(old.save('/s/fresh', '1', { by: 'old' })).rejects.toThrow(SnapshotError);
    // Reading again (a restart) takes the store's revision: saving works again.
    expect((await old.load('/s/fresh'))?.snapshot).toEqual({ by: 'next' });
    await old.save('/s/fresh', '1', { by: 'old' });
    expect((await next.load('/s/fresh'))?.snapshot).toEqual({ by: 'old' });
  });

  it('saves whose answers were lost (a server restart) do not wedge the path: the next save builds on what landed', async () => {
    const { kv } = await KvSnapshotStore.open(nats.nc1, { cluster: 'unsure' });
    // A fault wrapper around the real bucket: a put goes to the server, then its answer is
    // lost (what a reconnect does to a request that was flushed late), or it never leaves.
    const script: ('lost' | 'dropped')[] = [];
    const faulty = new Proxy(kv, {
      get(target, prop, receiver) {
        if (prop !== 'put') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<typeof kv.put>) => {
          const fault = script.shift();
          if (fault === 'dropped') throw Object.assign(new Error('TIMEOUT'), { name: 'TimeoutError' });
          const put = target.put(...args);
          if (fault === 'lost') {
            await put.catch(() => undefined); // landed or refused by the server: the caller never hears
            throw Object.assign(new Error('TIMEOUT'), { name: 'TimeoutError' });
          }
          return put;
        };
      },
    });
    const store = new KvSnapshotStore(faulty);
    expect(await store.load('/u/tally')).toBeUndefined();
    await store.save('/u/tally', '1', { n: 1 });
    // Two saves time out: the first landed, the second (its compare-and-set now stale) did not.
    script.push('lost', 'lost');
    await expect(store.save('/u/tally', '1', { n: 2 })).rejects.toThrow(/did not answer in time/);
    await expect(store.save('/u/tally', '1', { n: 3 })).rejects.toThrow(/did not answer in time/);
    // Ours, so the next save goes on from it.
    await store.save('/u/tally', '1', { n: 4 });
    expect((await store.load('/u/tally'))?.snapshot).toEqual({ n: 4 });
    // One that never left, then one that landed: the same.
    script.push('dropped', 'lost');
    await expect(store.save('/u/tally', '1', { n: 5 })).rejects.toThrow(/did not answer in time/);
    await expect(store.save('/u/tally', '1', { n: 6 })).rejects.toThrow(/did not answer in time/);
    await store.save('/u/tally', '1', { n: 7 });
    expect((await store.load('/u/tally'))?.snapshot).toEqual({ n: 7 });
    // Another owner's write is still refused after lost answers.
    script.push('lost');
    await expect(store.save('/u/tally', '1', { n: 8 })).rejects.toThrow(/did not answer in time/);
    await kv.put('/u/tally', new Uint8Array([0x80]));
    await expect(store.save('/u/tally', '1', { n: 9 })).rejects.toThrow(/written by another owner/);
  });

  it('says what went wrong when a snapshot is too large or not a snapshot', async () => {
    const store = await KvSnapshotStore.open(nats.nc1);
    const big = 'x'.repeat(2 * 1024 * 1024);
    await expect(store.save('/big/one', '1', { big })).rejects.toThrow(/saving the snapshot of \/big\/one \(\d+ bytes\) failed/);
    await (await new Kvm(nats.nc1).open('elders_elders_snapshots')).put('/not/snapshot', 'plain text');
    await expect(store.load('/not/snapshot')).rejects.toThrow(SnapshotError);
    await store.save('/gone', '1', {});
    await store.delete('/gone');
    expect(await store.load('/gone')).toBeUndefined();
  });
});

describe('opening buckets', () => {
  it('nodes starting together create the same buckets at once: every one opens (60 buckets x 6 connections)', async () => {
    // nats-server 2.9 can answer one of two simultaneous identical creates "subjects overlap
    // with an existing stream" (seen as a node failing to join in the chaos test).
    const ncs = await Promise.all(Array.from({ length: 6 }, () => connect({ servers: nats.server.url, noAsyncTraces: true })));
    try {
      const failed: string[] = [];
      for (let b = 0; b < 60; b++) {
        await Promise.all(ncs.map((nc) => openBucket(nc, `together_${b}`, { history: 1 }, { patienceMs: 10_000 }).catch((e: Error) => void failed.push(e.message))));
      }
      expect(failed).toEqual([]);
    } finally {
      await Promise.all(ncs.map((nc) => nc.close()));
    }
  });
});

describe('actor paths as KV keys', () => {
  it('keeps actor paths readable', () => {
    expect(encodeKey('/grand-elder/claude-elder/knowledge-sage')).toBe('/grand-elder/claude-elder/knowledge-sage');
    expect(encodeKey('/a/b_c')).toBe('/a/b_c');
    expect(encodeKey('/a/b.c')).toBe('/a/b=2Ec');
    expect(encodeKey('a=b')).toBe('a=3Db');
    expect(encodeKey('é')).toBe('=C3=A9');
  });

  it('is reversible, collision-free, and always a valid KV key', () => {
    const valid = /^[-/=\w]+$/; // stricter than KV's [-/_=.a-zA-Z0-9]: no dots at all
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), (x, y) => {
        const kx = encodeKey(x);
        expect(kx).toMatch(valid);
        expect(decodeKey(kx)).toBe(x);
        if (x !== y) expect(encodeKey(y)).not.toBe(kx);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses keys it cannot have made', () => {
    for (const bad of ['', 'a.b', '=4', '=zz', '=41', '=C3', 'a b']) expect(() => decodeKey(bad)).toThrow(KvNameError);
    expect(() => encodeKey('\uD800')).toThrow(/well-formed/);
  });
});
