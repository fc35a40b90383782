import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
/**
 * Persistent actors: the last `actor.getPersistedSnapshot()` of an actor, saved under
 * its path with the version of the machine that made it, so that a restart or a
 * failover resumes from there. A snapshot from another machine version is refused
 * (loadChecked) rather than fed to a machine that may not understand it.
 *
 *   await store.save('/app/counter', '3', actor.getPersistedSnapshot());
 *   const snapshot = await loadChecked(store, '/app/counter', '3');
 *   createActor(machine, snapshot === undefined ? {} : { snapshot });
 *
 * After a failover, only the lease holder should save (check lease.isValid() first).
 * The KV store also makes each save a compare-and-set on the revision it last read or
 * wrote for that path: a late save from an owner that lost the actor (a put on its way
 * when its node froze) is refused instead of writing over the new owner's state.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import { EldertreeError } from '../actors/errors.js';
import { SnapshotConflictError, SnapshotError } from '../actors/persistence.js';
import { openBucket, type BucketOptions } from './buckets.js';
import { bucketName, encodeKey } from './kv-names.js';
import { isWrongLastSequence } from './lease-kv.js';
import { explainNatsError, isTransient } from './nats-errors.js';

export interface StoredSnapshot {
  version: string;
  snapshot: unknown;
  /** Wall-clock ms of the save (absent if the store does not know it). */
  savedAt?: number;
}

export interface SnapshotStore {
  load(path: string): Promise<StoredSnapshot | undefined>;
  save(path: string, version: string, snapshot: unknown): Promise<void>;
}

export class SnapshotVersionError extends EldertreeError {
  override name = 'SnapshotVersionError';
  constructor(
    readonly path: string,
    readonly savedVersion: string,
    readonly version: string,
  ) {
    super(`snapshot of ${path} was saved by machine version ${savedVersion}, this is version ${version}`);
  }
}

/** The saved snapshot of `path`, undefined if there is none; throws if another version saved it. */
export async function loadChecked(store: SnapshotStore, path: string, version: string): Promise<unknown> {
  const stored = await store.load(path);
  if (stored === undefined) return undefined;
  if (stored.version !== version) throw new SnapshotVersionError(path, stored.version, version);
  return stored.snapshot;
}

