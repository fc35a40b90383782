import type { Envelope } from '../actors/envelope.js';
import { StreamTable } from './streams.js';
import { ResendSchedule } from './resend-schedule.js';

export interface RetryPolicy {
  /** ms before the first resend, at least (it grows with the measured round trip). */
  initialMs: number;
  /** ms cap between resends. */
  maxMs: number;
  /** ms after the outbox took a message when, still unacknowledged, it becomes a dead letter. */
  giveUpMs: number;
  /**
   * Acked envelopes of one sender-receiver stream on the wire and not yet acknowledged,
   * at most; the next ones wait their turn, in seq order, and go as acks free slots.
   */
  window: number;
  /**
   * Acked envelopes of one stream waiting behind its window, at most (`Infinity`: no
   * bound). Past it a new acked tell is a dead letter `overflow` at once, at the sender.
   */
  maxWaiting: number;
}

/**
 * window: 4096 covers a round trip of 50 ms at 80k msg/s, a slow turn on a busy machine.
 * (A sweep of the acked cluster-tell case when the window was added read 1024–4096 as
 * fast as no window and 256 about a third slower; it is not recorded in bench/results.md.) maxWaiting: a mailbox's default capacity, so a burst that an idle
 * receiver would take is never refused at the sender.
 */
export const DEFAULT_RETRY: RetryPolicy = { initialMs: 200, maxMs: 2000, giveUpMs: 30_000, window: 4096, maxWaiting: 100_000 };

/** The policy with the defaults filled in; a clear error for a value that cannot work. */
export function retryPolicy(given: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY };
  for (const [key, v] of Object.entries(given)) {
    if (!(key in DEFAULT_RETRY)) throw new Error(`retry.${key} is not a retry option (${Object.keys(DEFAULT_RETRY).join(', ')})`);
    if (v !== undefined) (policy as Record<string, unknown>)[key] = v;
  }
  for (const key of ['initialMs', 'maxMs', 'giveUpMs'] as const) {
    const v = policy[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`retry.${key} must be a positive number of ms, got ${String(v)}`);
  }
  if (policy.maxMs < policy.initialMs) throw new Error(`retry.maxMs (${policy.maxMs}) must be at least retry.initialMs (${policy.initialMs})`);
  if (!Number.isSafeInteger(policy.window) || policy.window < 1) {
    throw new Error(`retry.window must be a positive integer, got ${String(policy.window)}`);
  }
  const bound = policy.maxWaiting;
  if (bound !== Infinity && (!Number.isSafeInteger(bound) || bound < 0)) {
    throw new Error(`retry.maxWaiting must be an integer >= 0 or Infinity, got ${String(bound)}`);
  }
  return policy;
}

/** What the outbox did with a new acked envelope. */
export type Taken =
  /** Put it on the wire now. */
  | 'send'
  /** It waits behind the window: the outbox hands it to `release` when a slot frees. */
  | 'wait'
  /** The stream's waiting queue is full: not taken; the caller makes it a dead letter. */
  | 'overflow';

interface Pending {
  envelope: Envelope;
  pair: Pair;
  /** When the outbox took it: give-up counts from here, waiting included. */
  taken: number;
  /** When it went on the wire (round-trip samples); -1 while it waits. */
  sent: number;
  attempts: number;
}

/** One sender-receiver stream. */
interface Pair {
  key: string;
  source: string;
  target: string;
  stream: string | undefined;
  /** Seqs the sender still waits for, on the wire or waiting. */
  unacked: Set<number>;
  /** Lowest of them (= ack_base); moves up as the front is acknowledged. */
  low: number;
  /** One past the highest seq taken. */
  next: number;
  /** On the wire and unacknowledged. */
  inFlight: number;
  /** Waiting for a slot, in the order taken, from `head` on; left entries are skipped. */
  queue: Pending[];
  head: number;
  waiting: number;
}

