import { Packr, type Options } from 'msgpackr';
import type { Envelope } from '../actors/envelope.js';

/** Frames larger than this are refused before decoding (1 MiB, NATS' default max_payload). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/**
 * Standard msgpack only (PROTOCOL.md): maps, arrays, strings, integers, floats, bools,
 * nil, binary; no extension types written. Integers of any width decode to numbers when
 * they fit a double exactly ('auto': uint64 timestamps from msgpack-c are numbers), and
 * to bigint beyond that, which integer fields then refuse with a reason.
 */
const STANDARD: Options = { useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'auto' as 'number' };
const packr = new Packr(STANDARD);
// The v0 batch frames (msgpackr records: each key list once per frame) are no longer
// sent by default: a standard decoder misreads them without an error. Kept only so
// the benchmark can measure what standard frames cost against them in the same run.
const recordPackr = new Packr({ ...STANDARD, useRecords: true });

export type BatchEncoding = 'standard' | 'records';

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return packr.pack(envelope);
}

/** Several envelopes for one subject: a msgpack array of envelope maps, in send order. */
export function encodeBatch(envelopes: readonly Envelope[], encoding: BatchEncoding = 'standard'): Uint8Array {
  return (encoding === 'records' ? recordPackr : packr).pack(envelopes);
}

/** Any plain value (acks: a msgpack array of message id strings). */
export function encodeValue(value: unknown): Uint8Array {
  return packr.pack(value);
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
