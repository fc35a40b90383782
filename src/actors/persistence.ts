/**
 * What a persistent actor needs from storage. Implementations live above (cluster/:
 * NATS KV, a local file, memory); the node hands one over as its 'snapshots' service.
 */
export interface SnapshotStore {
  load(path: string): Promise<{ version: string; snapshot: unknown } | undefined>;
  save(path: string, version: string, snapshot: unknown): Promise<void>;
}

/** A worker's opt-in to persistence. */
export interface Persistence {
  /** The machine's version: a snapshot saved by another version is refused. */
  version: string;
  /** Save after every processed message (default) or at most every `n` ms. */
  every?: 'message' | number;
}

export const SNAPSHOTS_SERVICE = 'snapshots';
