import type { AnyStateMachine, InputFrom } from 'xstate';
import type { Shutdown } from '../actors/cell.js';
import { isKind, type AnyKind, type Kind } from '../actors/kind.js';
import type { Persistence } from '../actors/persistence.js';

/** `simple_one_for_one`: a dynamic supervisor, see `dynamicSupervisor`. */
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';
/** OTP's auto_shutdown: whether the end of `significant` children ends the supervisor. */
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';
export type { Shutdown };

/** Exponential restart delay: initial * factor^n, capped at max; n resets after a healthy run. */
export interface Backoff {
  /** ms before the first restart. */
  initial: number;
  /** ms cap. */
  max: number;
  /** default 2. */
  factor?: number;
  /** ms a child must run before its next crash counts from `initial` again; default max. */
  resetAfter?: number;
}

/**
 * Where a child runs when nodes form a cluster (ignored on a single node, which runs
 * everything): pinned to one `node`, `replicas` copies on different nodes behind one
 * queue group, or a `singleton` owned through a lease, with `standby` nodes (default:
 * every node) ready to take it over.
 */
export interface Placement {
  node?: string;
  replicas?: number;
  singleton?: boolean;
  standby?: string[];
}

interface CommonSpec<TId extends string = string> {
  /** Path token: letters, digits, `_` and `-`. */
  id: TId;
  /** default permanent. */
  restart?: RestartType;
  /** ms, brutal_kill or infinity; default 5000 for workers, infinity for supervisors. */
  shutdown?: Shutdown;
  backoff?: Backoff;
  placement?: Placement;
  /**
   * OTP's significant child: its end (a normal exit of a transient child, any exit of
   * a temporary one) may shut its supervisor down, per the supervisor's `autoShutdown`.
   * Only for transient and temporary children, under autoShutdown other than never.
   */
  significant?: boolean;
}

export interface WorkerSpec<
  TMachine extends AnyStateMachine = AnyStateMachine,
  TId extends string = string,
  TKind extends AnyKind = Kind<TMachine>,
> extends CommonSpec<TId> {
  type?: 'worker';
  machine: TMachine;
  /** The kind the worker was declared with: its name and schemas (absent for a bare machine). */
  kind?: TKind;
  input?: InputFrom<TMachine>;
  /** Opt-in: the snapshot is saved after each message (or every n ms) and restored at every start. */
  persist?: Persistence;
  /**
   * Messages its mailbox holds before new mail overflows (a tell: dead letter `overflow`;
   * an acked tell from another node: not acknowledged, so resent; an ask: rejected).
   * Default 100_000; `Infinity` for no bound.
   */
  capacity?: number;
}

export interface SupervisorSpec<TId extends string = string, TChildren extends readonly ChildSpec[] = readonly ChildSpec[]>
  extends CommonSpec<TId> {
  type: 'supervisor';
  /** default one_for_one. */
  strategy?: Strategy;
  /** Max restarts within `period` before the supervisor gives up; default 1 (OTP's). */
  intensity?: number;
  /** ms, a positive integer; default 5000 (OTP's 5 s). */
  period?: number;
  /** default never. */
  autoShutdown?: AutoShutdown;
  /** simple_one_for_one only: at most this many children (Elixir's max_children); default no limit. */
  maxChildren?: number;
  /** Started in this order, stopped in reverse. simple_one_for_one: the one worker template. */
  children: TChildren;
  /**
   * Id of a worker child that handles the supervisor's own mail: messages to the
   * supervisor's path other than `supervisor.*` are forwarded to it, so
   * `/grand-elder` can be both a supervisor and an elder that takes orders.
   */
  agent?: string;
}

export type ChildSpec = WorkerSpec | SupervisorSpec;

export const DEFAULTS = {
  strategy: 'one_for_one' as Strategy,
  intensity: 1,
  period: 5000,
  autoShutdown: 'never' as AutoShutdown,
  restart: 'permanent' as RestartType,
  workerShutdown: 5000 as Shutdown,
  supervisorShutdown: 'infinity' as Shutdown,
};

/** What worker() takes besides the id and the machine or kind. */
export type WorkerOptions<TMachine extends AnyStateMachine> = Omit<WorkerSpec<TMachine>, 'id' | 'machine' | 'type' | 'kind'>;

/**
 * A worker child of a kind, `worker('counter', Counter)`, or of a bare machine,
 * `worker('counter', counterMachine, { restart: 'transient' })`. The id is kept as a
 * literal type, so the node knows every path of a tree written in code.
 */
export function worker<const TId extends string, TKind extends AnyKind>(
  id: TId,
  kind: TKind,
  options?: WorkerOptions<TKind['machine']>,
): WorkerSpec<TKind['machine'], TId, TKind>;
export function worker<const TId extends string, TMachine extends AnyStateMachine>(
  id: TId,
  machine: TMachine,
  options?: WorkerOptions<TMachine>,
): WorkerSpec<TMachine, TId>;
export function worker(id: string, machineOrKind: AnyStateMachine | AnyKind, options: WorkerOptions<AnyStateMachine> = {}): WorkerSpec {
  if (isKind(machineOrKind)) return { ...options, type: 'worker', id, machine: machineOrKind.machine, kind: machineOrKind };
  return { ...options, type: 'worker', id, machine: machineOrKind };
}

/** A supervisor: `supervisor('root', { strategy: 'one_for_all' }, [ ...children ])`. */
export function supervisor<const TId extends string, const TChildren extends readonly ChildSpec[]>(
  id: TId,
  options: Omit<SupervisorSpec, 'id' | 'type' | 'children'>,
  children: TChildren,
): SupervisorSpec<TId, TChildren> {
  return { ...options, type: 'supervisor', id, children };
}

/**
 * A dynamic supervisor (OTP's simple_one_for_one, Elixir's DynamicSupervisor): no
 * children at start; each `node.startChild(path, { id?, input })` starts one more from
 * `template`, with that input. No order among them: they are stopped all at once.
 */
export function dynamicSupervisor<TMachine extends AnyStateMachine>(
  id: string,
  options: Omit<SupervisorSpec, 'id' | 'type' | 'children' | 'strategy' | 'agent'>,
  template: WorkerSpec<TMachine>,
): SupervisorSpec {
  return { ...options, type: 'supervisor', id, strategy: 'simple_one_for_one', children: [template as WorkerSpec] };
}

/** What `startChild` takes under a dynamic supervisor: the id (default generated) and the template's input. */
export interface DynamicChildArgs {
  id?: string;
  input?: unknown;
}

export function isSupervisorSpec(spec: ChildSpec): spec is SupervisorSpec {
  return spec.type === 'supervisor';
}

/** Restart delay for the n-th consecutive restart (n from 0). */
export function backoffDelay(backoff: Backoff, n: number): number {
  return Math.min(backoff.max, backoff.initial * Math.pow(backoff.factor ?? 2, n));
}
