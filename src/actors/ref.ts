import { checkKey, entityTarget, parseEntityTarget } from './entity-address.js';
import { EMPTY_PAYLOAD } from './envelope.js';
import { EldertreeError } from './errors.js';
import { isKind, type Address, type AnyKind, type AskEvent, type EventFields, type EventOf, type KindName, type Payload, type ReplyOf } from './kind.js';
import type { AskOptions, TellOptions } from './system.js';

/** Whoever sends through a reference: a node, a client, or an actor (its runtime). */
export interface RefSender {
  tell(target: string, type: string, payload?: Payload, options?: Omit<TellOptions, 'from'>): string;
  ask<T extends Payload = Payload>(target: string, type: string, payload?: Payload, options?: Omit<AskOptions, 'from'>): Promise<T>;
}

/** A reference whose kind is not known to the compiler (a bare path, a file's tree): any event, any reply. */
type Untyped<K extends AnyKind> = 0 extends 1 & K['machine'] ? true : false;

/** The event types of a kind that are asks. */
export type AskType<K extends AnyKind> = Untyped<K> extends true ? string : AskEvent<EventOf<K>>['type'];

/** The event an ask of type T sends: `{ type: T, ...its fields }`. */
export type AskMessage<K extends AnyKind, T extends string> =
  Untyped<K> extends true ? { type: T } & Payload : { type: T } & NoInfer<EventFields<Extract<EventOf<K>, { type: T }>>>;

/** What an ask of type T resolves with. */
export type ReplyTo<K extends AnyKind, T extends string> = Untyped<K> extends true ? Payload : ReplyOf<Extract<EventOf<K>, { type: T }>>;

/**
 * A reference bound to a sender: `node.ref(Counter, '/app/counter').tell({ type: 'inc' })`.
 * The event object is the message: its `type` is the message type and the object itself
 * travels as the payload, so a typed tell costs what a string tell costs. Serialised,
 * it is the plain `{ path, kind }` of an Address (the sender is not a field).
 */
export class Ref<K extends AnyKind = AnyKind> implements Address<K> {
  readonly path: string;
  readonly kind: KindName<K>;
  readonly #sender: RefSender;

  constructor(sender: RefSender, path: string, kind: string) {
    this.#sender = sender;
    this.path = path;
    this.kind = kind as KindName<K>;
  }

  /** Sends the event; returns the message id. A bad target is a dead letter, never a throw. */
  tell(event: EventOf<K>, options?: Omit<TellOptions, 'from'>): string {
    // An event that is only its type travels as one with no payload: the receiver then
    // hands XState one shared `{ type }` and keeps nothing of this object while it waits.
    return this.#sender.tell(this.path, (event as { type: string }).type, onlyType(event) ? EMPTY_PAYLOAD : (event as unknown as Payload), options);
  }

  /** Asks and resolves with the reply the event's `Ask<...>` declares. */
  ask<const T extends AskType<K>>(event: AskMessage<K, T>, options?: Omit<AskOptions, 'from'>): Promise<ReplyTo<K, T>> {
    return this.#sender.ask(this.path, event.type, event as unknown as Payload, options) as Promise<ReplyTo<K, T>>;
  }

  toJSON(): Address<K> {
    return { path: this.path, kind: this.kind };
  }
}

/**
 * Binds a kind and a path (or a reference that came as data) to a sender. A reference
 * of another kind than the one asked for is refused here rather than at its first tell.
 */
export function bindRef<K extends AnyKind>(sender: RefSender, kindOrRef: K | Address<K> | string, path?: string | Address<AnyKind | string>): Ref<K> {
  if (typeof kindOrRef === 'string') return new Ref<K>(sender, checkPath(kindOrRef), ANY_KIND);
  if (isKind(kindOrRef)) {
    if (path === undefined) throw new EldertreeError(`ref(${kindOrRef.name}, path): the path is missing`);
    if (typeof path === 'object' && path !== null) {
      const given = path as Address<string>;
      if (given.kind !== kindOrRef.name && given.kind !== ANY_KIND) {
        throw new EldertreeError(`${given.path} is referenced as kind ${given.kind}, not ${kindOrRef.name}`);
      }
      return new Ref<K>(sender, checkPath(given.path), kindOrRef.name);
    }
    const entity = path.startsWith('/') ? undefined : parseEntityTarget(path);
    if (typeof entity === 'object' && entity.kind !== kindOrRef.name) {
      throw new EldertreeError(`${path} is an entity address of kind ${entity.kind}, not ${kindOrRef.name} (an actor path starts with /)`);
    }
    return new Ref<K>(sender, checkPath(path), kindOrRef.name);
  }
  const given = kindOrRef as Address<K>;
  if (typeof given?.path !== 'string' || typeof given.kind !== 'string') {
    throw new EldertreeError(`not a reference: expected { path, kind }, got ${JSON.stringify(given)}`);
  }
  return new Ref<K>(sender, checkPath(given.path), given.kind);
}

/** The kind name of a reference made from a bare path, whose kind is not known here. */
export const ANY_KIND = '*';


/** An actor path (`/app/x`) or an entity address (`cart/key`). */
function checkPath(path: string): string {
  if (typeof path === 'string' && path.startsWith('/')) return path;
  if (typeof path === 'string' && typeof parseEntityTarget(path) !== 'string') return path;
  throw new EldertreeError(`an actor path starts with / (or an entity address is kind/key), got ${JSON.stringify(path)}`);
}

/** A reference to the entity `key` of kind `k`. */
export function bindEntity<K extends AnyKind>(sender: RefSender, k: K, key: string): Ref<K> {
  return new Ref<K>(sender, entityTarget(k.name, checkKey(key)), k.name);
}

function onlyType(event: object): boolean {
  for (const key in event) if (key !== 'type') return false;
  return true;
}
