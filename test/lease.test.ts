import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { isExpired, Lease, LeaseError, LeaseStore, safetyMargin } from '../src/cluster/lease.js';
import { LeaseKeeper, type LeaseLostReason } from '../src/cluster/lease-keeper.js';
import { openKvLeases } from '../src/cluster/lease-kv.js';
import { memoryLeases } from '../src/cluster/lease-memory.js';
import { startNatsServer, useNatsServer } from './nats-server.js';

const nats = useNatsServer();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Blocks the event loop, as a GC pause or SIGSTOP would: no timer, no I/O runs. */
function freeze(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}
/** Waits until every contender may take `lease` over (wall clock past expiry + margin). */
async function outlive(lease: { expiresAt: number; ttlMs: number }): Promise<void> {
  const wait = lease.expiresAt + safetyMargin(lease.ttlMs) + 5 - Date.now();
  if (wait > 0) await sleep(wait);
}
let unique = 0;
const fresh = (label: string) => `${label}-${++unique}`;

/** Two stores that contend like two nodes: two KV connections, or one shared Map. */
type Pair = () => Promise<[LeaseStore, LeaseStore]>;
const backends: [string, Pair][] = [
  ['NATS KV', async () => [await openKvLeases(nats.nc1), await openKvLeases(nats.nc2)]],
  [
    'memory',
    async () => {
      const store = memoryLeases();
      return [store, new LeaseStore(store.backend)];
    },
  ],
];

