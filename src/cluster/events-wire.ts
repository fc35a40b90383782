import { Packr } from 'msgpackr';
import type { SystemEvent } from '../actors/events.js';
import type { MembershipEvent } from './membership.js';

/** What travels on elders.<cluster>.sys.events.<node>: plain maps, errors as messages. */
export type WireEvent =
  | (Omit<Extract<SystemEvent, { type: 'dead_letter' }>, 'envelope' | 'error'> & {
      envelope?: { id: string; from: string; to: string; type: string };
      error?: string;
    })
  | (Omit<Exclude<SystemEvent, { type: 'dead_letter' }>, 'error'> & { error?: string })
  | (MembershipEvent & { observer: string });

// Standard msgpack for any reader (PROTOCOL.md section 9): an undefined field is left out.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, skipValues: [undefined] } as ConstructorParameters<typeof Packr>[0]);

export function toWire(event: SystemEvent): WireEvent {
  if (event.type === 'dead_letter') {
    const { envelope, error, ...rest } = event;
    return {
      ...rest,
      ...(envelope
        ? { envelope: { id: envelope.message_id, from: envelope.source_elder, to: envelope.target_elder, type: envelope.message_type } }
        : {}),
      ...(error ? { error: error.message } : {}),
    };
  }
  const { error, ...rest } = event;
  return { ...rest, ...(error ? { error: error.message } : {}) };
}

export function encodeWire(event: WireEvent): Uint8Array {
  return packr.pack(event);
}

export function decodeWire(data: Uint8Array): WireEvent | undefined {
  try {
    const value = packr.unpack(data) as WireEvent;
    return value && typeof value === 'object' && typeof value.type === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export function encodeMsg(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decodeMsg<T>(data: Uint8Array): T | undefined {
  try {
    return packr.unpack(data) as T;
  } catch {
    return undefined;
  }
}
