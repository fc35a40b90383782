/**
 * LeaseKeeper: holds one key for one owner as long as it can. As a standby it tries to
 * acquire every `pollMs`; as the owner it renews every ttl/3. onAcquired and onLost
 * fire exactly once per transition, and onLost fires as soon as the lease stops being
 * valid (taken over, local deadline passed, or released by stop()), even while a
 * renew is still in flight. Nothing it does throws out of a timer: I/O errors and
 * throwing callbacks go to onError and the loop goes on.
 *
 * `owner` must identify this holder uniquely across the cluster (node id, or node id +
 * subtree): an owner takes its own lease back at once, which is what a restarted node
 * wants, and what two live holders sharing an id must never do. Within one process a
 * second keeper of the same store, key and owner is refused.
 */
import { rateLimited, type Logger } from '../log.js';
import type { Lease, LeaseStore } from './lease.js';
import { LeaseError } from './lease.js';
import { explainNatsError, isTransient } from './nats-errors.js';

export type LeaseLostReason =
  /** Someone else wrote the key (our renew's CAS failed). */
  | 'taken'
  /** The local deadline passed before a renew got through (paused, cut off, slow store). */
  | 'expired'
  /** stop() gave it up. */
  | 'released';

export interface LeaseKeeperOptions {
  ttlMs: number;
  /** Standby: how often to try to acquire while someone else holds the key (default ttl/4). */
  pollMs?: number;
  /** Owner: how often to renew (default ttl/3, so two renews can fail before the deadline). */
  renewEveryMs?: number;
  onAcquired?: (lease: Lease) => void;
  onLost?: (reason: LeaseLostReason, lease: Lease) => void;
  /** Store errors (the loop retries) and callbacks that threw. Default: ignored. */
  onError?: (err: Error) => void;
}

/** Keepers alive in this process, by store, key and owner: two of them would fight. */
const active = new Set<string>();

export class LeaseKeeper {
  readonly ttlMs: number;
  readonly pollMs: number;
  readonly renewEveryMs: number;
  #lease: Lease | undefined;
  #started = false;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #expiry: NodeJS.Timeout | undefined;
  readonly #id: string;

  constructor(
    readonly store: LeaseStore,
    readonly key: string,
    readonly owner: string,
    private readonly options: LeaseKeeperOptions,
  ) {
    const { ttlMs } = options;
    store.validate(key, owner, ttlMs); // misuse fails here, not as an error per poll
    this.ttlMs = ttlMs;
    this.pollMs = options.pollMs ?? Math.max(10, Math.floor(ttlMs / 4));
    this.renewEveryMs = options.renewEveryMs ?? Math.max(5, Math.floor(ttlMs / 3));
    if (!(this.pollMs > 0) || !(this.renewEveryMs > 0) || this.renewEveryMs >= ttlMs) {
      throw new LeaseError(key, owner, `keeper needs pollMs > 0 and 0 < renewEveryMs < ttlMs (${ttlMs}), got ${this.pollMs} and ${this.renewEveryMs}`);
    }
    this.#id = `${store.backend.name}\0${key}\0${owner}`;
  }

  /** The current tenure, if any. Act only while `lease.isValid()`. */
  get lease(): Lease | undefined {
    return this.#lease;
  }

  /** True while we hold a valid lease. */
  isOwner(): boolean {
    return this.#lease?.isValid() ?? false;
  }

  start(): this {
    if (this.#started) throw new LeaseError(this.key, this.owner, 'keeper started twice');
    if (active.has(this.#id)) {
      throw new LeaseError(this.key, this.owner, `another keeper of this owner already runs on ${this.store.backend.name}`);
    }
    active.add(this.#id);
    this.#started = true;
    this.#loop = this.#run().catch((err) => this.#error(err));
    return this;
  }

  /** Gives the lease up (onLost 'released') and ends the loop; in-flight I/O is awaited. */
  async stop(): Promise<void> {
    if (!this.#started || this.#stopped) return this.#loop;
    this.#stopped = true;
    this.#wake?.();
    const lease = this.#lease;
    if (lease !== undefined) {
      this.#clear();
      // release() makes the lease invalid synchronously, before onLost and the round trip.
      const released = this.store.release(lease);
      this.#emitLost('released', lease);
      await released.catch((err) => this.#error(err));
    }
    await this.#loop;
    active.delete(this.#id);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#checkExpiry();
      const held = this.#lease;
      let delay: number;
      if (held === undefined) {
        delay = jitter(this.pollMs);
        try {
          const lease = await this.store.acquire(this.key, this.owner, this.ttlMs);
          if (lease !== undefined && this.#stopped) {
            await this.store.release(lease); // acquired while stopping: nobody was told
          } else if (lease !== undefined) {
            this.#lease = lease;
            this.#armExpiry(lease);
            this.#emit(() => this.options.onAcquired?.(lease));
            delay = this.renewEveryMs;
          }
        } catch (err) {
          this.#error(err);
        }
      } else {
        delay = this.renewEveryMs;
        try {
          const renewed = await this.store.renew(held);
          if (this.#lease !== held) delay = 0; // lost meanwhile: try again at once
          else if (renewed === undefined) {
            this.#lose('taken');
            delay = 0;
          } else this.#armExpiry(held);
        } catch (err) {
          this.#error(err);
          delay = Math.max(5, Math.floor(this.ttlMs / 10)); // retry soon, the deadline runs
        }
      }
      if (!this.#stopped) await this.#sleep(delay);
    }
  }

  /** onLost the moment the deadline passes, even if the loop is stuck on I/O. */
  #armExpiry(lease: Lease): void {
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#checkExpiry(), Math.max(0, lease.validUntil - performance.now()) + 1);
  }

  #checkExpiry(): void {
    const lease = this.#lease;
    if (lease === undefined || lease.isValid()) {
      if (lease !== undefined) this.#armExpiry(lease); // timer fired early
      return;
    }
    // A renew that already failed leaves the lease `lost`: report it as taken.
    this.#lose(lease.state === 'lost' ? 'taken' : 'expired');
  }

  #lose(reason: LeaseLostReason): void {
    const lease = this.#lease;
    if (lease === undefined) return;
    this.#clear();
    if (reason === 'expired') this.store.abandon(lease); // a late renew must not revive it
    this.#emitLost(reason, lease);
    this.#wake?.();
  }

  #clear(): void {
    this.#lease = undefined;
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  #emitLost(reason: LeaseLostReason, lease: Lease): void {
    this.#emit(() => this.options.onLost?.(reason, lease));
  }

  #emit(callback: () => void): void {
    try {
      callback();
    } catch (err) {
      this.#error(err);
    }
  }

  #error(err: unknown): void {
    try {
      this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // onError itself threw: nowhere left to report it, and timers must not throw.
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** ±10 %, so standbys started together do not poll in lockstep. */
function jitter(ms: number): number {
  return Math.max(1, Math.round(ms * (0.9 + Math.random() * 0.2)));
}

/**
 * A keeper's onError for `logger`: rate-limited per `key`, because during a JetStream
 * election every renew and poll fails, ten times a second (and a region keeps one keeper
 * per owned shard); an election's errors in one line, anything else with its stack.
 */
export function leaseErrorLog(logger: Logger, key: string, what: string, leases: LeaseStore, fields: Record<string, unknown> = {}): (err: Error) => void {
  return (err) =>
    rateLimited(logger).warn(key, { ...fields, err: isTransient(err) ? err.message : err }, `lease of ${what}: ${explainNatsError(err, `KV_${leases.backend.name}`)}`);
}
