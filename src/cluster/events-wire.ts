import { Packr } from 'msgpackr';
import type { SystemEvent } from '../actors/events.js';
import type { MembershipEvent } from './membership.js';

/** What travels on elders.<cluster>.sys.events.<node>: plain maps, errors as messages. */
export type WireEvent =
  | (Omit<Extract<SystemEvent, { type: 'dead_letter' }>, 'envelope' | 'error'> & {
      envelope?: { id: string; from: string; to: string; type: string };
      error?: string;
      /**
       * Overflow only: this many dead letters `overflow` of the same type to the same
       * target since the last such event (the envelope is the latest). A flood must not cost one
       * published event per refused message. Absent means 1.
       */
      count?: number;
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

/** How long overflow dead letters to one target are summed into one wire event. */
export const OVERFLOW_SUMMARY_MS = 250;

/**
 * Sums `overflow` dead letters per target and type into one event per OVERFLOW_SUMMARY_MS
 * (`count`); every other event goes out as it is. `flush` sends what is summed now.
 */
export function overflowSummarizer(publish: (event: WireEvent) => void): { event(e: SystemEvent): void; flush(): void } {
  // The latest event and the count per target: converted once per summary, not per message.
  const summed = new Map<string, { event: SystemEvent; count: number }>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const all = [...summed.values()];
    summed.clear();
    for (const { event, count } of all) publish({ ...(toWire(event) as Extract<WireEvent, { type: 'dead_letter' }>), count });
  };
  return {
    event(e) {
      if (e.type !== 'dead_letter' || e.reason !== 'overflow') return publish(toWire(e));
      // Per target and message type: the summary's envelope names both truly.
      const to = e.envelope === undefined ? '' : e.envelope.target_elder + '\u0000' + e.envelope.message_type;
      const before = summed.get(to);
      if (before === undefined) summed.set(to, { event: e, count: 1 });
      else {
        before.event = e;
        before.count++;
      }
      timer ??= setTimeout(flush, OVERFLOW_SUMMARY_MS);
    },
    flush() {
      clearTimeout(timer);
      flush();
    },
  };
}
