/**
 * Leases: "this key is mine until T", on a compare-and-set store (NATS KV in a
 * cluster, a Map in the embedded runtime; see lease-kv.ts and lease-memory.ts).
 *
 * Expiry never relies on the store deleting anything (nats-server 2.9 ignores per-key
 * TTL): the value says { owner, expiresAt, ttlMs }, and anyone may take a lease over,
 * by CAS on the revision they read, once their wall clock is past expiresAt plus a
 * safety margin. The holder, for its part, trusts a LOCAL monotonic deadline,
 * `validUntil` = performance.now() when the acquire/renew was sent + ttl - margin, and
 * checks `lease.isValid()` before acting. A holder frozen (GC, SIGSTOP, swap) past its
 * TTL sees itself invalid the moment it wakes, before any round trip, and its validity
 * always ends 2 x margin before anyone else may take over (clock skew up to that much
 * between nodes is absorbed).
 */
import { EldertreeError } from '../actors/errors.js';
import { encodeKey } from './kv-names.js';

/** What the store holds under a lease key. */
export interface LeaseValue {
  owner: string;
  /** Wall-clock ms since epoch: others may take over after expiresAt + margin. */
  expiresAt: number;
  ttlMs: number;
}

/** Who holds a key, as far as acquire by anyone else is concerned. */
export interface LeaseHolder extends LeaseValue {
  revision: number;
}

/** A stored entry: `value` is undefined for a delete marker or an unreadable value. */
export interface LeaseEntry {
  revision: number;
  value: LeaseValue | undefined;
}

/**
 * The compare-and-set store under a LeaseStore. Keys arrive already encoded. Every
 * write returns the entry's new revision, or undefined when the precondition failed
 * (someone else wrote first); other failures (timeouts, no connection) reject.
 */
export interface LeaseBackend {
  /** For messages: the bucket or store name. */
  readonly name: string;
  /** Longest TTL a lease may have: the store may drop values older than twice this. */
  readonly maxTtlMs: number;
  /** Writes only if the key has no entry (a delete marker counts as an entry). */
  create(key: string, value: LeaseValue, timeoutMs?: number): Promise<number | undefined>;
  /** Writes only if the key's last revision is `revision`; `timeoutMs` bounds the wait. */
  update(key: string, value: LeaseValue, revision: number, timeoutMs?: number): Promise<number | undefined>;
  get(key: string): Promise<LeaseEntry | undefined>;
  /** Deletes only if the key's last revision is `revision`; false if it is not. */
  delete(key: string, revision: number): Promise<boolean>;
}

/** Misuse of a lease (bad arguments, renewing twice at once, a lease of another store). */
export class LeaseError extends EldertreeError {
  override name = 'LeaseError';
  constructor(
    readonly key: string,
    readonly owner: string,
    problem: string,
  ) {
    super(`lease "${key}" of owner "${owner}": ${problem}`);
  }
}

/**
 * The safety margin of a TTL: a tenth, at most 1 s. Derived from the TTL stored in the
 * value, so holder and contenders agree on it without sharing any configuration.
 */
export function safetyMargin(ttlMs: number): number {
  return Math.min(1000, Math.ceil(ttlMs / 10));
}

/** Shortest TTL accepted: below this the margin and a round trip eat the lease. */
export const MIN_TTL_MS = 20;

/** `held` until the holder learns otherwise: `lost` (someone else wrote), `expired`, `released`. */
export type LeaseState = 'held' | 'lost' | 'expired' | 'released';

// Module-private mutators: only LeaseStore changes a lease; holders just read it.
let grant: (lease: Lease, revision: number, expiresAt: number, validUntil: number) => void;
let end: (lease: Lease, state: Exclude<LeaseState, 'held'>) => void;
let claim: (lease: Lease, busy: boolean) => boolean;

/**
 * One tenure of one key by one owner. Renewing updates this same object, so whoever
 * was handed the lease keeps checking the right deadline.
 */
export class Lease {
  #revision: number;
  #expiresAt: number;
  #validUntil: number;
  #state: LeaseState = 'held';
  #busy = false;

