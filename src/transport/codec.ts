import { Packr, type Options } from 'msgpackr';
import { OPTIONAL_FIELDS, wireEnvelope, type Envelope } from '../actors/envelope.js';

/** Frames larger than this are refused before decoding (1 MiB, NATS' default max_payload). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Standard msgpack only (PROTOCOL.md): maps, arrays, strings, integers, floats, bools,
 * nil, binary; no extension types written. Integers of any width decode to numbers when
 * they fit a double exactly ('auto': uint64 timestamps from msgpack-c are numbers), and
 * to bigint beyond that, which integer fields then refuse with a reason.
 */
// undefined: a map key holding it is left out (as JSON does), elsewhere it is nil; never
// msgpackr's undefined extension.
const STANDARD: Options = {
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  int64AsType: 'auto' as 'number',
  encodeUndefinedAsNil: true,
  skipValues: [undefined],
} as Options;
const packr = new Packr(STANDARD);
// The v0 batch frames (msgpackr records: each key list once per frame) are no longer
// sent by default: a standard decoder misreads them without an error. Kept only so
// the benchmark can measure what standard frames cost against them in the same run.
const recordPackr = new Packr({ ...STANDARD, useRecords: true });

/**
 * How a batch of envelopes is written:
 * - `rows` (actor subjects): one msgpack map `{ keys: [field names], rows: [[values in
 *   key order], ...] }`, nil for a field an envelope lacks; plain msgpack, the field
 *   names once per frame. Measured on 64 envelopes of 100 B: encode 0.6 µs and decode
 *   0.7 µs per envelope, against 2.1 / 1.4 for an array of maps and 1.1 / 0.4 for
 *   msgpackr's records.
 * - `maps` (replies, which foreign clients read): a msgpack array of envelope maps.
 * - `records`: v0's msgpackr record frames, for the benchmark's comparison only.
 */
export type BatchEncoding = 'rows' | 'maps' | 'records';

const BASE_KEYS = ['message_id', 'source_elder', 'target_elder', 'message_type', 'payload', 'priority', 'timestamp', 'requires_ack', 'seq'];
const OPTIONAL_KEYS = OPTIONAL_FIELDS;
/** Key lists by which optional fields a batch uses (a bit each, in OPTIONAL_KEYS order). */
const KEY_LISTS = Array.from({ length: 1 << OPTIONAL_KEYS.length }, (_, mask) => [
  ...BASE_KEYS,
  ...OPTIONAL_KEYS.filter((_k, i) => mask & (1 << i)),
]);
/** Field names a rows frame may not use: they would reach an object's prototype. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_KEYS = 64;

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return packr.pack(wireEnvelope(envelope));
}

/** Several envelopes for one subject, in send order. */
export function encodeBatch(envelopes: readonly Envelope[], encoding: BatchEncoding = 'rows'): Uint8Array {
  if (encoding === 'rows') return packr.pack(toRows(envelopes));
  return (encoding === 'records' ? recordPackr : packr).pack(envelopes.map(wireEnvelope));
}

function toRows(envelopes: readonly Envelope[]): { keys: string[]; rows: unknown[][] } {
  let mask = 0;
  for (const e of envelopes) {
    if (e.reply_to !== undefined) mask |= 1;
    if (e.correlation_id !== undefined) mask |= 2;
    if (e.stream !== undefined) mask |= 4;
    if (e.ack_base !== undefined) mask |= 8;
    if (e.v !== undefined) mask |= 16;
    if (e.traceparent !== undefined) mask |= 32;
  }
  const rows = new Array<unknown[]>(envelopes.length);
  for (let i = 0; i < envelopes.length; i++) {
    const e = envelopes[i]!;
    const row: unknown[] = [e.message_id, e.source_elder, e.target_elder, e.message_type, e.payload, e.priority, e.timestamp, e.requires_ack, e.seq];
    if (mask & 1) row.push(e.reply_to ?? null);
    if (mask & 2) row.push(e.correlation_id ?? null);
    if (mask & 4) row.push(e.stream ?? null);
    if (mask & 8) row.push(e.ack_base ?? null);
    if (mask & 16) row.push(e.v ?? null);
    if (mask & 32) row.push(e.traceparent ?? null);
    rows[i] = row;
  }
  return { keys: KEY_LISTS[mask]!, rows };
}

/** A decoded map that is a rows batch rather than one envelope. */
export function isRowsFrame(value: Record<string, unknown>): boolean {
  return value.message_id === undefined && value.rows !== undefined;
}

/**
 * A rows batch back into envelope maps (nil = field absent); a reason when its shape is
 * wrong. Each map is then validated as any envelope.
 */
