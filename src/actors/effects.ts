import type {
  ActionArgs as XStateActionArgs,
  ActionFunction,
  Cast,
  InferEvent,
  EventObject,
  MachineContext,
  ParameterizedObject,
  ProvidedActor,
} from 'xstate';
import { plainEnvelope, type Envelope } from './envelope.js';
import { EldertreeError, toError } from './errors.js';
import type { Address, AddressFor, AnyKind, AskEvent, EventOf, ReplyOf } from './kind.js';
import { bindEntity, bindRef, type AskMessage, type AskType, type Ref, type ReplyTo } from './ref.js';
import type { AskOptions, Payload, TellOptions } from './system.js';
import { cellOfSystem, type ActorCell } from './cell.js';

/**
 * What an XState action receives and these helpers use. `system` is XState's actor
 * system of the running actor: the runtime binds it to the actor's cell.
 */
export interface ActionArgs {
  context: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  event: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  system: object;
}

type Value<T> = T | ((args: ActionArgs) => T);

function resolve<T>(value: Value<T>, args: ActionArgs): T {
  return typeof value === 'function' ? (value as (a: ActionArgs) => T)(args) : value;
}

/** The runtime as seen from inside one actor. */
export interface ActorRuntime {
  readonly path: string;
  readonly incarnation: number;
  readonly nodeId: string;
  tell(target: string, type: string, payload?: Payload, options?: Omit<TellOptions, 'from'>): string;
  ask<T extends Payload = Payload>(
    target: string,
    type: string,
    payload?: Payload,
    options?: Omit<AskOptions, 'from'>,
  ): Promise<T>;
  /** The message being processed now (undefined in timers and invoked callbacks). */
  readonly current: Envelope | undefined;
  /** Replies to the ask `request` carried; keep the envelope to reply later. */
  replyTo(request: Envelope | undefined, payload: Payload): void;
  /** A service of the node (e.g. 'locks'); throws naming what is missing. */
  service<T>(name: string): T;
  /** Sends `envelope` on to `target` unchanged (id, sender, reply_to): the target answers the asker. An acked one takes a new seq in this node's stream (see ActorSystem.resequence). */
  forward(envelope: Envelope | undefined, target: string): void;
  /** A typed reference that sends as this actor: `ref(Counter, '/app/counter')`, or a reference that came as data. */
  ref<K extends AnyKind>(kind: K, path: NoInfer<string | AddressFor<K>>): Ref<K>;
  ref<K extends AnyKind>(address: Address<K>): Ref<K>;
  /** A typed reference to the entity `key` of a kind (activated by its first message). */
  entity<K extends AnyKind>(kind: K, key: string): Ref<K>;
}

class CellRuntime implements ActorRuntime {
  constructor(private readonly cell: ActorCell) {}
  get path() {
    return this.cell.path;
  }
  get incarnation() {
    return this.cell.incarnation;
  }
  get nodeId() {
    return this.cell.system.nodeId;
  }
  get current() {
    return this.cell.current;
  }
  tell(target: string, type: string, payload?: Payload, options?: Omit<TellOptions, 'from'>): string {
    return this.cell.system.tellFrom(this.cell, this.cell.path, target, type, payload, options);
  }
  ask<T extends Payload = Payload>(target: string, type: string, payload?: Payload, options?: Omit<AskOptions, 'from'>) {
    return this.cell.system.ask<T>(target, type, payload, { ...options, from: this.cell.path });
  }
  replyTo(request: Envelope | undefined, payload: Payload): void {
    this.cell.system.reply(this.cell, request, payload);
  }
  forward(envelope: Envelope | undefined, target: string): void {
    if (!envelope) return;
    const copy = plainEnvelope(envelope);
    copy.target_elder = target;
    if (copy.requires_ack) this.cell.system.resequence(copy);
    this.cell.system.route(copy);
  }
  ref<K extends AnyKind>(kindOrRef: K | Address<K>, path?: string | AddressFor<K>): Ref<K> {
    return bindRef<K>(this, kindOrRef, path);
  }
  entity<K extends AnyKind>(kind: K, key: string): Ref<K> {
    return bindEntity(this, kind, key);
  }
  service<T>(name: string): T {
    const service = this.cell.system.services[name];
    if (service === undefined) {
      const known = Object.keys(this.cell.system.services);
      throw new EldertreeError(`node ${this.nodeId} has no service "${name}" (it has: ${known.join(', ') || 'none'})`);
    }
    return service as T;
  }
}

