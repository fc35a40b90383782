import { Packr } from 'msgpackr';
import type { Envelope } from '../actors/envelope.js';

/** Frames larger than this are refused before decoding (1 MiB, NATS' default max_payload). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

// Plain maps out, no records extension: frames must decode in any msgpack reader.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return packr.pack(envelope);
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
