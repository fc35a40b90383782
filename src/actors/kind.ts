/**
 * Kinds and references: an actor's protocol, declared once, as types the compiler checks
 * at every tell, ask and reply, locally, across nodes and from outside the tree.
 *
 * The protocol lives where XState keeps types, in `setup({ types: { events } })`: the
 * events an actor takes are its machine's events, and an event that is asked carries its
 * reply type, `Ask<{ type: 'get' }, { count: number }>`. A kind gives the machine a name
 * (so a reference can travel as data) and, optionally, a Standard Schema per event that
 * the node checks messages from the wire against.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { AnyEventObject, AnyStateMachine, EventFrom, EventObject } from 'xstate';

/** A message payload: the event's fields, `type` aside. */
export type Payload = Record<string, unknown>;

// Phantom keys: they never exist at run time. Exported so declaration files can name them.
export declare const replyBrand: unique symbol;
export declare const kindBrand: unique symbol;

/**
 * An event that is asked, and the reply it gets. In `setup({ types: { events } })`:
 * `| Ask<{ type: 'get' }, { count: number }>`. The reply type is a phantom: nothing of it
 * exists at run time, and `{ type: 'get' }` is still the event the machine receives.
 */
export type Ask<E extends EventObject, R extends Payload> = E & { readonly [replyBrand]?: R };

/** The reply type an `Ask` event declares (never for a plain event). */
export type ReplyOf<E> = E extends { readonly [replyBrand]?: infer R } ? Exclude<R, undefined> : never;

/** The members of an event union that are asks. */
export type AskEvent<E> = E extends unknown ? (typeof replyBrand extends keyof E ? E : never) : never;

/** An event's fields other than `type` (and the reply phantom); per member of a union. */
export type EventFields<E> = E extends unknown ? Omit<E, 'type' | typeof replyBrand> : never;

/** Per event type, a Standard Schema (zod, valibot, arktype...) of that event's fields. */
export type EventSchemas<E extends EventObject = EventObject> = {
  [T in E['type']]?: StandardSchemaV1<unknown, EventFields<Extract<E, { type: T }>>>;
};

/** Events described by schemas, for machines whose types follow their schemas. */
export type SchemaEvents<S extends Record<string, StandardSchemaV1>> = {
  [T in keyof S & string]: { type: T } & StandardSchemaV1.InferOutput<S[T]>;
}[keyof S & string];

import { checkKey, entityTarget, parseEntityTarget } from './entity-address.js';

const KIND = Symbol.for('eldertree.kind');

/** An actor's protocol: its machine, a name references carry, and optional schemas. */
export interface Kind<TMachine extends AnyStateMachine = AnyStateMachine, TName extends string = string> {
  readonly name: TName;
  readonly machine: TMachine;
  readonly schemas: Readonly<Record<string, StandardSchemaV1>> | undefined;
  /** A reference to the actor of this kind at `path`: plain data, `{ path, kind }`. */
  at(path: string): Address<Kind<TMachine, TName>>;
  /** The address of the entity of this kind with `key` (a region in the tree runs it): `{ path: 'cart/key', kind }`. */
  entity(key: string): Address<Kind<TMachine, TName>>;
}

// `any`: a kind of any machine; AnyStateMachine alone would not accept specific ones here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKind = Kind<any, string>;

/** The events of a kind's actors (what tell takes); any event for a reference of unknown kind. */
export type EventOf<K extends AnyKind> = 0 extends 1 & K['machine'] ? AnyEventObject : EventFrom<K['machine']>;

/**
 * An actor's address: its path and the name of its kind. Plain data, so it travels inside
 * a payload (msgpack, JSON) and is bound again on another node with `ref(address)`. The
 * kind is carried as a phantom type, so the bound reference is typed again. (XState has
 * an `ActorRef` of its own, for actors in one process; hence another name.)
 */
export interface Address<K extends AnyKind | string = AnyKind> {
  readonly path: string;
  readonly kind: KindName<K>;
  readonly [kindBrand]?: K;
}

