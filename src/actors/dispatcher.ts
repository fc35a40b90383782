/** What the dispatcher runs: anything with a mailbox to work through. */
export interface Runnable {
  scheduled: boolean;
  /**
   * Processes up to `max` messages, and stops early once `performance.now()` passes
   * `deadline` (checked every few messages); true when more are waiting.
   */
  process(max: number, deadline: number): boolean;
}

/**
 * Runs actors with pending mail in turns (Akka's dispatcher "throughput"): each gets up
 * to `throughput` messages, then the next one. The loop runs on setImmediate and gives
 * the event loop back after `sliceMs`, so timers and I/O (heartbeats, sockets) never
 * starve behind message processing.
 */
export class Dispatcher {
  private queue: Runnable[] = [];
  private head = 0;
  private pending = false;

  constructor(
    private readonly throughput = 64,
    private readonly sliceMs = 8,
  ) {}

  /** Nothing scheduled: every running actor's mailbox is empty. */
  get idle(): boolean {
    return !this.pending;
  }

  schedule(cell: Runnable): void {
    if (cell.scheduled) return;
    cell.scheduled = true;
    this.queue.push(cell);
    if (!this.pending) {
      this.pending = true;
      setImmediate(this.run);
    }
  }

  private readonly run = (): void => {
    const deadline = performance.now() + this.sliceMs;
    while (this.head < this.queue.length) {
      const cell = this.queue[this.head++]!;
      cell.scheduled = false;
      let more = false;
      try {
        more = cell.process(this.throughput, deadline);
      } finally {
        if (more) this.schedule(cell);
      }
      // Every turn: one slow actor's turn can take its whole slice (a flood at a 1 ms/message actor).
      if (performance.now() > deadline) break;
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.pending = false;
    } else {
      if (this.head > 4096) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      setImmediate(this.run);
    }
  };
}
