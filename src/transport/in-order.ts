import type { Envelope } from '../actors/envelope.js';
import { StreamTable } from './streams.js';

interface PairState {
  key: string;
  source: string;
  target: string;
  stream: string | undefined;
  expected: number;
  /** Frames that came ahead of a gap, by seq, with where to send their ack. */
  ahead: Map<number, { envelope: Envelope; ackTo: string }>;
  lastUsed: number;
}

/** Frames held ahead of a gap per stream, at most. */
const MAX_AHEAD = 65_536;

export type Arrival =
  /** Deliver these, in this order (the frame, and any it unblocked). */
  | { kind: 'deliver'; frames: { envelope: Envelope; ackTo: string }[] }
  /** Seen and settled before: acknowledge again (our earlier ack may have been lost). */
  | { kind: 'duplicate' }
  /** Held until the gap before it is filled by a resend. */
  | { kind: 'held' };

/**
 * The receiver's half of exactly-once, in-order delivery for acked messages: per
 * sender-receiver pair (and sender process), frames are released strictly in seq
 * order; earlier seqs are duplicates; later ones wait for the gap to be resent. A
 * pair seen for the first time starts at the frame's `ack_base`, and a rising
 * `ack_base` skips what the sender no longer waits for.
 */
export class InOrder {
  private readonly pairs = new StreamTable<PairState>();

  arrive(envelope: Envelope, ackTo: string): Arrival {
    const base = envelope.ack_base ?? envelope.seq;
    const state = this.pairs.of(envelope, newPair);
    state.lastUsed = performance.now();
    let skipped = false;
    if (base > state.expected) {
      // The sender waits for nothing below base (given up, or refused there): skip it.
      state.expected = base;
      skipped = true;
      for (const seq of state.ahead.keys()) if (seq < base) state.ahead.delete(seq);
    }
    if (envelope.seq < state.expected) return { kind: 'duplicate' };
    if (envelope.seq > state.expected) {
      // Bounded: past it, a frame is not kept (its sender resends it, as for a lost one).
      if (!state.ahead.has(envelope.seq) && state.ahead.size < MAX_AHEAD) state.ahead.set(envelope.seq, { envelope, ackTo });
      // Frames held from the new base on need not wait for a resend of the base's frame.
      const frames = skipped ? this.release(state, []) : [];
      return frames.length > 0 ? { kind: 'deliver', frames } : { kind: 'held' };
    }
    state.expected++;
    return { kind: 'deliver', frames: this.release(state, [{ envelope, ackTo }]) };
  }

  /** Appends the held frames that follow on from `expected` to `frames`, removing them. */
  private release(state: PairState, frames: { envelope: Envelope; ackTo: string }[]): { envelope: Envelope; ackTo: string }[] {
    for (let next = state.ahead.get(state.expected); next; next = state.ahead.get(state.expected)) {
      state.ahead.delete(state.expected);
      frames.push(next);
      state.expected++;
    }
    return frames;
  }

  /**
   * A delivered frame was refused (a full mailbox) and stays unacknowledged: its resend
   * is delivered again, and the frames after it wait for it, so the stream keeps its order.
   */
  rewind(envelope: Envelope): void {
    const state = this.pairs.find(envelope);
    if (state !== undefined && envelope.seq < state.expected) state.expected = envelope.seq;
  }

  /**
   * Forgets every stream to `target`: its actor left this node, so frames counted as
   * delivered here may never have been processed (they were handed back unacknowledged
   * and will be resent). Resends must then be delivered again, not taken for duplicates.
   */
  forget(target: string): void {
    this.forgetWhere((t) => t === target);
  }

  /** Forgets the pairs whose target matches (the entities of a shard that moved away). */
  forgetWhere(matches: (target: string) => boolean): void {
    for (const state of this.pairs.values()) if (matches(state.target)) this.pairs.delete(state);
  }

  /** Forgets pairs idle for longer than `ms` (a sender process that went away). */
  prune(ms: number): void {
    const cutoff = performance.now() - ms;
    for (const state of this.pairs.values()) if (state.lastUsed < cutoff && state.ahead.size === 0) this.pairs.delete(state);
  }
}

function newPair(key: string, envelope: Envelope): PairState {
  return { key, source: envelope.source_elder, target: envelope.target_elder, stream: envelope.stream, expected: envelope.ack_base ?? envelope.seq, ahead: new Map(), lastUsed: 0 };
}