/** Counts of an outbox, for metrics and tests. */
export interface OutboxCounts {
  /** Acked envelopes on the wire, not acknowledged yet. */
  inFlight: number;
  /** Acked envelopes waiting behind their stream's window. */
  waiting: number;
  /** The most one stream ever had on the wire at once, and waiting at once. */
  peakInFlight: number;
  peakWaiting: number;
}

/**
 * The sender's half of at-least-once: acked envelopes wait here until acknowledged and
 * are resent with exponential backoff (ResendSchedule). Per stream, at most `window` are
 * on the wire at once: the rest wait in seq order and go out as acks come, so a slow or
 * full receiver slows its senders instead of growing their resends; past `maxWaiting` a
 * new one is refused. `ack_base` counts the waiting ones: they are still owed.
 */
export class Outbox {
  readonly policy: RetryPolicy;
  private readonly pending = new Map<string, Pending>();
  private readonly pairs = new StreamTable<Pair>();
  /** Streams with something waiting (give-up scans only these). */
  private readonly queued = new Set<Pair>();
  private readonly schedule: ResendSchedule;
  private readonly counts: OutboxCounts = { inFlight: 0, waiting: 0, peakInFlight: 0, peakWaiting: 0 };

  /**
   * `release` gets each waiting envelope whose turn came (an ack or give-up freed a slot),
   * with its `ack_base` set: the caller puts it on the wire.
   */
  constructor(
    policy: Partial<RetryPolicy> = DEFAULT_RETRY,
    private readonly release: (envelope: Envelope) => void = () => undefined,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.policy = retryPolicy(policy);
    this.schedule = new ResendSchedule(this.policy);
  }

  /** Envelopes not acknowledged yet, on the wire or waiting. */
  get size(): number {
    return this.pending.size;
  }

  get stats(): Readonly<OutboxCounts> {
    return this.counts;
  }

  has(id: string): boolean {
    return this.pending.has(id);
  }

  /** Takes a new acked envelope; on `send`, `ack_base` is set and it counts as sent now. */
  add(envelope: Envelope): Taken {
    const known = this.pending.get(envelope.message_id);
    if (known) return known.sent < 0 ? 'wait' : 'send'; // taken already (forwarded again)
    const pair = this.pairs.of(envelope, newPair);
    const free = pair.inFlight < this.policy.window && pair.waiting === 0;
    if (!free && pair.waiting >= this.policy.maxWaiting) return 'overflow';
    pair.unacked.add(envelope.seq);
    if (pair.unacked.size === 1 || envelope.seq < pair.low) pair.low = envelope.seq;
    pair.next = Math.max(pair.next, envelope.seq + 1);
    const now = this.now();
    const p: Pending = { envelope, pair, taken: now, sent: -1, attempts: 0 };
    this.pending.set(envelope.message_id, p);
    if (free) {
      this.launch(p, now);
      return 'send';
    }
    pair.queue.push(p);
    pair.waiting++;
    this.queued.add(pair);
    if (++this.counts.waiting, pair.waiting > this.counts.peakWaiting) this.counts.peakWaiting = pair.waiting;
    return 'wait';
  }

