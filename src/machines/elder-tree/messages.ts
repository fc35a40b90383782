/**
 * What every elder shares: side effects as data, performed by one named action, and
 * checks of the payloads that come in.
 *
 * Each machine computes its next context and a list of effects (tells and replies) in
 * its transitions, then enqueues the named action `deliver` with them. At run time
 * `deliver` sends through the node; a unit test provides its own `deliver` with
 * `machine.provide({ actions: { deliver } })` and sees every message the machine
 * would send, without a node (XState's own way of testing side effects).
 */
import { runtimeOf, type ActorRuntime } from '../../actors/effects.js';
import type { Envelope } from '../../actors/envelope.js';
import type { Payload } from '../../actors/system.js';

export type { Payload };

export type Effect =
  | { kind: 'tell'; to: string; type: string; payload?: Payload; priority?: number }
  /** Answers the ask `to` carried; nothing happens for a tell (there is nobody to answer). */
  | { kind: 'reply'; to: Envelope | undefined; payload: Payload }
  /** Hands a message on unchanged (sender, reply address): the new target answers the asker. */
  | { kind: 'forward'; envelope: Envelope | undefined; to: string };

export const tellEffect = (to: string, type: string, payload?: Payload, priority?: number): Effect => ({
  kind: 'tell',
  to,
  type,
  ...(payload === undefined ? {} : { payload }),
  ...(priority === undefined ? {} : { priority }),
});

export const replyEffect = (to: Envelope | undefined, payload: Payload): Effect => ({ kind: 'reply', to, payload });

/** The runtime when a node runs this actor; undefined when a test runs the machine bare. */
export function runtimeIfAny(system: object): ActorRuntime | undefined {
  try {
    return runtimeOf(system);
  } catch {
    return undefined;
  }
}

/** The envelope being processed (to answer it now or later), if any. */
export function currentEnvelope(system: object): Envelope | undefined {
  return runtimeIfAny(system)?.current;
}

/** Was the message being processed an ask? (A tell gets no answer.) */
export function isAsk(envelope: Envelope | undefined): boolean {
  return envelope?.reply_to !== undefined && envelope.correlation_id !== undefined;
}

/** The implementation of `deliver` at run time. */
export function perform(system: object, effects: readonly Effect[]): void {
  const runtime = runtimeOf(system);
  for (const effect of effects) {
    if (effect.kind === 'tell') {
      runtime.tell(effect.to, effect.type, effect.payload, effect.priority === undefined ? undefined : { priority: effect.priority });
    } else if (effect.kind === 'forward') {
      runtime.forward(effect.envelope, effect.to);
    } else if (isAsk(effect.to)) {
      runtime.replyTo(effect.to, effect.payload);
    }
  }
}

/** The `deliver` action every elder declares in setup(). */
export const deliver = ({ system }: { system: object }, params: { effects: readonly Effect[] }): void =>
  perform(system, params.effects);

/**
 * Answers are maps: `{ ok: true, ... }` or `{ ok: false, error }`. An error answer is
 * still a reply (the ask resolves) so that bad input never costs the elder a crash.
 */
export const ok = (payload: Payload = {}): Payload => ({ ok: true, ...payload });
export const refuse = (error: string): Payload => ({ ok: false, error });

// ---- payload checks ------------------------------------------------------------------

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export const valid = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const invalid = (error: string): { ok: false; error: string } => ({ ok: false, error });

/** A human description of what arrived, for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${String(value)}`;
}

export function text(value: unknown, field: string, opts: { required?: boolean; max?: number } = {}): Parsed<string | undefined> {
  if (value === undefined || value === null) {
    return opts.required ? invalid(`${field} is required (a non-empty string)`) : valid(undefined);
  }
  if (typeof value !== 'string') return invalid(`${field} must be a string, got ${describe(value)}`);
  const trimmed = value.trim();
  if (opts.required && trimmed.length === 0) return invalid(`${field} must not be empty`);
  const max = opts.max ?? 10_000;
  if (trimmed.length > max) return invalid(`${field} is longer than ${max} characters`);
  return valid(trimmed);
}

export function int(value: unknown, field: string, min: number, max: number): Parsed<number | undefined> {
  if (value === undefined || value === null) return valid(undefined);
  if (typeof value !== 'number' || !Number.isInteger(value)) return invalid(`${field} must be a whole number, got ${describe(value)}`);
  if (value < min || value > max) return invalid(`${field} must be from ${min} to ${max}, got ${value}`);
  return valid(value);
}

export function map(value: unknown, field: string): Parsed<Payload | undefined> {
  if (value === undefined || value === null) return valid(undefined);
  if (typeof value !== 'object' || Array.isArray(value)) return invalid(`${field} must be a map, got ${describe(value)}`);
  return valid(value as Payload);
}

export function strings(value: unknown, field: string, maxItems = 32): Parsed<string[] | undefined> {
  if (value === undefined || value === null) return valid(undefined);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    return invalid(`${field} must be a list of strings, got ${describe(value)}`);
  }
  if (value.length > maxItems) return invalid(`${field} takes at most ${maxItems} items`);
  return valid(value as string[]);
}

/** Runs checks in order and returns the first error, or undefined. */
export function firstError(...results: Parsed<unknown>[]): string | undefined {
  for (const r of results) if (!r.ok) return r.error;
  return undefined;
}

/** Keeps the last `max` items. */
export function keepLast<T>(items: readonly T[], item: T, max: number): T[] {
  const next = items.length >= max ? items.slice(items.length - max + 1) : items.slice();
  next.push(item);
  return next;
}