describe.each(backends)('leases on %s', (_name, pair) => {
  let a: LeaseStore;
  let b: LeaseStore;
  beforeAll(async () => {
    [a, b] = await pair();
  });

  it('acquires a free key, refuses it to anyone else while held, and shows the holder', async () => {
    const key = fresh('/app/singleton');
    const t0 = performance.now();
    const lease = await a.acquire(key, 'node-a', 5000);
    expect(lease).toBeInstanceOf(Lease);
    expect(lease!).toMatchObject({ key, owner: 'node-a', ttlMs: 5000, state: 'held' });
    expect(lease!.revision).toBeGreaterThan(0);
    expect(lease!.isValid()).toBe(true);
    // The fence starts from when the request was sent, less the margin.
    expect(lease!.validUntil).toBeGreaterThanOrEqual(t0 + 5000 - safetyMargin(5000));
    expect(lease!.validUntil).toBeLessThanOrEqual(performance.now() + 5000 - safetyMargin(5000));
    expect(await b.acquire(key, 'node-b', 5000)).toBeUndefined();
    expect(await b.holder(key)).toEqual({ owner: 'node-a', expiresAt: lease!.expiresAt, ttlMs: 5000, revision: lease!.revision });
    expect(await b.holder(fresh('nobody'))).toBeUndefined();
  });

  it('renews by revision: a new revision and a later deadline on the same object', async () => {
    const lease = (await a.acquire(fresh('renew'), 'node-a', 2000))!;
    const { revision, validUntil, expiresAt } = lease;
    await sleep(5);
    expect(await a.renew(lease)).toBe(lease);
    expect(lease.revision).toBeGreaterThan(revision);
    expect(lease.validUntil).toBeGreaterThan(validUntil);
    expect(lease.expiresAt).toBeGreaterThan(expiresAt);
  });

  it('lets a contender take an expired lease over; the old holder then fails to renew', async () => {
    const key = fresh('takeover');
    const old = (await a.acquire(key, 'node-a', 100))!;
    await outlive(old);
    expect(old.isValid()).toBe(false); // its fence passed before anyone could take over
    const taken = await b.acquire(key, 'node-b', 5000);
    expect(taken?.owner).toBe('node-b');
    expect(await a.renew(old)).toBeUndefined();
    expect(old.state).toBe('lost');
    expect((await a.holder(key))?.owner).toBe('node-b');
  });

  it('never revives a lease by a renew after it was taken over, even a renew sent in time', async () => {
    const key = fresh('stale');
    const old = (await a.acquire(key, 'node-a', 100))!;
    await outlive(old);
    await b.acquire(key, 'node-b', 5000);
    const renewals = await Promise.all([a.renew(old), b.acquire(key, 'node-c', 5000)]);
    expect(renewals).toEqual([undefined, undefined]);
    expect(old.isValid()).toBe(false);
  });

  it('releases only its own lease, by revision', async () => {
    const key = fresh('release');
    const lease = (await a.acquire(key, 'node-a', 5000))!;
    expect(await a.release(lease)).toBe(true);
    expect(lease.state).toBe('released');
    expect(lease.isValid()).toBe(false);
    expect(await a.holder(key)).toBeUndefined();
    expect(await a.release(lease)).toBe(false); // twice: nothing to do
    // Free again (over the delete marker on KV) for anyone.
    const next = (await b.acquire(key, 'node-b', 100))!;
    expect(next.owner).toBe('node-b');
    await outlive(next);
    const third = (await a.acquire(key, 'node-a', 5000))!;
    // node-b's lease lapsed and node-a took over: node-b's release must not free node-a's.
    expect(await b.release(next)).toBe(false);
    expect((await a.holder(key))?.owner).toBe('node-a');
    expect(third.isValid()).toBe(true);
  });

  it('gives an owner its own lease back (a restart), and the older tenure loses it', async () => {
    const key = fresh('restart');
    const first = (await a.acquire(key, 'node-a', 5000))!;
    const second = (await b.acquire(key, 'node-a', 5000))!;
    expect(second.revision).toBeGreaterThan(first.revision);
    expect(await a.renew(first)).toBeUndefined();
    expect(first.isValid()).toBe(false);
    expect(await b.renew(second)).toBe(second);
  });

  it('fences a holder paused past its TTL: invalid on waking, before any round trip', async () => {
    const lease = (await a.acquire(fresh('paused'), 'node-a', 150))!;
    expect(lease.isValid()).toBe(true);
    freeze(200);
    expect(lease.isValid()).toBe(false);
    expect(lease.remainingMs()).toBe(0);
    // Nobody wrote in between, so a renew still gets it back, with a fresh deadline.
    const stale = lease.validUntil;
    const sent = performance.now();
    expect(await a.renew(lease)).toBe(lease);
    expect(lease.validUntil).toBeGreaterThanOrEqual(sent + 150 - safetyMargin(150));
    expect(lease.validUntil).toBeGreaterThan(stale + 200);
  });

  it('abandon() stops a lease locally, and a renew in flight does not revive it', async () => {
    const lease = (await a.acquire(fresh('abandon'), 'node-a', 5000))!;
    const inFlight = a.renew(lease);
    a.abandon(lease);
    expect(lease.isValid()).toBe(false);
    expect(await inFlight).toBeUndefined();
    expect(lease.state).toBe('expired');
  });

  it('refuses misuse with a LeaseError naming the key and the owner', async () => {
    const key = fresh('misuse');
    await expect(a.acquire(key, 'node-a', 5)).rejects.toThrow(LeaseError);
    await expect(a.acquire(key, 'node-a', 5)).rejects.toThrow(`lease "${key}" of owner "node-a": ttlMs must be`);
    await expect(a.acquire(key, 'node-a', 1.5)).rejects.toThrow(LeaseError);
    await expect(a.acquire('', 'node-a', 1000)).rejects.toThrow(/non-empty/);
    await expect(a.acquire(key, '', 1000)).rejects.toThrow(/owner must be/);
    await expect(a.acquire('\uD800', 'node-a', 1000)).rejects.toThrow(/lease "\uD800" of owner "node-a": .*not well-formed Unicode/);
    const lease = (await a.acquire(key, 'node-a', 5000))!;
    await expect(b.renew(lease)).rejects.toThrow(`lease "${key}" of owner "node-a": renew on a store that did not grant it`);
    await expect(b.release(lease)).rejects.toThrow(LeaseError);
    await expect(a.renew({ key } as unknown as Lease)).rejects.toThrow(/not a Lease/);
    const first = a.renew(lease);
    await expect(a.renew(lease)).rejects.toThrow(`lease "${key}" of owner "node-a": renewed while a renew of it is in flight`);
    expect(await first).toBe(lease);
  });

  it('takes keys of any shape: paths, dots, spaces, unicode', async () => {
    for (const key of ['/grand-elder/claude-elder', 'task.42', 'a b', 'ключ', 'x=y']) {
      const lease = (await a.acquire(key + fresh(''), 'node-a', 1000))!;
      expect(await a.release(lease)).toBe(true);
    }
  });
});

