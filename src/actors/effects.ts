import type { Envelope } from './envelope.js';
import { EldertreeError } from './errors.js';
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
  /** Sends `envelope` on to `target` unchanged (id, sender, reply_to): the target answers the asker. */
  forward(envelope: Envelope | undefined, target: string): void;
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
    if (envelope) this.cell.system.route({ ...envelope, target_elder: target });
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

/** XState action: tell `target` a `type` message. */
export function tell(target: Value<string>, type: string, payload?: Value<Payload>, options?: Omit<TellOptions, 'from'>) {
  return (args: ActionArgs): void => {
    runtimeOf(args.system).tell(resolve(target, args), type, payload === undefined ? undefined : resolve(payload, args), options);
  };
}

/** XState action: reply to the ask being processed. */
export function reply(payload: Value<Payload> = {}) {
  return (args: ActionArgs): void => {
    const runtime = runtimeOf(args.system);
    runtime.replyTo(runtime.current, resolve(payload, args));
  };
}
