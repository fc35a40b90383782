import { pairKey, type Envelope } from '../actors/envelope.js';

export interface RetryPolicy {
  /** ms before the first resend, at least (it grows with the measured round trip). */
  initialMs: number;
  /** ms cap between resends. */
  maxMs: number;
  /** ms after the first send when an unacknowledged message becomes a dead letter. */
  giveUpMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 200, maxMs: 2000, giveUpMs: 30_000 };

interface Pending {
  envelope: Envelope;
  pair: Pair;
  firstSent: number;
  attempts: number;
}

/** One sender-receiver stream: unacknowledged seqs, and the lowest of them. */
interface Pair {
  unacked: Set<number>;
  /** Lowest unacknowledged seq (= ack_base); moves up as the front is acknowledged. */
  low: number;
  /** One past the highest seq sent. */
  next: number;
}

/**
 * The sender's half of at-least-once: acked envelopes wait here until acknowledged and
 * are resent with exponential backoff. The first resend waits for a few measured round
 * trips (TCP's RTO idea, sampled only from messages sent once: Karn), so a deep
 * in-flight window is not resent wholesale. Resends sit in one FIFO per attempt count,
 * each already in due order, so nothing scans the whole outbox.
 */
export class Outbox {
  private readonly pending = new Map<string, Pending>();
  private readonly pairs = new Map<string, Pair>();
  private readonly levels: { id: string; due: number; attempts: number }[][] = [];
  private readonly heads: number[] = [];
  /** Smoothed round trip of acknowledgements, ms. */
  private srtt = 0;

  constructor(
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.pending.size;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** Records a first send; sets `ack_base` on the envelope. */
  add(envelope: Envelope): void {
    const key = pairKey(envelope);
    let pair = this.pairs.get(key);
    if (!pair) this.pairs.set(key, (pair = { unacked: new Set(), low: envelope.seq, next: envelope.seq }));
    pair.unacked.add(envelope.seq);
    if (pair.unacked.size === 1) pair.low = envelope.seq;
    pair.next = Math.max(pair.next, envelope.seq + 1);
    envelope.ack_base = pair.low;
    const now = this.now();
    this.pending.set(envelope.message_id, { envelope, pair, firstSent: now, attempts: 0 });
    this.schedule(envelope.message_id, 0, now);
  }

  /** An acknowledgement came: true if it was waited for. */
  ack(id: string): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    if (p.attempts === 0) {
      const rtt = this.now() - p.firstSent;
      this.srtt = this.srtt === 0 ? rtt : this.srtt * 0.875 + rtt * 0.125;
    }
    const { pair } = p;
    pair.unacked.delete(p.envelope.seq);
    if (pair.unacked.size === 0) {
      this.pairs.delete(pairKey(p.envelope));
    } else {
      // Seqs are contiguous: walking up from the old front is amortized O(1).
      while (pair.low < pair.next && !pair.unacked.has(pair.low)) pair.low++;
    }
    return true;
  }

  /**
   * Envelopes due for a resend (with a fresh `ack_base`), and those past the give-up
   * time (already removed). Call it from a timer.
   */
  due(): { resend: Envelope[]; expired: Envelope[] } {
    const now = this.now();
    const resend: Envelope[] = [];
    const expired: Envelope[] = [];
    for (let level = 0; level < this.levels.length; level++) {
      const queue = this.levels[level]!;
      let head = this.heads[level]!;
      while (head < queue.length && queue[head]!.due <= now) {
        const { id, attempts } = queue[head++]!;
        const p = this.pending.get(id);
        if (!p || p.attempts !== attempts) continue; // acked, or already moved on
        if (now - p.firstSent >= this.policy.giveUpMs) {
          this.ack(id);
          expired.push(p.envelope);
          continue;
        }
        p.attempts++;
        p.envelope.ack_base = p.pair.low;
        resend.push(p.envelope);
        this.schedule(id, p.attempts, now);
      }
      if (head === queue.length) {
        queue.length = 0;
        head = 0;
      }
      this.heads[level] = head;
    }
    return { resend, expired };
  }

  /** Everything still waiting (e.g. at stop), removed. */
  drain(): Envelope[] {
    const all = [...this.pending.values()].map((p) => p.envelope);
    this.pending.clear();
    this.pairs.clear();
    this.levels.length = 0;
    this.heads.length = 0;
    return all;
  }

  private schedule(id: string, attempts: number, now: number): void {
    const first = Math.min(this.policy.maxMs, Math.max(this.policy.initialMs, 4 * this.srtt));
    const delay = Math.min(this.policy.maxMs, first * 2 ** attempts);
    // Attempts past the cap share the last level: its delay is constant, so it stays ordered.
    const level = Math.min(attempts, Math.ceil(Math.log2(this.policy.maxMs / this.policy.initialMs)));
    while (this.levels.length <= level) {
      this.levels.push([]);
      this.heads.push(0);
    }
    this.levels[level]!.push({ id, due: now + delay, attempts });
  }
}
