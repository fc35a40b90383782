import { pairKey, type Envelope } from '../actors/envelope.js';

/** What every per-stream record holds: its key and the stream it is for. */
export interface StreamRecord {
  readonly key: string;
  readonly source: string;
  readonly target: string;
  readonly stream: string | undefined;
}

/**
 * Per-stream records of acked messages (sender, target, stream), for both halves of the
 * acked path (the sender's Outbox and the receiver's InOrder). The last record used is
 * kept at hand: a burst of acked messages is one stream, found without building and
 * hashing its key per message. Every removal goes through here, so that memo never
 * outlives its record.
 */
export class StreamTable<T extends StreamRecord> {
  private readonly byKey = new Map<string, T>();
  private last: T | undefined;

  /** The record of the envelope's stream; `make` (no closure per call: a plain function) makes a missing one. */
  of(envelope: Envelope, make: (key: string, envelope: Envelope) => T): T {
    const last = this.last;
    if (last !== undefined && last.source === envelope.source_elder && last.target === envelope.target_elder && last.stream === envelope.stream) return last;
    const key = pairKey(envelope);
    let record = this.byKey.get(key);
    if (record === undefined) this.byKey.set(key, (record = make(key, envelope)));
    this.last = record;
    return record;
  }

  /** The record of the envelope's stream, if there is one (no memo, not made). */
  find(envelope: Envelope): T | undefined {
    return this.byKey.get(pairKey(envelope));
  }

  delete(record: T): void {
    this.byKey.delete(record.key);
    if (this.last === record) this.last = undefined;
  }

  clear(): void {
    this.byKey.clear();
    this.last = undefined;
  }

  values(): IterableIterator<T> {
    return this.byKey.values();
  }
}
