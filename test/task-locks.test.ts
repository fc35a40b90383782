import { jetstreamManager } from '@nats-io/jetstream';
import { beforeAll, describe, expect, it } from 'vitest';
import { LeaseError, safetyMargin } from '../src/cluster/lease.js';
import { KvTaskLocks, MemoryTaskLocks, type TaskLock, type TaskLocks } from '../src/cluster/task-locks.js';
import { useNatsServer } from './nats-server.js';

const nats = useNatsServer();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until anyone may take the lock over: wall clock past expiry + margin. */
async function outlive(lock: TaskLock): Promise<void> {
  const wait = lock.expiresAt + safetyMargin(lock.ttlMs) + 5 - Date.now();
  if (wait > 0) await sleep(wait);
}
let unique = 0;
const task = () => `task-${++unique}`;

/** Two views of the same locks, as two nodes (NATS) or two actors of one node (memory). */
const implementations: [string, () => Promise<[TaskLocks, TaskLocks]>][] = [
  ['KvTaskLocks', async () => [await KvTaskLocks.open(nats.nc1), await KvTaskLocks.open(nats.nc2)]],
  [
    'MemoryTaskLocks',
    async () => {
      const locks = new MemoryTaskLocks();
      return [locks, locks];
    },
  ],
];

describe.each(implementations)('%s', (_name, make) => {
  let a: TaskLocks;
  let b: TaskLocks;
  beforeAll(async () => {
    [a, b] = await make();
  });

  it('acquires a free task, and reports it busy to anyone else', async () => {
    const key = task();
    const lock = await a.acquire(key, 'servant-1', 5000);
    expect(lock).toMatchObject({ key, owner: 'servant-1', ttlMs: 5000 });
    expect(lock!.isValid()).toBe(true);
    expect(await b.acquire(key, 'servant-2', 5000)).toBeUndefined();
    expect(await b.holder(key)).toEqual({ owner: 'servant-1', expiresAt: lock!.expiresAt });
    expect(await b.holder(task())).toBeUndefined();
  });

  it('renews its own lock: later expiry, new revision', async () => {
    const lock = (await a.acquire(task(), 'servant-1', 1000))!;
    const { expiresAt, revision } = lock;
    await sleep(5);
    const renewed = await a.renew(lock);
    expect(renewed?.expiresAt).toBeGreaterThan(expiresAt);
    expect(renewed?.revision).toBeGreaterThan(revision);
    expect(renewed?.isValid()).toBe(true);
  });

  it('lets another owner take an expired lock over', async () => {
    const key = task();
    const lock = (await a.acquire(key, 'servant-1', 500))!;
    expect(await b.acquire(key, 'servant-2', 500)).toBeUndefined();
    await outlive(lock);
    expect(lock.isValid()).toBe(false);
    expect(await a.holder(key)).toBeUndefined();
    const taken = await b.acquire(key, 'servant-2', 5000);
    expect(taken?.owner).toBe('servant-2');
    expect((await a.holder(key))?.owner).toBe('servant-2');
  });

  it('fails to renew a lock after losing it', async () => {
    const key = task();
    const lock = (await a.acquire(key, 'servant-1', 100))!;
    await outlive(lock);
    await b.acquire(key, 'servant-2', 5000);
    expect(await a.renew(lock)).toBeUndefined();
    expect(lock.isValid()).toBe(false);
    expect(await a.renew(lock)).toBeUndefined(); // and stays lost
  });

  it('releases only by the owner of the current lock', async () => {
    const key = task();
    const lock = (await a.acquire(key, 'servant-1', 100))!;
    await outlive(lock);
    const theirs = (await b.acquire(key, 'servant-2', 5000))!;
    expect(await a.release(lock)).toBe(false); // lapsed and taken: not ours to free
    expect((await a.holder(key))?.owner).toBe('servant-2');
    expect(await b.release(theirs)).toBe(true);
    expect(await a.holder(key)).toBeUndefined();
    expect(await b.release(theirs)).toBe(false);
    expect(await b.renew(theirs)).toBeUndefined(); // released locks do not come back
    const again = await a.acquire(key, 'servant-1', 5000);
    expect(again?.owner).toBe('servant-1');
  });

  it('refuses locks it did not hand out', async () => {
    const forged: TaskLock = { key: 'x', owner: 'servant-9', revision: 1, ttlMs: 1000, expiresAt: Date.now() + 1000, isValid: () => true };
    await expect(a.renew(forged)).rejects.toThrow(LeaseError);
    await expect(a.release(forged)).rejects.toThrow('lease "x" of owner "servant-9": not a lock handed out by task locks');
    await expect(a.acquire(task(), 'servant-1', 0)).rejects.toThrow(LeaseError);
  });

  it('gives each of 50 contended tasks exactly one holder at a time', async () => {
    const keys = Array.from({ length: 50 }, () => task());
    const perSide = 4; // concurrent acquires per key from each side: 400 in flight
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const round = async (label: string, ttlMs: number) => {
      const plan = keys.flatMap((key) => [a, b].flatMap((side, s) => Array.from({ length: perSide }, (_, i) => ({ key, side, owner: `${label}-${s}-${i}` }))));
      // Shuffled, and sent in slices a tick apart, so both connections' writes interleave.
      for (let i = plan.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [plan[i], plan[j]] = [plan[j]!, plan[i]!];
      }
      const attempts = [];
      for (const [n, { key, side, owner }] of plan.entries()) {
        if (n % 20 === 0) await new Promise(setImmediate);
        attempts.push(side.acquire(key, owner, ttlMs).then((lock) => ({ key, lock, side })));
      }
      const results = await Promise.all(attempts);
      const winners = new Map<string, { lock: TaskLock; side: TaskLocks }>();
      for (const { key, lock, side } of results) {
        if (lock === undefined) continue;
        expect(winners.has(key), `two winners for ${key}`).toBe(false);
        winners.set(key, { lock, side });
      }
      expect(winners.size).toBe(keys.length);
      for (const key of keys) expect((await a.holder(key))?.owner).toBe(winners.get(key)!.lock.owner);
      sides.push([...winners.values()].filter((w) => w.side === b).length);
      return winners;
    };
    const sides: number[] = []; // wins of side b per round: both sides take part
    // Fresh keys (CAS on absence), then released keys (CAS over delete markers), then
    // expired locks (CAS on the revision of a lapsed value).
    const first = await round('fresh', 5000);
    expect(await Promise.all([...first.values()].map(({ lock, side }) => side.release(lock)))).toEqual(keys.map(() => true));
    // Long enough that no lock of a round lapses before the round is over (a lapsed lock
    // may rightly be taken over, which would be a second winner, just not at once).
    const second = await round('released', 1500);
    await Promise.all([...second.values()].map(({ lock }) => outlive(lock)));
    const third = await round('expired', 5000);
    for (const { lock } of second.values()) expect(lock.isValid()).toBe(false);
    for (const { lock } of third.values()) expect(lock.isValid()).toBe(true);
    if (a !== b) console.log(`${_name}: wins of the second connection per round: ${sides.join(', ')} of 50`);
  });
});

describe('KvTaskLocks bucket', () => {
  it('is its own bucket, elders_<cluster>_locks, history 1', async () => {
    await KvTaskLocks.open(nats.nc1, { cluster: 'tl' });
    const jsm = await jetstreamManager(nats.nc1);
    const info = await jsm.streams.info('KV_elders_tl_locks');
    expect(info.config.max_msgs_per_subject).toBe(1);
    expect(info.config.max_age).toBeGreaterThan(0);
  });
});
