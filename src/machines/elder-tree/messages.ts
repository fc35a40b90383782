/**
 * What every elder shares: side effects as data, performed by one named action, and
 * checks of the payloads that come in. This is the lowest layer of the elders' messaging:
 * the effects hold plain paths and types, but the functions that make them take an
 * elder's address and an event of its protocol (protocol.ts), typed by its kind name.
 *
 * Each machine computes its next context and a list of effects (tells and replies) in
 * its transitions, then enqueues the named action `deliver` with them. At run time
 * `deliver` sends through the node; a unit test provides its own `deliver` with
 * `machine.provide({ actions: { deliver } })` and sees every message the machine
 * would send, without a node (XState's own way of testing side effects).
 */
import type { EventObject } from 'xstate';
import { runtimeOf, type ActorRuntime } from '../../actors/effects.js';
import type { Envelope } from '../../actors/envelope.js';
import type { AskEvent, ReplyOf } from '../../actors/kind.js';
import type { AskOptions, Payload } from '../../actors/system.js';
import type { ElderAddress, ElderName, ElderProtocols, Refusal } from './protocol.js';

export type { Payload };

/**
 * The effects are data (paths, types, payloads: a test compares them as they are); the
 * functions that make them are typed: a tell names an elder by address and takes only
 * an event of that elder's protocol.
 */
export type Effect =
  | { kind: 'tell'; to: string; type: string; payload?: Payload; priority?: number }
  /** Answers the ask `to` carried; nothing happens for a tell (there is nobody to answer). */
  | { kind: 'reply'; to: Envelope | undefined; payload: Payload }
  /** Hands a message on unchanged (sender, reply address): the new target answers the asker. */
  | { kind: 'forward'; envelope: Envelope | undefined; to: string };

/**
 * The path of an address. A snapshot saved before addresses were typed holds the bare
 * path: it is still understood, so that a persistent elder keeps its state on upgrade.
 */
export function pathOf(address: ElderAddress<ElderName> | string): string {
  return typeof address === 'string' ? address : address.path;
}

/** Tell the elder at `to` an event of its protocol: `tellEffect(context.taskSage, { type: 'sage.task.pause' })`. */
export function tellEffect<N extends ElderName>(to: ElderAddress<N>, event: NoInfer<ElderProtocols[N]>, priority?: number): Effect {
  const { type, ...payload } = event as EventObject;
  return { kind: 'tell', to: pathOf(to), type, payload, ...(priority === undefined ? {} : { priority }) };
}

/**
 * Answer the event being handled with the reply its `Ask<...>` declares:
 * `answer(event, envelope, ok({ entry }))`. An event that is not an ask has nothing to answer.
 */
export function answer<E extends EventObject>(_event: E, to: Envelope | undefined, payload: NoInfer<ReplyOf<E>>): Effect {
  return { kind: 'reply', to, payload: payload as Payload };
}

/**
 * Answer an ask that was kept for later (a servant waiting for work, a proposal waiting
 * for its decision), with the reply the kept event's type declares.
 */
export function answerLater<E extends EventObject>(to: Envelope | undefined, payload: NoInfer<ReplyOf<E>>): Effect {
  return { kind: 'reply', to, payload: payload as Payload };
}

/** Hand the message being processed on to `to` unchanged: `to` answers the asker. */
export function forwardEffect<N extends ElderName>(envelope: Envelope | undefined, to: ElderAddress<N>): Effect {
  return { kind: 'forward', envelope, to: pathOf(to) };
}

/** Tell the elder at `to` an event of its protocol, from inside an elder's invoked logic. */
export function tellElder<N extends ElderName>(runtime: ActorRuntime, to: ElderAddress<N>, event: NoInfer<ElderProtocols[N]>): string {
  const { type, ...payload } = event as EventObject;
  return runtime.tell(pathOf(to), type, payload);
}

/** The reply the event E gets from an elder whose events are M: the reply of each member E fits. */
export type ReplyMatching<M, E> = M extends unknown ? (E extends M ? ReplyOf<M> : never) : never;

type KeysOfMatching<M, E> = M extends unknown ? (E extends M ? keyof M : never) : never;
/** A field the matching event does not have is an error (as excess fields of a literal are). */
type NoExtraFields<M, E> = { [K in Exclude<keyof E, KeysOfMatching<M, E>>]: never };

/**
 * Ask the elder at `to` an ask of its protocol, from inside an elder's invoked logic,
 * and get the reply that ask declares: `await askElder(runtime, input.taskSage, { type:
 * 'sage.task.submit', ... })`.
 */
export function askElder<N extends ElderName, const E extends AskEvent<ElderProtocols[N]>>(
  runtime: ActorRuntime,
  to: ElderAddress<N>,
  event: E & NoExtraFields<ElderProtocols[N], E>,
  options?: Omit<AskOptions, 'from'>,
): Promise<ReplyMatching<ElderProtocols[N], E>> {
  const { type, ...payload } = event as unknown as EventObject;
  return runtime.ask(pathOf(to), type, payload, options) as Promise<ReplyMatching<ElderProtocols[N], E>>;
}

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
export function ok(): { ok: true };
export function ok<T extends object>(payload: T): { ok: true } & T;
export function ok(payload: object = {}): object {
  return { ok: true, ...payload };
}
export const refuse = (error: string): Refusal => ({ ok: false, error });

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