describe('lease expiry rule', () => {
  it('lets contenders in only after expiresAt plus the margin', () => {
    const value = { owner: 'a', expiresAt: 10_000, ttlMs: 1000 };
    expect(safetyMargin(1000)).toBe(100);
    expect(safetyMargin(60_000)).toBe(1000); // capped
    expect(isExpired(value, 10_000)).toBe(false);
    expect(isExpired(value, 10_100)).toBe(false);
    expect(isExpired(value, 10_101)).toBe(true);
  });
});

describe('the NATS KV lease bucket', () => {
  it('is created if missing: elders_<cluster>_leases, history 1, a max age backstop', async () => {
    await openKvLeases(nats.nc1, { cluster: 'c1', maxAgeMs: 60_000 });
    const jsm = await jetstreamManager(nats.nc1);
    const info = await jsm.streams.info('KV_elders_c1_leases');
    expect(info.config.max_msgs_per_subject).toBe(1);
    expect(info.config.max_age).toBe(60_000 * 1_000_000);
    // Opening again keeps the bucket, and goes by its real max age: TTLs up to half of it.
    const store = await openKvLeases(nats.nc2, { cluster: 'c1', maxAgeMs: 999_999 });
    expect(store.backend.maxTtlMs).toBe(30_000);
    await expect(store.acquire('k', 'o', 30_001)).rejects.toThrow(/ttlMs must be a whole number of ms from 20 to 30000 \(elders_c1_leases\)/);
    expect((await jsm.streams.info('KV_elders_elders_leases')).config.max_msgs_per_subject).toBe(1);
  });

  it('treats a value that is not a lease as free, and stores readable JSON', async () => {
    const store = await openKvLeases(nats.nc1);
    const kv = await new Kvm(nats.nc1).open('elders_elders_leases');
    const key = fresh('garbage');
    await kv.put(key, 'not json');
    const lease = (await store.acquire(key, 'node-a', 1000))!;
    expect(lease.owner).toBe('node-a');
    expect((await kv.get(key))!.json()).toEqual({ owner: 'node-a', expiresAt: lease.expiresAt, ttlMs: 1000 });
  });
});

