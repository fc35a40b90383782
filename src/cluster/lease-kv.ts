/**
 * The NATS KV backend of leases: one bucket, history 1, values as JSON so that
 * `nats kv get` shows who holds what. Every write is a JetStream publish with an
 * expected-last-subject-sequence header (what kv.create and kv.update send); a
 * "wrong last sequence" API error (10071, or 10164 from newer servers) means someone
 * else wrote first.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { openBucket, type BucketOptions } from './buckets.js';
import { bucketName } from './kv-names.js';
import { LeaseStore, parseLeaseValue, type LeaseBackend, type LeaseEntry, type LeaseValue } from './lease.js';

/** Bucket max age: only a garbage-collection backstop for keys nobody touches again. */
export const DEFAULT_LEASE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface KvLeaseOptions extends BucketOptions {
  /** Cluster name (default `elders`): the bucket is `elders_<cluster>_<purpose>`. */
  cluster?: string;
  /** Overrides the bucket name. */
  bucket?: string;
  /**
   * Max age of the bucket, used when creating it (an existing bucket keeps its own).
   * Leases may last at most half of it: a value is rewritten at least once per TTL,
   * so the backstop never removes a lease that is still valid.
   */
  maxAgeMs?: number;
}

export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Opens (creating if missing) a lease bucket; `purpose` names it, e.g. `leases`, `locks`. */
export async function openKvLeaseBackend(
  nc: NatsConnection | JetStreamClient,
  purpose: string,
  options: KvLeaseOptions = {},
): Promise<KvLeaseBackend> {
  const name = options.bucket ?? bucketName(options.cluster ?? 'elders', purpose);
  const kv = await openBucket(nc, name, { history: 1, ttl: options.maxAgeMs ?? DEFAULT_LEASE_MAX_AGE_MS }, options);
  // The bucket may predate us with another max age: go by what it really has (0 = none).
  const { ttl } = await kv.status();
  return new KvLeaseBackend(kv, name, ttl > 0 ? Math.floor(ttl / 2) : Number.MAX_SAFE_INTEGER);
}

/** Leases in `elders_<cluster>_leases` (singletons, placement). */
export async function openKvLeases(nc: NatsConnection | JetStreamClient, options: KvLeaseOptions = {}): Promise<LeaseStore> {
  return new LeaseStore(await openKvLeaseBackend(nc, 'leases', options));
}

export class KvLeaseBackend implements LeaseBackend {
  constructor(
    readonly kv: KV,
    readonly name: string,
    readonly maxTtlMs: number,
  ) {}

  async create(key: string, value: LeaseValue, timeoutMs?: number): Promise<number | undefined> {
    // kv.create's own first step. Not kv.create itself: on an existing key it adds a get
    // (to revive delete markers) that acquire does anyway, and would do it twice.
    return this.#cas(() => this.kv.put(key, JSON.stringify(value), { previousSeq: 0, timeout: timeoutMs }));
  }

  async update(key: string, value: LeaseValue, revision: number, timeoutMs?: number): Promise<number | undefined> {
    return this.#cas(() => this.kv.update(key, JSON.stringify(value), revision, timeoutMs));
  }

  async get(key: string): Promise<LeaseEntry | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null) return undefined;
    if (entry.operation !== 'PUT') return { revision: entry.revision, value: undefined };
    let raw: unknown;
    try {
      raw = entry.json();
    } catch {
      raw = undefined; // not JSON: not a lease, so free to take over
    }
    return { revision: entry.revision, value: parseLeaseValue(raw) };
  }

  async delete(key: string, revision: number): Promise<boolean> {
    return (await this.#cas(async () => (await this.kv.delete(key, { previousSeq: revision }), 1))) !== undefined;
  }

  async #cas(write: () => Promise<number>): Promise<number | undefined> {
    try {
      return await write();
    } catch (err) {
      if (isWrongLastSequence(err)) return undefined;
      throw err;
    }
  }
}
