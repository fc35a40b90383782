import { randomFillSync } from 'node:crypto';

/** One envelope of a sent frame, as far as its answers need it. */
export interface SentEntry {
  id: string;
  /** Asks: the correlation id the reply must carry, and where the reply goes on this node. */
  correlation?: string;
  replyTo?: string;
  acked: boolean;
}

/**
 * A frame this node published: what its reply subject may bring back. Only answers the
 * frame invites are taken: acks of the acked envelopes it carried, replies to its asks,
 * and the broker's no-responders status for the whole frame.
 */
export interface SentFrame {
  /** Actor path the frame went to. */
  target: string;
  entries: SentEntry[];
  /** Unanswered asks by correlation id -> index in entries. */
  asks: Map<string, number> | undefined;
  /** Acked ids not yet acknowledged through this frame. */
  acked: Set<string> | undefined;
  at: number;
  /**
   * A frame relayed from a route subject: every answer goes on, as it is, to the reply
   * subject of the frame it came in (when it had one).
   */
  relayTo?: string;
}

/** A frame's answers are awaited at least this long (a no-responders status comes within a round trip). */
const BOUNCE_KEEP_MS = 1000;
/** Frames with asks or acked messages outstanding are kept this long at most. */
const LINGER_MS = 10 * 60_000;

/**
 * The reply subjects this node handed out, one unguessable token per frame
 * (`elders.<c>.inbox.<role>.<node>.<token>`), and what each may answer. A token is 72
 * random bits: a peer that never received the frame cannot name its reply subject, so
 * it can neither forge an ack that drops an acked message nor a reply to an ask.
 */
export class SentFrames {
  private young = new Map<string, SentFrame>();
  private old = new Map<string, SentFrame>();
  /** Frames past the bounce window that still wait for acks or replies. */
  private readonly lingering = new Map<string, SentFrame>();
  private since = performance.now();
  private swept = performance.now();
  private pool = Buffer.alloc(0);
  private at = 0;

  /** A fresh unguessable reply token (base64url, 12 characters). */
  token(): string {
    if (this.at + 9 > this.pool.length) {
      this.pool = randomFillSync(Buffer.alloc(9 * 512));
      this.at = 0;
    }
    const token = this.pool.toString('base64url', this.at, this.at + 9);
    this.at += 9;
    return token;
  }

  add(token: string, frame: SentFrame): void {
    if (frame.at - this.since > BOUNCE_KEEP_MS) this.rotate(frame.at);
    this.young.set(token, frame);
  }

  get(token: string): SentFrame | undefined {
    return this.young.get(token) ?? this.old.get(token) ?? this.lingering.get(token);
  }

  delete(token: string): void {
    this.young.delete(token);
    this.old.delete(token);
    this.lingering.delete(token);
  }

  /**
   * Forgets what can no longer be answered: lingering frames past LINGER_MS, and those
   * whose acked envelopes all left the outbox (acknowledged through a resend, or given
   * up) and whose asks are all answered.
   */
  sweep(stillPending: (id: string) => boolean): void {
    const now = performance.now();
    if (now - this.since > BOUNCE_KEEP_MS) this.rotate(now);
    // Called every few ms by the resend timer: the lingering walk runs once a second.
    if (now - this.swept < BOUNCE_KEEP_MS) return;
    this.swept = now;
    for (const [token, frame] of this.lingering) {
      if (now - frame.at > LINGER_MS || (!frame.asks?.size && !someIn(frame.acked, stillPending))) this.lingering.delete(token);
    }
  }

  private rotate(now: number): void {
    for (const [token, frame] of this.old) if (frame.asks?.size || frame.acked?.size) this.lingering.set(token, frame);
    this.old = this.young;
    this.young = new Map();
    this.since = now;
  }
}

function someIn(ids: Set<string> | undefined, pending: (id: string) => boolean): boolean {
  if (ids) for (const id of ids) if (pending(id)) return true;
  return false;
}
