/**
 * Task locks (the seed's task-lock mechanism): so that two task sages or two servants
 * never take the same task. They are leases on their own bucket, with the same rules:
 * CAS on absence to take a free task, CAS on the revision to renew, take over, or
 * release; expiry by the timestamps in the value, checked with a safety margin.
 *
 *   const locks = await KvTaskLocks.open(nc);          // cluster: elders_<cluster>_locks
 *   const locks = new MemoryTaskLocks();               // embedded runtime, no NATS
 *   const lock = await locks.acquire('task-42', 'servant-1', 30_000);
 *   if (lock) { ... while (lock.isValid()) work ...; await locks.release(lock); }
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Lease, LeaseError, LeaseStore } from './lease.js';
import { openKvLeaseBackend, type KvLeaseOptions } from './lease-kv.js';
import { MemoryLeaseBackend } from './lease-memory.js';

/** A held task lock. Check isValid() before acting on the task; it needs no I/O. */
export interface TaskLock {
  readonly key: string;
  readonly owner: string;
  /** Store revision of the holder's last write: renew and release are CAS on it. */
  readonly revision: number;
  readonly ttlMs: number;
  /** Wall-clock ms: others may take the task over a safety margin after this. */
  readonly expiresAt: number;
  isValid(): boolean;
}

export interface TaskLocks {
  /** The lock, or undefined while someone else holds `key`. */
  acquire(key: string, owner: string, ttlMs: number): Promise<TaskLock | undefined>;
  /** The same lock extended by its TTL, or undefined once it was taken over or released. */
  renew(lock: TaskLock): Promise<TaskLock | undefined>;
  /** True if this lock was still ours and is now free; never frees someone else's. */
  release(lock: TaskLock): Promise<boolean>;
  /** Who holds `key`, until anyone else may take it over. */
  holder(key: string): Promise<{ owner: string; expiresAt: number } | undefined>;
}

/**
 * TaskLocks over a LeaseStore. The locks it hands out are Lease objects, and it
 * accepts only those back (a LeaseError says so otherwise).
 */
class LeaseTaskLocks implements TaskLocks {
  constructor(readonly leases: LeaseStore) {}
  acquire(key: string, owner: string, ttlMs: number): Promise<TaskLock | undefined> {
    return this.leases.acquire(key, owner, ttlMs);
  }
  async renew(lock: TaskLock): Promise<TaskLock | undefined> {
    return this.leases.renew(asLease(lock));
  }
  async release(lock: TaskLock): Promise<boolean> {
    return this.leases.release(asLease(lock));
  }
  async holder(key: string): Promise<{ owner: string; expiresAt: number } | undefined> {
    const holder = await this.leases.holder(key);
    return holder && { owner: holder.owner, expiresAt: holder.expiresAt };
  }
}

function asLease(lock: TaskLock): Lease {
  if (lock instanceof Lease) return lock;
  throw new LeaseError(String(lock?.key), String(lock?.owner), 'not a lock handed out by task locks');
}

/** Task locks in NATS KV, bucket `elders_<cluster>_locks` (created if missing). */
export class KvTaskLocks extends LeaseTaskLocks {
  static async open(nc: NatsConnection | JetStreamClient, options: KvLeaseOptions = {}): Promise<KvTaskLocks> {
    return new KvTaskLocks(new LeaseStore(await openKvLeaseBackend(nc, 'locks', options)));
  }
}

/** Task locks of the embedded single-process runtime: same rules, no NATS. */
export class MemoryTaskLocks extends LeaseTaskLocks {
  constructor() {
    super(new LeaseStore(new MemoryLeaseBackend('memory task locks')));
  }
}