/**
 * A kind's name. `Address<'counter'>` names the kind by name only: what a machine's own
 * events use for an address of its own kind (or of a kind that refers back to it), where
 * `typeof Counter` would make the machine's type depend on itself.
 */
export type KindName<K extends AnyKind | string> = K extends AnyKind ? K['name'] : K;

/** An address of kind K, given by kind or by name. */
export type AddressFor<K extends AnyKind> = Address<K> | Address<K['name']>;

export interface KindOptions<TMachine extends AnyStateMachine> {
  /** Checked at the node boundary: a message from the wire that fails is a `malformed` dead letter. */
  schemas?: EventSchemas<EventFrom<TMachine>>;
}

// A subject token: the kind name is part of entity subjects.
const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * Declares a kind: `export const Counter = kind('counter', counterMachine)`. The tree
 * (`worker('counter', Counter)`), references (`node.ref(Counter, '/app/counter')`) and
 * the schemas share it.
 */
export function kind<const TName extends string, TMachine extends AnyStateMachine>(
  name: TName,
  machine: TMachine,
  options: KindOptions<TMachine> = {},
): Kind<TMachine, TName> {
  if (!NAME.test(name)) throw new TypeError(`a kind's name must match ${NAME}, got ${JSON.stringify(name)}`);
  const schemas = options.schemas as Record<string, StandardSchemaV1> | undefined;
  for (const [type, schema] of Object.entries(schemas ?? {})) {
    if (typeof (schema as Partial<StandardSchemaV1> | undefined)?.['~standard']?.validate !== 'function') {
      throw new TypeError(`kind ${name}: the schema of ${type} is not a Standard Schema (zod, valibot, arktype...)`);
    }
  }
  const k: Kind<TMachine, TName> = {
    name,
    machine,
    schemas: schemas && Object.keys(schemas).length > 0 ? Object.freeze({ ...schemas }) : undefined,
    at: (path: string) => ({ path, kind: name }) as Address<Kind<TMachine, TName>>,
    entity: (key: string) => ({ path: entityTarget(name, checkKey(key)), kind: name }) as Address<Kind<TMachine, TName>>,
  };
  Object.defineProperty(k, KIND, { value: true });
  return Object.freeze(k);
}

export function isKind(value: unknown): value is AnyKind {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[KIND] === true;
}

/** Is `value` a reference (`{ path, kind }`), e.g. one that came inside a payload? */
export function isAddress(value: unknown): value is Address {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.path === 'string' && typeof v.kind === 'string' && (v.path.startsWith('/') || typeof parseEntityTarget(v.path) !== 'string');
}

export type EventCheck = { ok: true; event: EventObject } | { ok: false; reason: string };

/**
 * Checks a message against its kind's schema for that event type, if any. Synchronous
 * only: an async schema would let a later message overtake this one (per-pair FIFO).
 */
export function checkEvent(schemas: Readonly<Record<string, StandardSchemaV1>>, type: string, payload: Payload): EventCheck | undefined {
  const schema = schemas[type];
  if (schema === undefined) return undefined;
  // Typed tells carry their event as the payload, `type` included; schemas see fields only.
  let fields = payload;
  if ('type' in payload) {
    const { type: _type, ...rest } = payload;
    fields = rest;
  }
  const result = schema['~standard'].validate(fields);
  if (result instanceof Promise) {
    return { ok: false, reason: `the schema of ${type} is asynchronous; the node boundary takes synchronous schemas only` };
  }
  if (result.issues !== undefined) return { ok: false, reason: `${type}: ${describeIssues(result.issues)}` };
  // The output is the schema's fresh object or the decoded payload, ours either way: it
  // becomes the event by taking its type, without a copy.
  const value = result.value as Payload;
  if (value !== null && typeof value === 'object' && Object.isExtensible(value)) {
    value.type = type;
    return { ok: true, event: value as EventObject };
  }
  return { ok: true, event: { ...value, type } };
}

function describeIssues(issues: readonly StandardSchemaV1.Issue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