// Plain msgpack maps, as on the wire (transport/codec.ts): readable by any msgpack reader.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** What both stores keep: the packed bytes, so memory and KV round-trip values alike. */
function encode(path: string, version: string, snapshot: unknown): Uint8Array {
  if (typeof version !== 'string' || version.length === 0) {
    throw new SnapshotError(path, `snapshot of ${path}: the machine version must be a non-empty string, got ${JSON.stringify(version)}`);
  }
  try {
    return packr.pack({ version, snapshot, savedAt: Date.now() });
  } catch (err) {
    throw new SnapshotError(path, `snapshot of ${path} cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
}

function decode(path: string, bytes: Uint8Array): StoredSnapshot {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new SnapshotError(path, `stored snapshot of ${path} is not msgpack: ${(err as Error).message}`, { cause: err });
  }
  const { version, snapshot, savedAt } = (value ?? {}) as Record<string, unknown>;
  if (typeof version !== 'string') throw new SnapshotError(path, `stored value of ${path} is not a snapshot (no version)`);
  return typeof savedAt === 'number' ? { version, snapshot, savedAt } : { version, snapshot };
}

export { SnapshotConflictError, SnapshotError };

export interface KvSnapshotOptions extends BucketOptions {
  /** Cluster name (default `elders`): the bucket is `elders_<cluster>_snapshots`. */
  cluster?: string;
  /** Overrides the bucket name. */
  bucket?: string;
}

/** Snapshots in NATS KV, one key per actor path, history 1, no expiry. */
export class KvSnapshotStore implements SnapshotStore {
  /** The key's revision as this store last read or wrote it (0: absent): saves CAS on it. */
  readonly #revisions = new Map<string, number>();
  /**
   * Digests of the saves that timed out since the last one confirmed, by path: any of
   * them may have landed all the same (a reconnect flushes requests late). Not just the
   * last: when an earlier one landed and a later one's compare-and-set then failed on it,
   * only the earlier one's bytes are in the store, and every save after would be refused.
   */
  readonly #unsure = new Map<string, string[]>();

  /** The bucket's stream, for messages. */
  readonly stream: string;

  constructor(
    readonly kv: KV,
    /** How long a load waits out an election before failing (default 15 s). */
    readonly loadPatienceMs = 15_000,
  ) {
    this.stream = `KV_${(kv as { bucket?: string }).bucket ?? '?'}`;
  }

  static async open(nc: NatsConnection | JetStreamClient, options: KvSnapshotOptions = {}): Promise<KvSnapshotStore> {
    const name = options.bucket ?? bucketName(options.cluster ?? 'elders', 'snapshots');
    return new KvSnapshotStore(await openBucket(nc, name, { history: 1 }, options));
  }

  async load(path: string): Promise<StoredSnapshot | undefined> {
    // A read is safe to repeat: wait out an election (a server just lost) rather than
    // fail the actor's start, which its supervisor would count as a crash.
    const deadline = performance.now() + this.loadPatienceMs;
    let entry;
    for (;;) {
      try {
        entry = await this.kv.get(encodeKey(path));
        break;
      } catch (err) {
        if (!isTransient(err) || performance.now() > deadline) {
          throw new SnapshotError(path, `loading the snapshot of ${path} failed: ${explainNatsError(err, this.stream)}`, { cause: err });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.#revisions.set(path, entry?.revision ?? 0);
    this.#unsure.delete(path); // read now: what landed is known
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return decode(path, entry.value);
  }

  async save(path: string, version: string, snapshot: unknown): Promise<void> {
    const key = encodeKey(path);
    const bytes = encode(path, version, snapshot);
    let last = this.#revisions.get(path);
    try {
      let revision: number;
      try {
        revision = await this.#write(key, bytes, last);
      } catch (err) {
        // Our own earlier save that timed out may have landed after all: then it is the
        // revision to build on, not another owner's.
        const unsure = this.#unsure.get(path);
        if (!isWrongLastSequence(err) || unsure === undefined) throw err;
        const entry = await this.kv.get(key);
        if (entry === null || !unsure.includes(digest(entry.value))) throw err;
        last = entry.revision;
        revision = await this.#write(key, bytes, last);
      }
      this.#unsure.delete(path);
      this.#revisions.set(path, revision);
    } catch (err) {
      if (isTransient(err)) {
        const unsure = this.#unsure.get(path) ?? [];
        // Bounded. All of them compare-and-set on one revision, so the first to reach the
        // server is the one that can have landed: keep the oldest, let the middle go.
        if (unsure.length >= MAX_UNSURE) unsure.splice(1, 1);
        unsure.push(digest(bytes));
        this.#unsure.set(path, unsure);
      }
      if (isWrongLastSequence(err)) {
        throw new SnapshotConflictError(path, `the snapshot of ${path} was written by another owner since this node read it (revision ${last}): not overwritten`, {
          cause: err,
        });
      }
      // Not retried here: a save that lands late could overwrite a new owner's state.
      throw new SnapshotError(path, `saving the snapshot of ${path} (${bytes.byteLength} bytes) failed: ${explainNatsError(err, this.stream)}`, {
        cause: err,
      });
    }
  }

  /** Never read here: with nothing to compare with, the save is a plain put. */
  #write(key: string, bytes: Uint8Array, last: number | undefined): Promise<number> {
    return last === undefined ? this.kv.put(key, bytes) : this.kv.put(key, bytes, { previousSeq: last });
  }

  /** Forgets the snapshot of `path` (the actor starts from scratch next time). */
  async delete(path: string): Promise<void> {
    await this.kv.delete(encodeKey(path));
    this.#revisions.delete(path);
  }
}

/** Timed-out saves remembered per path. */
const MAX_UNSURE = 64;

/** Identifies a save's bytes (each carries its own savedAt) without keeping them. */
function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64');
}

/** Snapshots in process memory, for the embedded runtime and tests. */
export class MemorySnapshotStore implements SnapshotStore {
  #entries = new Map<string, Uint8Array>();

  async load(path: string): Promise<StoredSnapshot | undefined> {
    const bytes = this.#entries.get(encodeKey(path));
    return bytes && decode(path, bytes);
  }

  async save(path: string, version: string, snapshot: unknown): Promise<void> {
    this.#entries.set(encodeKey(path), encode(path, version, snapshot));
  }

  async delete(path: string): Promise<void> {
    this.#entries.delete(encodeKey(path));
  }
}

/**
 * Snapshots as files, one per actor path, for the embedded single-node runtime: the
 * knowledge an elder gathered survives a restart of the process. Writes go to a temp
 * file renamed over the old one, so a crash mid-write never leaves half a snapshot.
 */
export class FileSnapshotStore implements SnapshotStore {
  #writes = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  async load(path: string): Promise<StoredSnapshot | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(this.file(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SnapshotError(path, `reading the snapshot of ${path} failed: ${(err as Error).message}`, { cause: err });
    }
    return decode(path, bytes);
  }

  save(path: string, version: string, snapshot: unknown): Promise<void> {
    const bytes = encode(path, version, snapshot);
    const file = this.file(path);
    // One write per path at a time, in order: the last save is the one on disk.
    const next = (this.#writes.get(file) ?? Promise.resolve()).then(async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    });
    this.#writes.set(file, next.catch(() => undefined));
    return next.catch((err: unknown) => {
      throw new SnapshotError(path, `saving the snapshot of ${path} failed: ${(err as Error).message}`, { cause: err });
    });
  }

  private file(path: string): string {
    return join(this.dir, encodeURIComponent(path) + '.snapshot');
  }
}