const runtimes = new WeakMap<ActorCell, CellRuntime>();

/** The runtime of the actor whose XState `system` this is (from action or actor-logic args). */
export function runtimeOf(system: object): ActorRuntime {
  const cell = cellFor(system);
  let runtime = runtimes.get(cell);
  if (!runtime) runtimes.set(cell, (runtime = new CellRuntime(cell)));
  return runtime;
}

function cellFor(xstateSystem: object): ActorCell {
  const cell = cellOfSystem(xstateSystem);
  if (cell === undefined) throw new EldertreeError('this XState actor is not run by an eldertree node');
  return cell;
}

/** XState's arguments of an action, as our typed action creators see them. */
type Args<TContext extends MachineContext, TExpressionEvent extends EventObject, TEvent extends EventObject> = XStateActionArgs<
  TContext,
  TExpressionEvent,
  TEvent
>;

/**
 * What reply() may answer: the reply type the event being handled declares with Ask<...>.
 * A machine that declares no asks at all is untyped (any payload); one that declares
 * some may reply only to those, with their reply type.
 */
export type ReplyFor<TExpressionEvent, TEvent> = [AskEvent<TEvent>] extends [never]
  ? Payload
  : [AskEvent<TExpressionEvent>] extends [never]
    ? never
    : ReplyOf<TExpressionEvent>;

/**
 * XState action: tell the actor `to` an event, typed by its kind:
 * `tell(counterRef, { type: 'inc', by: 2 })`, either argument a function of the action's
 * arguments. The lower layer takes strings: `tell('/app/counter', 'inc', { by: 2 })`.
 */
export function tell<
  K extends AnyKind,
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TParams extends ParameterizedObject['params'] | undefined,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(
  to: Address<K> | ((args: Args<TContext, TExpressionEvent, TEvent>) => Address<K>),
  // As XState's sendTo: InferEvent keeps the literal `type` of an event made by a function.
  event: EventOf<K> | ((args: Args<TContext, TExpressionEvent, TEvent>) => InferEvent<Cast<EventOf<K>, EventObject>>),
  options?: Omit<TellOptions, 'from'>,
): ActionFunction<TContext, TExpressionEvent, TEvent, TParams, TActor, never, never, never, never>;
export function tell(target: Value<string>, type: string, payload?: Value<Payload>, options?: Omit<TellOptions, 'from'>): (args: ActionArgs) => void;
export function tell(
  target: unknown,
  typeOrEvent: unknown,
  payloadOrOptions?: unknown,
  maybeOptions?: Omit<TellOptions, 'from'>,
): (args: ActionArgs) => void {
  if (typeof typeOrEvent === 'string') {
    const payload = payloadOrOptions as Value<Payload> | undefined;
    return (args: ActionArgs): void => {
      const to = resolve(target as Value<string>, args);
      runtimeOf(args.system).tell(to, typeOrEvent, payload === undefined ? undefined : resolve(payload, args), maybeOptions);
    };
  }
  const options = payloadOrOptions as Omit<TellOptions, 'from'> | undefined;
  return (args: ActionArgs): void => {
    const to = resolve(target as Value<Address>, args);
    const event = resolve(typeOrEvent as Value<EventObject>, args);
    runtimeOf(args.system).tell(to.path, event.type, event as unknown as Payload, options);
  };
}

/**
 * XState action: reply to the ask being processed. Typed by the event's Ask<...>:
 * `get: { actions: reply(({ context }) => ({ count: context.count })) }` must answer
 * `{ count: number }`, and a reply to an event that is not an ask does not compile.
 */
