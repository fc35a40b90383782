import { EldertreeError, toError } from './errors.js';
/**
 * What a persistent actor needs from storage. Implementations live above (cluster/:
 * NATS KV, a local file, memory); the node hands one over as its 'snapshots' service.
 */
export interface SnapshotStore {
  load(path: string): Promise<{ version: string; snapshot: unknown } | undefined>;
  /**
   * Rejects with SnapshotConflictError when another owner saved the path since this
   * store last read it: the actor's state is stale, and it restarts from the store's.
   */
  save(path: string, version: string, snapshot: unknown): Promise<void>;
}

/** A snapshot could not be saved or read back (too large, not a snapshot, I/O). */
export class SnapshotError extends EldertreeError {
  override name = 'SnapshotError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Another owner saved the path since this store read it (a failover, then a move back):
 * not overwritten. Saving again cannot succeed; the actor restarts from what is stored.
 */
export class SnapshotConflictError extends SnapshotError {
  override name = 'SnapshotConflictError';
}

/**
 * A worker's opt-in to persistence. `migrate` needs a numeric `version` (step n upgrades
 * a version-n snapshot to n + 1), so a string version with steps does not compile. (A
 * union: an interface cannot extend it; use an intersection type instead.)
 */
export type Persistence = {
  /** Save after every processed message (default) or at most every `n` ms. */
  every?: 'message' | number;
} & (
  | {
      /** The machine's version: a snapshot saved by another version is refused. */
      version: string | number;
      migrate?: undefined;
    }
  | {
      /**
       * The machine's version: a snapshot saved by another version is refused, unless
       * `migrate` has every step from the saved one to this one.
       */
      version: number;
      /**
       * `{ 1: fn, 2: fn }` with `version: 3`: step n turns a version-n snapshot (XState's
       * persisted snapshot: value, context...) into a version n + 1 one.
       */
      migrate?: Record<number, (snapshot: PersistedSnapshot) => PersistedSnapshot>;
    }
);

/** XState's persisted snapshot as stored: what a migration step reads and returns. */
export type PersistedSnapshot = { value?: unknown; context?: unknown; status?: string } & Record<string, unknown>;

/**
 * Brings a snapshot saved by `saved` up to `persist.version` through its migration steps.
 * Returns the snapshot, or the reason it cannot be used (another version, a missing step).
 */
export function migrateSnapshot(path: string, saved: string, persist: Persistence, snapshot: unknown): { snapshot: unknown } | { error: string } {
  const current = String(persist.version);
  if (saved === current) return { snapshot };
  const from = Number(saved);
  const to = Number(persist.version);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from > to || persist.migrate === undefined) {
    return { error: `snapshot of ${path} was saved by machine version ${saved}, this is version ${current}` };
  }
  let value = snapshot as PersistedSnapshot;
  for (let v = from; v < to; v++) {
    const step = persist.migrate[v];
    if (step === undefined) return { error: `snapshot of ${path} is version ${saved}: no migration step from ${v} to ${v + 1} (this is version ${current})` };
    try {
      value = step(value);
    } catch (err) {
      return { error: `snapshot of ${path}: migration step ${v} -> ${v + 1} threw: ${toError(err).message}` };
    }
  }
  return { snapshot: value };
}

export const SNAPSHOTS_SERVICE = 'snapshots';