  static {
    grant = (lease, revision, expiresAt, validUntil) => {
      lease.#revision = revision;
      lease.#expiresAt = expiresAt;
      lease.#validUntil = validUntil;
    };
    end = (lease, state) => {
      if (lease.#state === 'held') lease.#state = state;
    };
    claim = (lease, busy) => {
      if (busy && lease.#busy) return false;
      lease.#busy = busy;
      return true;
    };
  }

  /** @internal Leases come from LeaseStore.acquire. */
  constructor(
    readonly store: LeaseStore,
    /** The key as given (not the encoded KV key). */
    readonly key: string,
    readonly owner: string,
    readonly ttlMs: number,
    revision: number,
    expiresAt: number,
    validUntil: number,
  ) {
    this.#revision = revision;
    this.#expiresAt = expiresAt;
    this.#validUntil = validUntil;
  }

  /** The store revision of our last write: renew and release are CAS on it. */
  get revision(): number {
    return this.#revision;
  }
  /** Wall-clock expiry written in the store (what other nodes go by). */
  get expiresAt(): number {
    return this.#expiresAt;
  }
  /** Local monotonic deadline (performance.now() scale): the fencing token. */
  get validUntil(): number {
    return this.#validUntil;
  }
  get state(): LeaseState {
    return this.#state;
  }
  /** Check before every action taken as the owner. No I/O. */
  isValid(): boolean {
    return this.#state === 'held' && performance.now() < this.#validUntil;
  }
  /** Ms of validity left, 0 when invalid. */
  remainingMs(): number {
    return this.isValid() ? this.#validUntil - performance.now() : 0;
  }
  toJSON() {
    return { key: this.key, owner: this.owner, revision: this.#revision, expiresAt: this.#expiresAt, state: this.#state };
  }
}

/**
 * Acquire, renew, release and inspect leases on one backend. Stateless apart from the
 * backend: any number of stores, on any number of connections, may share a bucket.
 * Also satisfies the TaskLocks interface of task-locks.ts.
 */
export class LeaseStore {
  constructor(readonly backend: LeaseBackend) {}

  /**
   * Takes `key` for `owner` for `ttlMs`: a fresh key in one CAS write; a released or
   * expired key, or one this owner already holds (e.g. before a restart), by CAS on the
   * revision read. Undefined when someone else holds it. `owner` must be unique per
   * holder (node id, node id + actor): the same owner re-acquires its own lease.
   */
  async acquire(key: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    const k = this.validate(key, owner, ttlMs);
    // An answer later than the TTL would bring a lease already over: do not wait longer.
    const timeout = opTimeout(ttlMs);
    let current: LeaseEntry | undefined;
    // Optimistic create first: a fresh key costs exactly one round trip. Twice at most:
    // the entry can vanish between our create and get (the max-age backstop).
    for (let attempt = 0; attempt < 2 && current === undefined; attempt++) {
      const sent = performance.now();
      const value = valueFor(owner, ttlMs);
      const created = await this.backend.create(k, value, timeout);
      if (created !== undefined) return new Lease(this, key, owner, ttlMs, created, value.expiresAt, deadline(sent, ttlMs));
      current = await this.backend.get(k);
    }
    if (current === undefined) return undefined;
    if (current.value !== undefined && current.value.owner !== owner && !isExpired(current.value, Date.now())) {
      return undefined;
    }
    // Released, expired, unreadable, or ours already: take it by CAS on what we read.
    const sent = performance.now();
    const value = valueFor(owner, ttlMs);
    const revision = await this.backend.update(k, value, current.revision, timeout);
    if (revision === undefined) return undefined;
    return new Lease(this, key, owner, ttlMs, revision, value.expiresAt, deadline(sent, ttlMs));
  }

  /**
   * Extends the lease by its TTL from now, by CAS on its revision: the same lease on
   * success, undefined once anyone else has written the key (the lease is then `lost`
   * and isValid() is false). A renew that arrives after the local deadline may still
   * succeed: nobody else wrote, so nobody else can have taken over. Rejects on I/O
   * failure, leaving the lease as it was: its deadline still stands.
   */
  async renew(lease: Lease): Promise<Lease | undefined> {
    this.#own(lease, 'renew');
    if (lease.state !== 'held') return undefined;
    if (!claim(lease, true)) throw new LeaseError(lease.key, lease.owner, 'renewed while a renew of it is in flight');
    try {
      const sent = performance.now();
      const value = valueFor(lease.owner, lease.ttlMs);
      const k = encodeKey(lease.key);
      // No point waiting for an answer long past the deadline: fail, and let the caller retry.
      const revision = await this.backend.update(k, value, lease.revision, opTimeout(lease.remainingMs()));
      if (revision === undefined) {
        end(lease, 'lost');
        return undefined;
      }
      // Abandoned or released while the write was in flight: the holder has been told it
      // lost the lease, so it must not come back to life. A release's delete carried the
      // old revision and missed: delete this one. An abandoned value lapses, or the same
      // owner re-acquires it.
      if (lease.state !== 'held') {
        if (lease.state === 'released') await this.backend.delete(k, revision);
        return undefined;
      }
      grant(lease, revision, value.expiresAt, deadline(sent, lease.ttlMs));
      return lease;
    } finally {
      claim(lease, false);
    }
  }

  /**
   * Gives the lease up: invalid at once, then a CAS delete on its revision, so a lease
   * someone else has taken over is never deleted. True if our entry was deleted.
   */
  async release(lease: Lease): Promise<boolean> {
    this.#own(lease, 'release');
    // An expired lease nobody took yet is still ours to delete; a lost one never is.
    if (lease.state === 'lost' || lease.state === 'released') return false;
    end(lease, 'released');
    return this.backend.delete(encodeKey(lease.key), lease.revision);
  }

  /**
   * Stops using a lease without a round trip: isValid() is false from now on and a
   * renew in flight will not revive it. Its entry lapses at expiresAt, unless the same
   * owner re-acquires it first.
   */
  abandon(lease: Lease): void {
    this.#own(lease, 'abandon');
    end(lease, 'expired');
  }

  /** The current holder, until anyone else may take the key over; else undefined. */
  async holder(key: string): Promise<LeaseHolder | undefined> {
    const entry = await this.backend.get(encodeKey(key));
    if (entry?.value === undefined || isExpired(entry.value, Date.now())) return undefined;
    return { ...entry.value, revision: entry.revision };
  }

  /** Throws the LeaseError an acquire with these arguments would; returns the KV key. */
  validate(key: string, owner: string, ttlMs: number): string {
    if (typeof key !== 'string' || key.length === 0) throw new LeaseError(String(key), owner, 'the key must be a non-empty string');
    if (typeof owner !== 'string' || owner.length === 0) throw new LeaseError(key, String(owner), 'the owner must be a non-empty string');
    if (!Number.isInteger(ttlMs) || ttlMs < MIN_TTL_MS || ttlMs > this.backend.maxTtlMs) {
      throw new LeaseError(
        key,
        owner,
        `ttlMs must be a whole number of ms from ${MIN_TTL_MS} to ${this.backend.maxTtlMs} (${this.backend.name}), got ${ttlMs}`,
      );
    }
    try {
      return encodeKey(key);
    } catch (err) {
      throw new LeaseError(key, owner, (err as Error).message);
    }
  }

  #own(lease: Lease, what: string): void {
    if (!(lease instanceof Lease)) throw new LeaseError(String((lease as { key?: unknown })?.key), '?', `${what} of something that is not a Lease`);
    if (lease.store !== this) throw new LeaseError(lease.key, lease.owner, `${what} on a store that did not grant it`);
  }
}

function valueFor(owner: string, ttlMs: number): LeaseValue {
  return { owner, expiresAt: Date.now() + ttlMs, ttlMs };
}

/**
 * How long a write may wait for its answer: about as long as the lease it brings would
 * last, within 0.5 to 5 s (nats.js's default), so a write lost in a broker outage fails
 * and is retried instead of blocking its caller for the default 5 s.
 */
function opTimeout(ms: number): number {
  return Math.min(5000, Math.max(500, Math.ceil(ms)));
}

/** The holder's fence: from when the write was sent, minus the margin. */
function deadline(sentAt: number, ttlMs: number): number {
  return sentAt + ttlMs - safetyMargin(ttlMs);
}

/** True once a contender may take the lease over. */
export function isExpired(value: LeaseValue, wallNow: number): boolean {
  return wallNow > value.expiresAt + safetyMargin(value.ttlMs);
}

/** Parses a stored value; undefined for anything that is not a lease (then it is free). */
export function parseLeaseValue(raw: unknown): LeaseValue | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { owner, expiresAt, ttlMs } = raw as Record<string, unknown>;
  if (typeof owner !== 'string' || typeof expiresAt !== 'number' || typeof ttlMs !== 'number') return undefined;
  if (!Number.isFinite(expiresAt) || !Number.isFinite(ttlMs) || ttlMs < 0) return undefined;
  return { owner, expiresAt, ttlMs };
}
