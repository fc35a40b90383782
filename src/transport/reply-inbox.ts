import type { Msg } from '@nats-io/transport-node';
import { ERROR_REPLY_TYPE, REPLY_TYPE, type Envelope } from '../actors/envelope.js';
import type { TransportHost } from '../actors/transport.js';
import type { Logger } from '../log.js';
import { decodeFrame, isBatch } from './codec.js';
import type { Outbox } from './outbox.js';
import { SentFrames, type SentEntry, type SentFrame } from './sent-frames.js';

export interface ReplyInboxDeps {
  host(): TransportHost | undefined;
  outbox: Outbox;
  publish(subject: string, data: Uint8Array): void;
  logger: Logger;
  maxFrameBytes: number;
  /** This node's address (`@<node>`). */
  address(): string;
}

/**
 * The receiving half of a node's reply inbox (`elders.<c>.inbox.<role>.<node>.<token>`):
 * each answer is checked against the frame its token was issued for. Acks count only for
 * the acked envelopes that frame carried, replies only for its open asks, a no-responders
 * status bounces the frame; a routed frame's answers go on to its sender. Everything else
 * is ignored with an audit log line: a forged ack cannot drop an acked message, nor a
 * forged reply answer someone's ask.
 */
export class ReplyInbox {
  readonly sent = new SentFrames();

  constructor(private readonly deps: ReplyInboxDeps) {}

  /** An answer to a routed frame: on, unchanged, to the reply subject it came with. */
  private relay(frame: SentFrame, msg: Msg): void {
    if (frame.asks?.size) {
      // Answered asks are no longer open: the frame need not be kept for them.
      const decoded = decodeFrame(msg.data, this.deps.maxFrameBytes);
      const value = decoded.ok ? decoded.value : undefined;
      for (const item of Array.isArray(value) ? value : [value]) {
        const c = item !== null && typeof item === 'object' ? (item as Record<string, unknown>).correlation_id : undefined;
        if (typeof c === 'string') frame.asks.delete(c);
      }
    }
    if (!frame.relayTo) return; // the sender gave no reply subject to answer on
    try {
      this.deps.publish(frame.relayTo, msg.data);
    } catch {
      // Closed connection: lost like any answer in flight.
    }
  }

  /** An answer on the reply subject of token `token`: acks, replies, a bounce, or a relayed answer. */
  onAnswer(msg: Msg, token: string): void {
    if (!this.deps.host()) return;
    const frame = this.sent.get(token);
    if (!frame) {
      return this.audit(msg.subject, 'an answer on a reply subject this node never issued (or issued over 10 min ago): ignored');
    }
    if (msg.headers?.code === 503) return this.bounce(token, frame);
    if (frame.relayTo !== undefined) return this.relay(frame, msg);
    const decoded = decodeFrame(msg.data, this.deps.maxFrameBytes);
    if (!decoded.ok) return this.audit(msg.subject, `an answer that is not msgpack (${decoded.reason}): ignored`);
    const value = decoded.value;
    if (Array.isArray(value) && value.length > 0 && value.every((id) => typeof id === 'string')) {
      for (const id of value as string[]) {
        if (frame.acked?.delete(id)) this.deps.outbox.ack(id);
        else if (!frame.entries.some((e) => e.id === id && e.acked)) this.audit(msg.subject, `an ack of ${id}, which that frame did not carry: ignored`);
      }
      return;
    }
    if (Array.isArray(value) && isBatch(value)) {
      for (const item of value) this.onReply(item, frame, msg.subject);
      return;
    }
    this.onReply(value as Record<string, unknown> | null, frame, msg.subject);
  }

  private onReply(value: Record<string, unknown> | null, frame: SentFrame, subject: string): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return this.audit(subject, 'an answer that is neither acks nor a reply: ignored');
    }
    const type = value.message_type;
    if (type !== REPLY_TYPE && type !== ERROR_REPLY_TYPE) return this.audit(subject, `${String(type)} is not a reply: ignored`);
    const correlation = value.correlation_id;
    const at = typeof correlation === 'string' ? frame.asks?.get(correlation) : undefined;
    if (at === undefined) {
      return this.audit(subject, `a reply to ${String(correlation)}, which is no open ask of that frame: ignored`);
    }
    frame.asks!.delete(correlation as string);
    // Delivered where the ask's reply belongs here: this node's own ask, or the reply
    // subject of an ask this node forwarded.
    value.target_elder = frame.entries[at]!.replyTo;
    this.deps.host()!.receive(value);
  }

  /** No responders for a frame: nobody subscribes to that actor right now. */
  private bounce(token: string, frame: SentFrame): void {
    this.sent.delete(token);
    const why = `no node hosts ${frame.target}`;
    for (const entry of frame.entries) {
      // An acked message stays in the outbox: a standby may take the actor over before give-up.
      if (entry.acked && this.deps.outbox.has(entry.id)) continue;
      if (entry.correlation !== undefined && !frame.asks?.has(entry.correlation)) continue; // already answered
      this.deps.host()!.undeliverable(this.lost(entry, frame.target), 'unknown_target', why);
    }
  }

  private audit(subject: string, what: string): void {
    this.deps.logger.warn({ audit: true, subject }, `reply inbox: ${what}`);
  }

  /** What is known of a frame that bounced: its id and target (nothing more is kept per send). */
  private lost(entry: SentEntry, target: string): Envelope {
    return {
      message_id: entry.id,
      source_elder: this.deps.address(),
      target_elder: target,
      message_type: '(unknown: not kept by the sender)',
      payload: {},
      priority: 0,
      timestamp: Date.now(),
      requires_ack: false,
      seq: 0,
      ...(entry.replyTo !== undefined ? { reply_to: entry.replyTo, correlation_id: entry.correlation } : {}),
    };
  }
}

/** What a frame's reply subject may bring back: acks of its acked envelopes, replies to its asks. */
export function recordFrame(target: string, envelopes: readonly Envelope[]): SentFrame {
  const entries = new Array<SentEntry>(envelopes.length);
  let asks: Map<string, number> | undefined;
  let acked: Set<string> | undefined;
  for (let i = 0; i < entries.length; i++) {
    const e = envelopes[i]!;
    const entry: SentEntry = { id: e.message_id, acked: e.requires_ack };
    if (e.requires_ack) (acked ??= new Set()).add(e.message_id);
    if (e.reply_to !== undefined && e.correlation_id !== undefined) {
      entry.correlation = e.correlation_id;
      entry.replyTo = e.reply_to;
      (asks ??= new Map()).set(e.correlation_id, i);
    }
    entries[i] = entry;
  }
  return { target, entries, asks, acked, at: performance.now() };
}

/**
 * What a routed frame's reply subject may bring back: anything, relayed to `relayTo`
 * (the sender's reply subject; none: answers are dropped). Its asks are kept so that a
 * bounce can answer each with an error.
 */
export function recordRoute(target: string, items: readonly unknown[], relayTo: string | undefined): SentFrame {
  const entries: SentEntry[] = [];
  const asks = new Map<string, number>();
  for (const item of items) {
    if (item === null || typeof item !== 'object' || typeof (item as Envelope).message_id !== 'string') continue;
    const e = item as Envelope;
    const entry: SentEntry = { id: e.message_id, acked: false };
    if (typeof e.correlation_id === 'string' && relayTo) {
      entry.correlation = e.correlation_id;
      entry.replyTo = '@' + relayTo;
      asks.set(e.correlation_id, entries.length);
    }
    entries.push(entry);
  }
  return { target, entries, asks, acked: undefined, at: performance.now(), relayTo: relayTo ?? '' };
}