export function reply<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TParams extends ParameterizedObject['params'] | undefined,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(
  payload: (args: Args<TContext, TExpressionEvent, TEvent>) => NoInfer<ReplyFor<TExpressionEvent, TEvent>>,
): ActionFunction<TContext, TExpressionEvent, TEvent, TParams, TActor, never, never, never, never>;
export function reply<
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TParams extends ParameterizedObject['params'] | undefined,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(payload?: NoInfer<ReplyFor<TExpressionEvent, TEvent>>): ActionFunction<TContext, TExpressionEvent, TEvent, TParams, TActor, never, never, never, never>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the overloads above give the types
export function reply(payload: unknown = {}): any {
  return (args: ActionArgs): void => {
    const runtime = runtimeOf(args.system);
    runtime.replyTo(runtime.current, resolve(payload as Value<Payload>, args));
  };
}

/**
 * XState action: ask `to` and turn the answer into an event of this actor, sent to itself
 * through its mailbox: `ask(counterRef, { type: 'get' }, { reply: (r) => ({ type: 'got',
 * count: r.count }), error: (e) => ({ type: 'failed', reason: e.message }) })`. An answer
 * that comes after this incarnation ended is dropped, as XState drops an invoked
 * promise's result after its actor stopped.
 */
/** What the ask action does with the answer: events of the asking machine, sent to itself. */
export type AskHandlers<R, TEvent> = {
  reply: (reply: R) => NoInfer<TEvent>;
  error?: (error: Error) => NoInfer<TEvent>;
} & Omit<AskOptions, 'from'>;

/**
 * The handlers of an ask action. When the event is not an ask of the target's kind (an
 * unknown type, a missing or wrong field), the reply is `never` and no handler compiles;
 * the check sits here, after the target, because the target is often a function of the
 * context and its kind is known only once that function is typed.
 */
export type AskActionHandlers<K extends AnyKind, E extends EventObject, TEvent> = {
  reply: (reply: E extends AskMessage<K, E['type']> ? ReplyTo<K, E['type']> : never) => NoInfer<TEvent>;
  error?: (error: Error) => NoInfer<TEvent>;
} & Omit<AskOptions, 'from'>;

export function ask<
  K extends AnyKind,
  const E extends EventObject,
  TContext extends MachineContext,
  TExpressionEvent extends EventObject,
  TParams extends ParameterizedObject['params'] | undefined,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
>(
  to: Address<K> | ((args: Args<TContext, TExpressionEvent, TEvent>) => Address<K>),
  event: E | ((args: Args<TContext, TExpressionEvent, TEvent>) => E),
  handlers: AskActionHandlers<K, E, TEvent>,
): ActionFunction<TContext, TExpressionEvent, TEvent, TParams, TActor, never, never, never, never>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the overload above gives the types
export function ask(to: unknown, event: unknown, handlers: unknown): any {
  const { reply: onReply, error: onError, ...options } = handlers as AskHandlers<Payload, EventObject>;
  return (args: ActionArgs): void => {
    const cell = cellFor(args.system);
    const incarnation = cell.incarnation;
    const target = resolve(to as Value<Address>, args);
    const message = resolve(event as Value<EventObject>, args);
    const toSelf = (next: EventObject | undefined) => {
      if (next === undefined || cell.incarnation !== incarnation || cell.status !== 'running') return;
      cell.system.tellFrom(cell, cell.path, cell.path, next.type, next as unknown as Payload);
    };
    cell.system.ask(target.path, message.type, message as unknown as Payload, { ...options, from: cell.path }).then(
      (answer) => toSelf(onReply(answer)),
      (err: unknown) => {
        if (onError) toSelf(onError(toError(err)));
        else cell.system.logger.warn({ path: cell.path, err }, `ask ${message.type} to ${target.path} failed and ${cell.path} has no error handler`);
      },
    );
  };
}