interface Recorder {
  events: string[];
  acquired: Lease[];
  options: {
    onAcquired: (lease: Lease) => void;
    onLost: (reason: LeaseLostReason, lease: Lease) => void;
    onError: (err: Error) => void;
  };
  errors: Error[];
}
function recorder(): Recorder {
  const r: Recorder = {
    events: [],
    acquired: [],
    errors: [],
    options: {
      onAcquired: (lease) => {
        r.events.push('acquired');
        r.acquired.push(lease);
      },
      onLost: (reason) => r.events.push(`lost:${reason}`),
      onError: (err) => r.errors.push(err),
    },
  };
  return r;
}
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('LeaseKeeper', () => {
  let a: LeaseStore;
  let b: LeaseStore;
  beforeAll(async () => {
    [a, b] = [await openKvLeases(nats.nc1), await openKvLeases(nats.nc2)];
  });

  it('holds the key, renews it, and hands it to the standby on stop', async () => {
    const key = fresh('keeper');
    const ra = recorder();
    const rb = recorder();
    const ka = new LeaseKeeper(a, key, 'node-a', { ttlMs: 600, pollMs: 20, ...ra.options }).start();
    await until(() => ka.isOwner(), 'node-a to acquire');
    const kb = new LeaseKeeper(b, key, 'node-b', { ttlMs: 600, pollMs: 20, ...rb.options }).start();
    const first = ka.lease!.revision;
    await sleep(1300); // more than 2 TTLs: only renewals keep it
    expect(ka.isOwner()).toBe(true);
    expect(ka.lease!.revision).toBeGreaterThan(first);
    expect(kb.isOwner()).toBe(false);
    const lease = ka.lease!;
    await ka.stop();
    expect(lease.state).toBe('released');
    await until(() => kb.isOwner(), 'node-b to take over');
    await kb.stop();
    expect(ra.events).toEqual(['acquired', 'lost:released']);
    expect(rb.events).toEqual(['acquired', 'lost:released']);
    expect([...ra.errors, ...rb.errors]).toEqual([]);
  });

  it('reports a takeover once as taken, then goes back to standby', async () => {
    const key = fresh('overwritten');
    const r = recorder();
    const keeper = new LeaseKeeper(a, key, 'node-a', { ttlMs: 1000, pollMs: 50, ...r.options }).start();
    await until(() => keeper.isOwner(), 'acquire');
    const lease = keeper.lease!;
    // Someone else writes the key (e.g. an operator, or a node with a broken clock).
    const kv = await new Kvm(nats.nc2).open('elders_elders_leases');
    await kv.put(key, JSON.stringify({ owner: 'intruder', expiresAt: Date.now() + 60_000, ttlMs: 60_000 }));
    await until(() => r.events.length === 2, 'the loss');
    expect(lease.isValid()).toBe(false);
    await sleep(200); // standby polls: the intruder still holds it
    await keeper.stop();
    expect(r.events).toEqual(['acquired', 'lost:taken']);
  });

  it('reports expiry as soon as a paused owner wakes, and takes its own lease back', async () => {
    const r = recorder();
    const keeper = new LeaseKeeper(a, fresh('sigstop'), 'node-a', { ttlMs: 200, pollMs: 20, ...r.options }).start();
    await until(() => keeper.isOwner(), 'acquire');
    const first = keeper.lease!;
    freeze(400); // the whole process stalls past the TTL
    expect(first.isValid()).toBe(false);
    await until(() => r.events.length >= 3, 're-acquire');
    expect(r.events.slice(0, 3)).toEqual(['acquired', 'lost:expired', 'acquired']);
    expect(r.acquired[1]).not.toBe(first);
    expect(first.state).toBe('expired');
    await keeper.stop();
  });

  it('keeps going when callbacks throw, and refuses a second keeper of the same owner', async () => {
    const key = fresh('throwing');
    const errors: Error[] = [];
    const keeper = new LeaseKeeper(a, key, 'node-a', {
      ttlMs: 1000,
      onAcquired: () => {
        throw new Error('callback bug');
      },
      onLost: () => {
        throw new Error('callback bug on loss');
      },
      onError: (err) => errors.push(err),
    }).start();
    await until(() => keeper.isOwner(), 'acquire');
    expect(() => new LeaseKeeper(b, key, 'node-a', { ttlMs: 300 }).start()).toThrow(
      `lease "${key}" of owner "node-a": another keeper of this owner already runs on elders_elders_leases`,
    );
    expect(() => keeper.start()).toThrow(/started twice/);
    expect(() => new LeaseKeeper(a, key, 'x', { ttlMs: 300, renewEveryMs: 300 })).toThrow(LeaseError);
    expect(() => new LeaseKeeper(a, key, 'x', { ttlMs: 10 })).toThrow(`lease "${key}" of owner "x": ttlMs must be`);
    await sleep(400); // renewals on: the loop survived the throwing callback
    expect(keeper.isOwner()).toBe(true);
    await keeper.stop();
    expect(errors.map((e) => e.message)).toEqual(['callback bug', 'callback bug on loss']);
  });

  it('rides out a broker outage: loses the lease on time, no throw, re-acquires after', async () => {
    const own = await startNatsServer();
    try {
      const nc = await connect({ servers: own.url, noAsyncTraces: true, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
      const store = await openKvLeases(nc);
      const r = recorder();
      const keeper = new LeaseKeeper(store, 'flaky', 'node-a', { ttlMs: 300, pollMs: 20, ...r.options }).start();
      await until(() => keeper.isOwner(), 'acquire');
      await own.stop(false); // down for longer than the TTL, store kept
      await sleep(600);
      expect(keeper.isOwner()).toBe(false);
      await own.restart();
      await until(() => r.events.length >= 3 && keeper.isOwner(), 'loss and re-acquire', 15_000);
      expect(r.events.slice(0, 3)).toEqual(['acquired', 'lost:expired', 'acquired']);
      await keeper.stop();
      await nc.close();
    } finally {
      await own.stop();
    }
  });
});

// ---- two processes, SIGSTOP, no two owners -------------------------------------------

/** One keeper per process (built modules, plain node), so SIGSTOP freezes exactly one. */
const CHILD = fileURLToPath(new URL('./fixtures/lease-child.mjs', import.meta.url));

interface Tenure {
  owner: string;
  start: number;
  /** When isValid() turned false: its deadline, or the loss if that came first. */
  end: number;
  reason: string;
}

describe('two keepers in two processes under random SIGSTOP pauses', () => {
  it('never have overlapping validity windows', { timeout: 40_000 }, async () => {
    const ttl = 400;
    const key = fresh('contended');
    const children: { owner: string; proc: ChildProcess; lines: Record<string, unknown>[] }[] = [];
    try {
      for (const owner of ['proc-a', 'proc-b']) {
        const proc = spawn(process.execPath, [CHILD, nats.server.url, key, owner, String(ttl)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const child = { owner, proc, lines: [] as Record<string, unknown>[] };
        let buffer = '';
        proc.stdout!.on('data', (d: Buffer) => {
          buffer += d;
          for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
            child.lines.push(JSON.parse(buffer.slice(0, i)));
            buffer = buffer.slice(i + 1);
          }
        });
        children.push(child);
      }
      await until(() => children.every((c) => c.lines.some((l) => l.ev === 'ready')), 'children ready', 10_000);
      const holding = (c: (typeof children)[number]) => c.lines.filter((l) => l.ev === 'acquired').length > c.lines.filter((l) => l.ev === 'lost').length;
      const pause = async (c: (typeof children)[number], ms: number) => {
        c.proc.kill('SIGSTOP');
        await sleep(ms);
        c.proc.kill('SIGCONT');
      };
      // Deterministic pseudo-random schedule: long pauses of the holder (a takeover),
      // short random pauses of anyone (around the TTL: renewals at the edge).
      let seed = 42;
      const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
      for (let round = 0; round < 12; round++) {
        if (round % 3 === 1) {
          // The holder stalls for 2.5 TTLs: the other must take over, and this one must
          // see its lease invalid the moment it wakes.
          await until(() => children.some(holding), 'a holder', 10_000);
          await pause(children.find(holding)!, 2.5 * ttl);
        } else {
          await pause(children[Math.floor(random() * 2)]!, random() * 1.5 * ttl);
        }
        await sleep(50 + random() * ttl);
      }
      for (const c of children) {
        c.proc.kill('SIGCONT');
        c.proc.kill('SIGTERM');
      }
      await until(() => children.every((c) => c.proc.exitCode !== null), 'children to stop', 10_000);

      const tenures: Tenure[] = [];
      for (const c of children) {
        const transitions = c.lines.filter((l) => l.ev === 'acquired' || l.ev === 'lost');
        // Exactly once per transition: acquired, lost, acquired, lost, ...
        expect(transitions.map((l) => l.ev)).toEqual(transitions.map((_, i) => (i % 2 ? 'lost' : 'acquired')));
        expect(transitions.length % 2).toBe(0);
        for (let i = 0; i < transitions.length; i += 2) {
          const lost = transitions[i + 1]!;
          tenures.push({
            owner: c.owner,
            start: transitions[i]!.at as number,
            end: Math.min(lost.at as number, lost.validUntil as number),
            reason: lost.reason as string,
          });
        }
        expect(c.lines.at(-1)?.ev).toBe('stopped');
      }
      const [mine, theirs] = [tenures.filter((t) => t.owner === 'proc-a'), tenures.filter((t) => t.owner === 'proc-b')];
      for (const x of mine) {
        for (const y of theirs) {
          const overlap = Math.min(x.end, y.end) - Math.max(x.start, y.start);
          if (overlap > 0) throw new Error(`two owners for ${overlap.toFixed(1)} ms: ${JSON.stringify([x, y])}`);
        }
      }
      // The schedule really did move the lease around.
      expect(mine.length).toBeGreaterThan(0);
      expect(theirs.length).toBeGreaterThan(0);
      expect(tenures.length).toBeGreaterThanOrEqual(4);
      const takeovers = tenures.filter((t) => t.reason === 'expired' || t.reason === 'taken').length;
      expect(takeovers).toBeGreaterThanOrEqual(3);
      console.log(
        `SIGSTOP test: ${tenures.length} tenures (${mine.length} / ${theirs.length}), ` +
          `${takeovers} lost to pauses, reasons ${JSON.stringify(tenures.map((t) => t.reason))}`,
      );
    } finally {
      for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    }
  });
});