export function fromRows(value: Record<string, unknown>): { ok: true; items: Record<string, unknown>[] } | { ok: false; reason: string } {
  const { keys, rows } = value;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) {
    return { ok: false, reason: `a rows batch needs keys: an array of 1..${MAX_KEYS} field names` };
  }
  for (const key of keys) {
    if (typeof key !== 'string' || FORBIDDEN_KEYS.has(key)) return { ok: false, reason: `a rows batch's keys must be field names, got ${JSON.stringify(key)}` };
  }
  if (new Set(keys).size !== keys.length) return { ok: false, reason: "a rows batch's keys must not repeat" };
  if (!Array.isArray(rows) || rows.length === 0) return { ok: false, reason: 'a rows batch needs rows: a non-empty array' };
  const n = keys.length;
  // The frames this runtime sends: plain tells, acked tells, asks. Their rows are made as
  // object literals of one shape each (plainRow, ackedRow, askRow).
  const layout = n === BASE_KEYS.length ? sameKeys(keys, 0) : n === BASE_KEYS.length + 2 ? (sameKeys(keys, 12) ?? sameKeys(keys, 3)) : undefined;
  const items = new Array<Record<string, unknown>>(rows.length);
  // A frame's rows mostly repeat sender, target and type (and an acked stream's name, or
  // an asker's inbox): envelopes waiting in a mailbox share one string of each instead of
  // holding a decoded copy apiece (less to copy at every young-generation collection).
  let source: unknown;
  let target: unknown;
  let type: unknown;
  let extra: unknown;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (!Array.isArray(row) || row.length !== n) return { ok: false, reason: `row ${i} of a rows batch is not an array of ${n} values` };
    if (layout !== undefined && !row.includes(null) && !row.includes(undefined)) {
      if (row[1] !== source) source = row[1];
      if (row[2] !== target) target = row[2];
      if (row[3] !== type) type = row[3];
      if (layout !== 0 && row[9] !== extra) extra = row[9];
      items[i] = layout === 0 ? plainRow(row, source, target, type) : layout === 12 ? ackedRow(row, source, target, type, extra) : askRow(row, source, target, type, extra);
      continue;
    }
    const item: Record<string, unknown> = {};
    for (let j = 0; j < n; j++) {
      const v = row[j];
      if (v !== null && v !== undefined) item[keys[j] as string] = v;
    }
    items[i] = item;
  }
  return { ok: true, items };
}

// The frames this runtime sends (plain tells, acked tells, asks), each row made as an
// object literal of one shape: every envelope has its final shape from the start instead
// of growing key by key (allocation and GC per message).

function plainRow(row: unknown[], source: unknown, target: unknown, type: unknown): Record<string, unknown> {
  return { message_id: row[0], source_elder: source, target_elder: target, message_type: type, payload: row[4], priority: row[5], timestamp: row[6], requires_ack: row[7], seq: row[8] };
}

function ackedRow(row: unknown[], source: unknown, target: unknown, type: unknown, stream: unknown): Record<string, unknown> {
  return { message_id: row[0], source_elder: source, target_elder: target, message_type: type, payload: row[4], priority: row[5], timestamp: row[6], requires_ack: row[7], seq: row[8], stream, ack_base: row[10] };
}

function askRow(row: unknown[], source: unknown, target: unknown, type: unknown, replyTo: unknown): Record<string, unknown> {
  return { message_id: row[0], source_elder: source, target_elder: target, message_type: type, payload: row[4], priority: row[5], timestamp: row[6], requires_ack: row[7], seq: row[8], reply_to: replyTo, correlation_id: row[10] };
}

/** `mask` if the frame's keys are exactly KEY_LISTS[mask], in order. */
function sameKeys(keys: unknown[], mask: number): number | undefined {
  const expected = KEY_LISTS[mask]!;
  if (keys.length !== expected.length) return undefined;
  for (let j = 0; j < expected.length; j++) if (keys[j] !== expected[j]) return undefined;
  return mask;
}

const BATCH_REASON = 'a batch frame must be a non-empty array of envelopes (maps)';

/** A frame that is an array: a batch only if every item is a map (else one bad frame). */
export function isBatch(value: unknown[]): value is (Record<string, unknown> | null)[] {
  if (value.length === 0) return false;
  for (const item of value) if (item === null || typeof item !== 'object' || Array.isArray(item)) return false;
  return true;
}

/**
 * A decoded frame to an actor or shard subject as its envelopes (PROTOCOL.md section 6):
 * one map, an array of maps, or the rows form. An array that is not a batch or a rows map
 * of the wrong shape is a reason instead: the whole frame is refused. Each item is still
 * validated on its own later (one item may be anything but an array here: a bad one is
 * its own dead letter).
 */
export function frameItems(value: unknown): { ok: true; items: readonly unknown[] } | { ok: false; reason: string } {
  if (Array.isArray(value)) return isBatch(value) ? { ok: true, items: value } : { ok: false, reason: BATCH_REASON };
  if (value !== null && typeof value === 'object' && isRowsFrame(value as Record<string, unknown>)) return fromRows(value as Record<string, unknown>);
  return { ok: true, items: [value] };
}

/** The ids a receiver acknowledges to one reply subject: a msgpack array of strings. */
export function encodeAcks(ids: readonly string[]): Uint8Array {
  return packr.pack(ids);
}

export type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

/** Decodes a frame; never throws. Shape checks are validateEnvelope's job. */
export function decodeFrame(frame: Uint8Array, maxBytes = DEFAULT_MAX_FRAME_BYTES): Decoded {
  if (frame.byteLength > maxBytes) {
    return { ok: false, reason: `frame of ${frame.byteLength} bytes exceeds the ${maxBytes} byte limit` };
  }
  if (frame.byteLength === 0) return { ok: false, reason: 'empty frame' };
  try {
    return { ok: true, value: packr.unpack(frame) };
  } catch (err) {
    return { ok: false, reason: `not msgpack: ${(err as Error).message}` };
  }
}