  /** An acknowledgement came: true if it was waited for. Frees a slot for the next waiting. */
  ack(id: string): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.forget(p);
    if (p.sent >= 0 && p.attempts === 0) this.schedule.sample(this.now() - p.sent);
    this.fill(p.pair);
    return true;
  }

  /**
   * Envelopes due for a resend (with a fresh `ack_base`), and those past the give-up
   * time, on the wire or waiting (already removed). Call it from a timer.
   */
  due(): { resend: Envelope[]; expired: Envelope[] } {
    const now = this.now();
    const resend: Envelope[] = [];
    const expired: Envelope[] = [];
    const freed = new Set<Pair>();
    for (const pair of this.queued) {
      // Taken in order, so the oldest waiting one is at the front.
      for (let p = this.front(pair); p && now - p.taken >= this.policy.giveUpMs; p = this.front(pair)) {
        this.forget(p);
        expired.push(p.envelope);
      }
    }
    this.schedule.due(now, (id, attempts) => {
      const p = this.pending.get(id);
      if (!p || p.sent < 0 || p.attempts !== attempts) return; // acked, or already moved on
      if (now - p.taken >= this.policy.giveUpMs) {
        this.forget(p);
        freed.add(p.pair);
        expired.push(p.envelope);
        return;
      }
      p.attempts++;
      p.envelope.ack_base = p.pair.low;
      resend.push(p.envelope);
      this.schedule.add(id, p.attempts, now);
    });
    for (const pair of freed) this.fill(pair);
    return { resend, expired };
  }

  /** Everything still unacknowledged (e.g. at stop), on the wire or waiting, removed. */
  drain(): Envelope[] {
    const all = [...this.pending.values()].map((p) => p.envelope);
    this.pending.clear();
    this.pairs.clear();
    this.queued.clear();
    this.schedule.clear();
    this.counts.inFlight = 0;
    this.counts.waiting = 0;
    return all;
  }

  /** Puts a taken envelope on the wire's account: a slot, `ack_base`, its first resend. */
  private launch(p: Pending, now: number): void {
    const { pair } = p;
    p.sent = now;
    pair.inFlight++;
    if (++this.counts.inFlight, pair.inFlight > this.counts.peakInFlight) this.counts.peakInFlight = pair.inFlight;
    p.envelope.ack_base = pair.low;
    this.schedule.add(p.envelope.message_id, 0, now);
  }

  /** Sends waiting envelopes of a stream while it has free slots. */
  private fill(pair: Pair): void {
    if (pair.waiting === 0) return;
    const now = this.now();
    while (pair.inFlight < this.policy.window) {
      const p = this.front(pair);
      if (!p) break;
      pair.head++;
      pair.waiting--;
      this.counts.waiting--;
      this.launch(p, now);
      this.release(p.envelope);
    }
    this.settleQueue(pair);
  }

  /** The oldest envelope still waiting in a stream's queue (skipping the ones that left it). */
  private front(pair: Pair): Pending | undefined {
    const { queue } = pair;
    while (pair.head < queue.length) {
      const p = queue[pair.head]!;
      if (p.sent < 0 && this.pending.get(p.envelope.message_id) === p) return p;
      pair.head++;
    }
    return undefined;
  }

  /** Removes an envelope the sender no longer waits for; the stream's low seq moves up past it. */
  private forget(p: Pending): void {
    const { pair } = p;
    this.pending.delete(p.envelope.message_id);
    if (p.sent >= 0) {
      pair.inFlight--;
      this.counts.inFlight--;
    } else {
      pair.waiting--;
      this.counts.waiting--;
      this.settleQueue(pair);
    }
    pair.unacked.delete(p.envelope.seq);
    if (pair.unacked.size === 0) {
      this.pairs.delete(pair);
      this.queued.delete(pair);
      return;
    }
    // Seqs are contiguous but for refused or given-up ones: walking up is amortized O(1).
    while (pair.low < pair.next && !pair.unacked.has(pair.low)) pair.low++;
  }

  /** Drops a stream's queue once empty, and compacts it when mostly consumed. */
  private settleQueue(pair: Pair): void {
    if (pair.waiting === 0) {
      pair.queue.length = 0;
      pair.head = 0;
      this.queued.delete(pair);
    } else if (pair.head >= 1024 && pair.head * 2 >= pair.queue.length) {
      pair.queue.splice(0, pair.head);
      pair.head = 0;
    }
  }
}

function newPair(key: string, envelope: Envelope): Pair {
  return { key, source: envelope.source_elder, target: envelope.target_elder, stream: envelope.stream, unacked: new Set(), low: envelope.seq, next: envelope.seq, inFlight: 0, queue: [], head: 0, waiting: 0 };
}
