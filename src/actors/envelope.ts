/**
 * The message as it travels (DESIGN.md "Envelope"): the seed's ElderMessage field for
 * field, plus what delivery needs. Actors see only `message_type` + `payload` as an
 * XState event; the rest is for routing, ordering, dedup and replies.
 */
export interface Envelope {
  message_id: string;
  source_elder: string;
  target_elder: string;
  /** Dotted name, e.g. `sage.knowledge.query`; it is the XState event type. */
  message_type: string;
  payload: Record<string, unknown>;
  /** 0..9, 9 is taken first. */
  priority: number;
  /** ms since epoch. */
  timestamp: number;
  requires_ack: boolean;
  /**
   * Acked messages: position in the stream, from 1 (order and dedup). Plain messages
   * need none on the wire (it decodes as 0); this runtime numbers them anyway.
   */
  seq: number;
  /**
   * Acked messages: the sender's stream, a name no other run of the sender ever uses
   * (this runtime: random per process). Order and dedup are per (source, target, stream),
   * so a restarted sender that counts seq from 1 again is a new stream, never a resend.
   */
  stream?: string;
  reply_to?: string;
  correlation_id?: string;
  /**
   * Acked messages only: the sender's lowest unacknowledged seq for this pair when the
   * frame was (re)sent. A receiver that has no state for the pair (it restarted, or a
   * standby took over) starts its in-order delivery there.
   */
  ack_base?: number;
  /** Protocol version; absent means 1 (PROTOCOL.md "Versioning"). */
  v?: number;
  /**
   * W3C trace context of the span that sent it (`00-<trace id>-<span id>-<flags>`);
   * present only while tracing. Optional and ignored by nodes that do not trace.
   */
  traceparent?: string;
}

/** The stream an acked envelope is ordered and deduplicated in: named, never parsed out of an id. */
export function pairKey(envelope: Envelope): string {
  return envelope.source_elder + '\u0000' + envelope.target_elder + '\u0000' + (envelope.stream ?? '');
}

/** The wire protocol version this runtime speaks (PROTOCOL.md); an envelope without `v` is v1. */
export const PROTOCOL_VERSION = 1;

/** A stream name for one run of a sender: random, so no later run can repeat it. */
export function createStreamId(): string {
  return Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
}

/** The payload of messages sent without one: cells recognise it and skip the copy. */
export const EMPTY_PAYLOAD: Record<string, unknown> = Object.freeze({});

export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 9;
export const DEFAULT_PRIORITY = 5;

/** Reply envelopes carry these types; ask() resolves or rejects on them. */
export const REPLY_TYPE = 'eldertree.reply';
export const ERROR_REPLY_TYPE = 'eldertree.error';

/** Addresses that start with this name a node (its reply inbox), not an actor. */
export const NODE_ADDRESS_PREFIX = '@';

export function nodeAddress(nodeId: string): string {
  return NODE_ADDRESS_PREFIX + nodeId;
}

export function isNodeAddress(target: string): boolean {
  return target.charCodeAt(0) === 64; // '@'
}

/** Ids of envelopes made here: a random per-process prefix (NUID's idea) and a counter. */
const MADE_ID_PREFIX = Math.random().toString(36).slice(2, 10) + Date.now().toString(36).slice(-4) + '-';
/** Timestamps of envelopes made here count from this, so they stay small integers (no boxed double). */
const MADE_EPOCH = Date.now();
let madeCount = 0;

/**
 * An envelope this node made (tell, ask, reply): the same fields as any Envelope, but
 * its id and timestamp are kept as two small integers and written out only when read.
 * A local tell then allocates one object instead of five (the id's strings and the
 * timestamp's boxed double), and a mailbox of queued mail is half the bytes for the
 * garbage collector to copy and mark. The id and timestamp are getters, so spreads,
 * structured clones and encoders must go through `plainEnvelope`; JSON uses toJSON.
 */
export class MadeEnvelope implements Envelope {
  source_elder: string;
  target_elder: string;
  message_type: string;
  payload: Record<string, unknown>;
  priority: number;
  requires_ack: boolean;
  seq: number;
  declare stream?: string;
  declare reply_to?: string;
  declare correlation_id?: string;
  declare ack_base?: number;
  declare v?: number;
  declare traceparent?: string;
  #n: number;
  #t: number;
  /** Set only when someone assigns an id (a forward keeps the original's). */
  #id: string | undefined;

  /** `n` and `t`: a local tell's id number and clock, when it is made into an envelope later. */
  constructor(
    source: string,
    target: string,
    type: string,
    payload: Record<string, unknown>,
    priority: number,
    requiresAck: boolean,
    seq: number,
    n = ++madeCount,
    t = Date.now() - MADE_EPOCH,
  ) {
    this.source_elder = source;
    this.target_elder = target;
    this.message_type = type;
    this.payload = payload;
    this.priority = priority;
    this.requires_ack = requiresAck;
    this.seq = seq;
    this.#n = n;
    this.#t = t;
    this.#id = undefined;
  }

  /** Not cached: a tell that returns its id leaves nothing behind in the queued envelope. */
  get message_id(): string {
    return this.#id ?? madeId(this.#n);
  }

  set message_id(id: string) {
    this.#id = id;
  }

  get timestamp(): number {
    return MADE_EPOCH + this.#t;
  }

  set timestamp(ms: number) {
    this.#t = ms - MADE_EPOCH;
  }

  toJSON(): Envelope {
    return plainEnvelope(this);
  }
}

/** The id number of the next message made here (a local tell kept as fields takes one too). */
export function nextMadeNumber(): number {
  return ++madeCount;
}

/** The clock of messages made here: ms since MADE_EPOCH, a small integer. */
export function madeClock(): number {
  return Date.now() - MADE_EPOCH;
}

