import { pairKey, type Envelope } from '../actors/envelope.js';

export interface RetryPolicy {
  /** ms before the first resend. */
  initialMs: number;
  /** ms cap between resends. */
  maxMs: number;
  /** ms after the first send when an unacknowledged message becomes a dead letter. */
  giveUpMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialMs: 200, maxMs: 2000, giveUpMs: 30_000 };

interface Pending {
  envelope: Envelope;
  pair: string;
  firstSent: number;
  attempts: number;
}

/**
 * The sender's half of at-least-once: acked envelopes wait here until acknowledged and
 * are resent with exponential backoff. Resends sit in one FIFO per attempt count, so
 * each FIFO is already in due order and no scan of the whole outbox is needed. Each
 * pair's lowest unacknowledged seq is the `ack_base` a resend carries.
 */
export class Outbox {
  private readonly pending = new Map<string, Pending>();
  /** pair -> seq -> message id, insertion (= seq) ordered. */
  private readonly unacked = new Map<string, Map<number, string>>();
  private readonly levels: { id: string; due: number; attempts: number }[][] = [];
  private readonly heads: number[] = [];

  constructor(
    readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Records a first send; sets `ack_base` on the envelope. */
  add(envelope: Envelope): void {
    const pair = pairKey(envelope);
    let seqs = this.unacked.get(pair);
    if (!seqs) this.unacked.set(pair, (seqs = new Map()));
    seqs.set(envelope.seq, envelope.message_id);
    envelope.ack_base = seqs.keys().next().value as number;
    const now = this.now();
    this.pending.set(envelope.message_id, { envelope, pair, firstSent: now, attempts: 0 });
    this.schedule(envelope.message_id, 0, now);
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** An acknowledgement came: true if it was waited for. */
  ack(id: string): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    const seqs = this.unacked.get(p.pair)!;
    seqs.delete(p.envelope.seq);
    if (seqs.size === 0) this.unacked.delete(p.pair);
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
        p.envelope.ack_base = this.unacked.get(p.pair)!.keys().next().value as number;
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
    this.unacked.clear();
    this.levels.length = 0;
    this.heads.length = 0;
    return all;
  }

  private schedule(id: string, attempts: number, now: number): void {
    const delay = Math.min(this.policy.maxMs, this.policy.initialMs * 2 ** attempts);
    // Attempts past the cap share the last level: its delay is constant, so it stays ordered.
    const level = Math.min(attempts, Math.ceil(Math.log2(this.policy.maxMs / this.policy.initialMs)));
    while (this.levels.length <= level) {
      this.levels.push([]);
      this.heads.push(0);
    }
    this.levels[level]!.push({ id, due: now + delay, attempts });
  }
}
