/**
 * Priority mailbox: one FIFO per priority (0..9), highest non-empty taken first.
 * FIFO within a priority gives per-pair FIFO for free. A bitmask finds the top
 * priority without scanning; arrays with a moving head avoid O(n) shift(). Queues are
 * made on first use: most actors sit idle with an empty mailbox, and 100k of them
 * should not carry ten empty arrays each.
 */
export class Mailbox<T extends { priority: number }> {
  private queues: (T[] | undefined)[] | undefined;
  private heads: number[] | undefined;
  private mask = 0;
  size = 0;

  push(message: T): void {
    const p = message.priority;
    const queues = (this.queues ??= new Array<T[] | undefined>(10));
    (queues[p] ??= []).push(message);
    this.mask |= 1 << p;
    this.size++;
  }

  shift(): T | undefined {
    if (this.mask === 0) return undefined;
    const p = 31 - Math.clz32(this.mask);
    const queue = this.queues![p]!;
    const heads = (this.heads ??= [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const head = heads[p]!;
    const message = queue[head]!;
    if (head + 1 === queue.length) {
      queue.length = 0;
      heads[p] = 0;
      this.mask &= ~(1 << p);
    } else if (head >= 1024 && head * 2 >= queue.length) {
      // Compact now and then so a long-lived busy queue does not keep dead slots.
      queue.splice(0, head + 1);
      heads[p] = 0;
    } else {
      (queue as unknown[])[head] = undefined;
      heads[p] = head + 1;
    }
    this.size--;
    return message;
  }

  /** Removes everything, highest priority first, FIFO within a priority. */
  drain(): T[] {
    const out: T[] = [];
    for (let m = this.shift(); m !== undefined; m = this.shift()) out.push(m);
    return out;
  }
}
