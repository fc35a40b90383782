import type { ActorCell, Shutdown } from '../actors/cell.js';
import { DEFAULT_MAILBOX_CAPACITY } from '../actors/cell.js';
import type { ChildInfo } from './machine.js';
import { DEFAULTS, isSupervisorSpec, type ChildSpec, type RestartType, type SupervisorSpec, type WorkerSpec } from './spec.js';

/** The parts of a child supervisor its parent drives (a type, so there is no import cycle). */
export interface ChildSupervisor {
  readonly state: string;
  start(): Promise<void>;
  stop(flush: boolean): Promise<void>;
}

/**
 * One child of a supervisor: its spec and its incarnations' bookkeeping. A class, not a
 * spread literal: one hidden class for 100k children.
 */
export class Child {
  restarts = 0;
  backoffStep = 0;
  startedAt = 0;
  /** OTP's `{restarting, Pid}`: its restart failed and is retried through the queue (or waits its backoff). */
  restarting = false;
  /** Position in a dynamic supervisor's list (removal is a swap with the last). */
  index = -1;
  readonly restart: RestartType;

  constructor(
    readonly spec: ChildSpec,
    readonly path: string,
    readonly shutdown: Shutdown,
    /** The worker's cell, or the child supervisor's own cell. */
    readonly cell: ActorCell,
    readonly sup: ChildSupervisor | undefined,
  ) {
    this.restart = spec.restart ?? DEFAULTS.restart;
  }

  /** Runs now: a running worker, or a child supervisor starting or running. */
  get up(): boolean {
    return this.sup ? this.sup.state === 'running' || this.sup.state === 'starting' : this.cell.status === 'running';
  }

  /** Significant, and running or being restarted (OTP: its pid is not undefined). */
  get significantAlive(): boolean {
    return this.spec.significant === true && (this.restarting || this.up);
  }

  /** What which_children says of it; count_children's `active` counts 'running'. */
  get status(): ChildInfo['status'] {
    return this.restarting ? 'restarting' : this.sup ? this.sup.state : this.cell.status;
  }

  info(): ChildInfo {
    return {
      id: this.spec.id,
      path: this.path,
      type: this.sup ? 'supervisor' : 'worker',
      restart: this.restart,
      status: this.status,
      incarnation: this.cell.incarnation,
      restarts: this.restarts,
    };
  }
}

/** OTP's get_childspec: the spec as the supervisor runs it, every default filled in. */
export function fullSpec(spec: ChildSpec): ChildSpec {
  const common = {
    id: spec.id,
    restart: spec.restart ?? DEFAULTS.restart,
    significant: spec.significant ?? false,
    ...(spec.backoff ? { backoff: { factor: 2, resetAfter: spec.backoff.max, ...spec.backoff } } : {}),
    ...(spec.placement ? { placement: spec.placement } : {}),
  };
  if (isSupervisorSpec(spec)) {
    const full: SupervisorSpec = {
      ...common,
      type: 'supervisor',
      shutdown: spec.shutdown ?? DEFAULTS.supervisorShutdown,
      strategy: spec.strategy ?? DEFAULTS.strategy,
      intensity: spec.intensity ?? DEFAULTS.intensity,
      period: spec.period ?? DEFAULTS.period,
      autoShutdown: spec.autoShutdown ?? DEFAULTS.autoShutdown,
      ...(spec.maxChildren !== undefined ? { maxChildren: spec.maxChildren } : {}),
      ...(spec.agent !== undefined ? { agent: spec.agent } : {}),
      children: spec.children.map(fullSpec),
    };
    return full;
  }
  const full: WorkerSpec = {
    ...common,
    type: 'worker',
    shutdown: spec.shutdown ?? DEFAULTS.workerShutdown,
    machine: spec.machine,
    input: spec.input,
    ...(spec.persist ? { persist: { every: 'message', ...spec.persist } } : {}),
    capacity: spec.capacity ?? DEFAULT_MAILBOX_CAPACITY,
  };
  return full;
}

/** The same spec as plain data for an ask across the wire: a machine is named by its id. */
export function plainSpec(spec: ChildSpec): Record<string, unknown> {
  if (isSupervisorSpec(spec)) return { ...spec, children: spec.children.map(plainSpec) };
  return { ...spec, machine: spec.machine.id };
}