/** A plain tell made here and kept as fields (a mailbox slot), as a plain envelope. */
export function madeEnvelope(source: string, target: string, type: string, payload: Record<string, unknown>, priority: number, seq: number, n: number, t: number): Envelope {
  return {
    message_id: madeId(n),
    source_elder: source,
    target_elder: target,
    message_type: type,
    payload,
    priority,
    timestamp: MADE_EPOCH + t,
    requires_ack: false,
    seq,
  };
}

/** The id of the message made here with number `n`. */
export function madeId(n: number): string {
  return MADE_ID_PREFIX + n.toString(36);
}

/** A plain-object copy of any envelope (own fields only; what an encoder or a spread sees). */
export function plainEnvelope(envelope: Envelope): Envelope {
  if (!(envelope instanceof MadeEnvelope)) return { ...envelope };
  const copy: Envelope = {
    message_id: envelope.message_id,
    source_elder: envelope.source_elder,
    target_elder: envelope.target_elder,
    message_type: envelope.message_type,
    payload: envelope.payload,
    priority: envelope.priority,
    timestamp: envelope.timestamp,
    requires_ack: envelope.requires_ack,
    seq: envelope.seq,
  };
  for (const field of OPTIONAL_FIELDS) {
    const value = envelope[field];
    if (value !== undefined) (copy as unknown as Record<string, unknown>)[field] = value;
  }
  return copy;
}

/** The envelope as it goes to an encoder: made envelopes as plain maps, others as they are. */
export function wireEnvelope(envelope: Envelope): Envelope {
  return envelope instanceof MadeEnvelope ? plainEnvelope(envelope) : envelope;
}

/** The envelope's optional fields, in the order the wire's rows frames list them (PROTOCOL.md). */
export const OPTIONAL_FIELDS = ['reply_to', 'correlation_id', 'stream', 'ack_base', 'v', 'traceparent'] as const;

export type Validation = { ok: true; envelope: Envelope } | { ok: false; reason: string };

const STRING_FIELDS = ['message_id', 'source_elder', 'target_elder', 'message_type'] as const;
/** Checked per message from the wire: one array, not one per call. */
const OPTIONAL_STRING_FIELDS = ['reply_to', 'correlation_id', 'stream'] as const;

/**
 * Checks a decoded frame against the envelope contract. Returns the reason in words
 * instead of throwing: bad input must never throw inside a node.
 */
export function validateEnvelope(value: unknown): Validation {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: `frame is ${describe(value)}, not an envelope map` };
  }
  const v = value as Record<string, unknown>;
  for (const field of STRING_FIELDS) {
    const f = v[field];
    if (typeof f !== 'string') return { ok: false, reason: fieldReason(field, 'a string', f) };
    if (f.length === 0) return { ok: false, reason: `field ${field} is empty` };
  }
  const payload = v.payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { ok: false, reason: fieldReason('payload', 'a map', payload) };
  }
  const priority = v.priority;
  if (!Number.isInteger(priority) || (priority as number) < MIN_PRIORITY || (priority as number) > MAX_PRIORITY) {
    return { ok: false, reason: fieldReason('priority', 'an integer 0..9', priority) };
  }
  if (v.v !== undefined && v.v !== PROTOCOL_VERSION) {
    return { ok: false, reason: `protocol version ${describe(v.v)} is not supported (this node speaks v${PROTOCOL_VERSION})` };
  }
  if (!Number.isInteger(v.timestamp)) return { ok: false, reason: fieldReason('timestamp', 'an integer', v.timestamp) };
  if (typeof v.requires_ack !== 'boolean') {
    return { ok: false, reason: fieldReason('requires_ack', 'a boolean', v.requires_ack) };
  }
  if (v.requires_ack) {
    if (!Number.isInteger(v.seq) || (v.seq as number) < 1) {
      return { ok: false, reason: fieldReason('seq', 'an integer >= 1 on an acked message', v.seq) };
    }
    if (typeof v.stream !== 'string' || v.stream.length === 0) {
      return { ok: false, reason: fieldReason('stream', 'a non-empty string on an acked message', v.stream) };
    }
  } else if (v.seq === undefined || v.seq === null) {
    v.seq = 0; // optional on plain messages: nothing orders or dedups them by seq
  } else if (!Number.isInteger(v.seq) || (v.seq as number) < 0) {
    return { ok: false, reason: fieldReason('seq', 'a non-negative integer', v.seq) };
  }
  for (const field of OPTIONAL_STRING_FIELDS) {
    const f = v[field];
    if (f !== undefined && f !== null && typeof f !== 'string') {
      return { ok: false, reason: fieldReason(field, 'a string when present', f) };
    }
  }
  // Tracing is best effort: a traceparent that is not a string is dropped, never refused.
  if (v.traceparent !== undefined && typeof v.traceparent !== 'string') delete v.traceparent;
  const base = v.ack_base;
  if (base !== undefined && base !== null && !(Number.isInteger(base) && (base as number) >= 0)) {
    return { ok: false, reason: fieldReason('ack_base', 'a non-negative integer when present', base) };
  }
  return { ok: true, envelope: v as unknown as Envelope };
}

function fieldReason(field: string, expected: string, got: unknown): string {
  return got === undefined ? `missing field ${field}` : `field ${field} must be ${expected}, got ${describe(got)}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'binary';
  const t = typeof value;
  if (t === 'string') return `a string "${String(value).slice(0, 40)}"`;
  if (t === 'number' || t === 'boolean') return `${t} ${String(value)}`;
  if (t === 'bigint') return `integer ${String(value)} (out of range)`;
  return t === 'object' ? 'a map' : t;
}
