import type { AnyStateMachine, InputFrom } from 'xstate';
import type { Shutdown } from '../actors/cell.js';
import { isKind, type AnyKind, type Kind } from '../actors/kind.js';
import type { Persistence } from '../actors/persistence.js';

export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';
export type RestartType = 'permanent' | 'transient' | 'temporary';
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
}

export interface SupervisorSpec<TId extends string = string, TChildren extends readonly ChildSpec[] = readonly ChildSpec[]>
  extends CommonSpec<TId> {
  type: 'supervisor';
  /** default one_for_one. */
  strategy?: Strategy;
  /** Max restarts within `period` before the supervisor gives up; default 3. */
  intensity?: number;
  /** ms; default 5000. */
  period?: number;
  /** Started in this order, stopped in reverse. */
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
  intensity: 3,
  period: 5000,
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

export function isSupervisorSpec(spec: ChildSpec): spec is SupervisorSpec {
  return spec.type === 'supervisor';
}

const ID = /^[A-Za-z0-9_-]+$/;
const STRATEGIES: readonly string[] = ['one_for_one', 'one_for_all', 'rest_for_one'];
const RESTARTS: readonly string[] = ['permanent', 'transient', 'temporary'];

/**
 * Every problem in a tree, each naming the path it is at. An empty list means the tree
 * can start. Input is `unknown` because trees also come from files.
 */
export function validateTree(spec: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(spec)) return ['the tree must be a supervisor spec object'];
  if (spec.type !== 'supervisor') problems.push(`/${String(spec.id ?? '?')}: the root must have type "supervisor"`);
  checkChild(spec, '', problems);
  return problems;
}

function checkChild(spec: Record<string, unknown>, parent: string, problems: string[]): void {
  const id = spec.id;
  const path = `${parent}/${typeof id === 'string' ? id : '?'}`;
  const say = (what: string) => problems.push(`${path}: ${what}`);
  if (typeof id !== 'string' || !ID.test(id)) say(`id must match ${ID} (letters, digits, _ and -), got ${show(id)}`);
  if (spec.restart !== undefined && !RESTARTS.includes(spec.restart as string)) {
    say(`restart must be permanent, transient or temporary, got ${show(spec.restart)}`);
  }
  const shutdown = spec.shutdown;
  if (
    shutdown !== undefined &&
    shutdown !== 'brutal_kill' &&
    shutdown !== 'infinity' &&
    !(typeof shutdown === 'number' && Number.isFinite(shutdown) && shutdown >= 0)
  ) {
    say(`shutdown must be ms >= 0, "brutal_kill" or "infinity", got ${show(shutdown)}`);
  }
  if (spec.backoff !== undefined) checkBackoff(spec.backoff, say);
  if (spec.placement !== undefined) checkPlacement(spec.placement, say);
  if (spec.type === 'supervisor') {
    if (spec.strategy !== undefined && !STRATEGIES.includes(spec.strategy as string)) {
      say(`strategy must be one_for_one, one_for_all or rest_for_one, got ${show(spec.strategy)}`);
    }
    if (spec.intensity !== undefined && !(Number.isInteger(spec.intensity) && (spec.intensity as number) >= 0)) {
      say(`intensity must be an integer >= 0, got ${show(spec.intensity)}`);
    }
    if (spec.period !== undefined && !(typeof spec.period === 'number' && spec.period > 0)) {
      say(`period must be ms > 0, got ${show(spec.period)}`);
    }
    if (!Array.isArray(spec.children)) {
      say('children must be a list');
      return;
    }
    if (spec.agent !== undefined) {
      const agent = (spec.children as Record<string, unknown>[]).find((c) => isObject(c) && c.id === spec.agent);
      if (!agent) say(`agent ${show(spec.agent)} must be the id of one of its children`);
      else if (agent.type === 'supervisor') say(`agent ${show(spec.agent)} must be a worker, not a supervisor`);
    }
    const seen = new Set<unknown>();
    for (const child of spec.children as unknown[]) {
      if (!isObject(child)) {
        say(`every child must be a spec object, got ${show(child)}`);
        continue;
      }
      if (seen.has(child.id)) say(`two children have the id ${show(child.id)}`);
      seen.add(child.id);
      checkChild(child, path, problems);
    }
  } else if (spec.type === undefined || spec.type === 'worker') {
    if (!isMachine(spec.machine)) say('machine must be an XState machine (setup(...).createMachine(...))');
    const persist = spec.persist;
    if (persist !== undefined) {
      if (!isObject(persist) || typeof persist.version !== 'string' || persist.version === '') {
        say(`persist must be { version: "1", every?: "message" | ms }, got ${show(persist)}`);
      } else if (persist.every !== undefined && persist.every !== 'message' && !(typeof persist.every === 'number' && persist.every > 0)) {
        say(`persist.every must be "message" or ms > 0, got ${show(persist.every)}`);
      }
    }
  } else {
    say(`type must be "worker" or "supervisor", got ${show(spec.type)}`);
  }
}

function checkPlacement(placement: unknown, say: (what: string) => void): void {
  if (!isObject(placement)) return void say('placement must be { node? , replicas?, singleton?, standby? }');
  const { node, replicas, singleton, standby } = placement;
  const kinds = [node !== undefined, replicas !== undefined, singleton !== undefined && singleton !== false];
  if (kinds.filter(Boolean).length > 1) say('placement takes one of node, replicas or singleton');
  if (node !== undefined && !(typeof node === 'string' && ID.test(node))) say(`placement.node must be a node name, got ${show(node)}`);
  if (replicas !== undefined && !(Number.isInteger(replicas) && (replicas as number) >= 1)) {
    say(`placement.replicas must be an integer >= 1, got ${show(replicas)}`);
  }
  if (singleton !== undefined && typeof singleton !== 'boolean') say(`placement.singleton must be true or false, got ${show(singleton)}`);
  if (standby !== undefined) {
    if (!(Array.isArray(standby) && standby.every((n) => typeof n === 'string' && ID.test(n)))) {
      say(`placement.standby must be a list of node names, got ${show(standby)}`);
    } else if (!singleton) say('placement.standby goes with singleton: true');
  }
}

function checkBackoff(backoff: unknown, say: (what: string) => void): void {
  if (!isObject(backoff)) return void say('backoff must be { initial, max, factor?, resetAfter? }');
  const { initial, max, factor, resetAfter } = backoff;
  if (!(typeof initial === 'number' && initial >= 0)) say(`backoff.initial must be ms >= 0, got ${show(initial)}`);
  if (!(typeof max === 'number' && max >= 0)) say(`backoff.max must be ms >= 0, got ${show(max)}`);
  if (factor !== undefined && !(typeof factor === 'number' && factor >= 1)) say(`backoff.factor must be >= 1, got ${show(factor)}`);
  if (resetAfter !== undefined && !(typeof resetAfter === 'number' && resetAfter >= 0)) {
    say(`backoff.resetAfter must be ms >= 0, got ${show(resetAfter)}`);
  }
}

function isMachine(value: unknown): value is AnyStateMachine {
  return isObject(value) && typeof value.transition === 'function' && typeof value.getInitialSnapshot === 'function';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Restart delay for the n-th consecutive restart (n from 0). */
export function backoffDelay(backoff: Backoff, n: number): number {
  return Math.min(backoff.max, backoff.initial * Math.pow(backoff.factor ?? 2, n));
}
