/**
 * The in-process backend of leases, for the embedded single-process runtime: a Map
 * with one revision counter, the same CAS rules as a KV bucket with history 1. All
 * lease logic (expiry by timestamps, margins, fencing) is LeaseStore's, shared with
 * the NATS backend, so both behave the same.
 */
import { LeaseStore, type LeaseBackend, type LeaseEntry, type LeaseValue } from './lease.js';

export class MemoryLeaseBackend implements LeaseBackend {
  readonly maxTtlMs = Number.MAX_SAFE_INTEGER;
  #entries = new Map<string, { revision: number; value: LeaseValue }>();
  #revision = 0;

  constructor(readonly name = 'memory') {}

  // async, like the network backend: callers see the same interleavings at await points.
  async create(key: string, value: LeaseValue): Promise<number | undefined> {
    if (this.#entries.has(key)) return undefined;
    return this.#write(key, value);
  }

  async update(key: string, value: LeaseValue, revision: number): Promise<number | undefined> {
    if (this.#entries.get(key)?.revision !== revision) return undefined;
    return this.#write(key, value);
  }

  async get(key: string): Promise<LeaseEntry | undefined> {
    const entry = this.#entries.get(key);
    // Copy: a caller must not be able to edit the stored value.
    return entry && { revision: entry.revision, value: { ...entry.value } };
  }

  async delete(key: string, revision: number): Promise<boolean> {
    if (this.#entries.get(key)?.revision !== revision) return false;
    // No delete marker needed: create on an absent key is what a marker allows anyway.
    this.#entries.delete(key);
    return true;
  }

  #write(key: string, value: LeaseValue): number {
    const revision = ++this.#revision;
    this.#entries.set(key, { revision, value: { ...value } });
    return revision;
  }
}

/** Leases for the embedded runtime: no NATS. */
export function memoryLeases(name = 'memory leases'): LeaseStore {
  return new LeaseStore(new MemoryLeaseBackend(name));
}
