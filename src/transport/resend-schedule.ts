/** The timing half of a RetryPolicy. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/**
 * When each unacknowledged envelope is due for a resend: exponential backoff, the first
 * resend after a few measured round trips (TCP's RTO idea, sampled only from messages
 * sent once: Karn), so a deep in-flight window is not resent wholesale. Entries sit in
 * one FIFO per attempt count, each already in due order, so nothing scans the outbox.
 * Entries are not removed: the caller skips the ones acked or moved on meanwhile.
 */
export class ResendSchedule {
  private readonly levels: { id: string; due: number; attempts: number }[][] = [];
  private readonly heads: number[] = [];
  /** Smoothed round trip of acknowledgements, ms. */
  private srtt = 0;

  constructor(private readonly backoff: Backoff) {}

  /** A round trip measured on an envelope acknowledged after its first send. */
  sample(rtt: number): void {
    this.srtt = this.srtt === 0 ? rtt : this.srtt * 0.875 + rtt * 0.125;
  }

  /** `id` was sent for the `attempts`-th time after the first (0: first send) at `now`. */
  add(id: string, attempts: number, now: number): void {
    const { initialMs, maxMs } = this.backoff;
    const first = Math.min(maxMs, Math.max(initialMs, 4 * this.srtt));
    const delay = Math.min(maxMs, first * 2 ** attempts);
    // Attempts past the cap share the last level: its delay is constant, so it stays ordered.
    const level = Math.min(attempts, Math.ceil(Math.log2(maxMs / initialMs)));
    while (this.levels.length <= level) {
      this.levels.push([]);
      this.heads.push(0);
    }
    this.levels[level]!.push({ id, due: now + delay, attempts });
  }

  /** Calls `each` for every entry due by `now`, and forgets them (`each` may add again). */
  due(now: number, each: (id: string, attempts: number) => void): void {
    for (let level = 0; level < this.levels.length; level++) {
      const queue = this.levels[level]!;
      let head = this.heads[level]!;
      while (head < queue.length && queue[head]!.due <= now) {
        const { id, attempts } = queue[head++]!;
        this.heads[level] = head; // current before `each`: one that throws leaves what it took done
        each(id, attempts);
      }
      if (head === queue.length) {
        queue.length = 0;
        head = 0;
      }
      this.heads[level] = head;
    }
  }

  clear(): void {
    this.levels.length = 0;
    this.heads.length = 0;
  }
}
