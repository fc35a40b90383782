import type { ActorCell, Exit, Shutdown } from '../actors/cell.js';
import { EldertreeError, toError } from '../actors/errors.js';
import type { ActorSystem } from '../actors/system.js';
import { RestartIntensity } from './intensity.js';
import { supervisorMachine, type ChildInfo, type SupervisorStatus } from './machine.js';
import {
  backoffDelay,
  DEFAULTS,
  isSupervisorSpec,
  validateTree,
  type ChildSpec,
  type RestartType,
  type Strategy,
  type SupervisorSpec,
} from './spec.js';

/** How a child ended: a worker's own exit, or a supervisor giving up (OTP's `shutdown`). */
export type ChildExit = Exit | { reason: 'shutdown'; detail: string };

/** A child failed to start when its supervisor started (OTP: the supervisor fails to start). */
export class StartError extends EldertreeError {
  override name = 'StartError';
  constructor(
    readonly path: string,
    override readonly cause: Error,
  ) {
    super(`${path} failed to start: ${cause.message}`);
  }
}

/** Shared by every supervisor of one node. */
export interface SupervisionContext {
  system: ActorSystem;
  supervisors: Map<string, Supervisor>;
  /** Monotonic ms for restart intensity (OTP uses erlang:monotonic_time). */
  now: () => number;
}

/** One child of a supervisor. A class, not a spread literal: one hidden class for all. */
class Child {
  restarts = 0;
  backoffStep = 0;
  startedAt = 0;
  readonly restart: RestartType;

  constructor(
    readonly spec: ChildSpec,
    readonly path: string,
    readonly shutdown: Shutdown,
    /** The worker's cell, or the child supervisor's own cell. */
    readonly cell: ActorCell,
    readonly sup: Supervisor | undefined,
  ) {
    this.restart = spec.restart ?? DEFAULTS.restart;
  }
}

type State = 'idle' | SupervisorStatus;

/**
 * OTP's supervisor: starts children in order, stops them in reverse, restarts them by
 * strategy and restart type, counts restart intensity, and gives up (escalates) past
 * it. Every operation runs on one queue, as OTP's supervisor handles one message at a
 * time, so a child exit never interleaves with a restart or a shutdown in progress.
 */
export class Supervisor {
  readonly path: string;
  readonly cell: ActorCell;
  readonly strategy: Strategy;
  state: State = 'idle';
  /** Told when this supervisor gives up; its parent (or the node) decides. */
  onExit: ((sup: Supervisor, incarnation: number, exit: ChildExit) => void) | undefined;
  private children: Child[] = [];
  /** The same children by id: start_child and friends must not scan 100k children. */
  private byId = new Map<string, Child>();
  private readonly intensity: RestartIntensity;
  private readonly timers = new Set<NodeJS.Timeout>();
  private queue: Promise<unknown> = Promise.resolve();
  private pendingOps = 0;
  private readonly system: ActorSystem;

  constructor(
    private readonly context: SupervisionContext,
    readonly spec: SupervisorSpec,
    parentPath: string,
  ) {
    this.system = context.system;
    this.path = `${parentPath}/${spec.id}`;
    this.strategy = spec.strategy ?? DEFAULTS.strategy;
    const intensity = spec.intensity ?? DEFAULTS.intensity;
    const period = spec.period ?? DEFAULTS.period;
    this.intensity = new RestartIntensity(intensity, period, context.now);
    this.cell = this.system.createCell(
      this.path,
      {
        machine: supervisorMachine,
        input: {
          strategy: this.strategy,
          intensity,
          period,
          describe: () => this.whichChildren(),
          agent: spec.agent === undefined ? undefined : `${this.path}/${spec.agent}`,
        },
      },
      'supervisor',
    );
    context.supervisors.set(this.path, this);
  }

  // ---- public operations (all queued) ----------------------------------------------

  /** Starts this supervisor and its children in order; rejects with StartError. */
  start(): Promise<void> {
    return this.run(() => this.doStart());
  }

  /** Stops children in reverse order, then itself. With flush, waiting mail becomes dead letters. */
  stop(flush = true): Promise<void> {
    return this.run(() => this.doStop(flush));
  }

  /** OTP start_child: adds and starts a child; forgotten if this supervisor restarts. */
  startChild(spec: ChildSpec): Promise<ChildInfo> {
    return this.run(async () => {
      const problems = validateTree({ type: 'supervisor', id: this.spec.id, children: [spec] });
      if (problems.length) throw new EldertreeError(`bad child spec: ${problems.join('; ')}`);
      if (this.byId.has(spec.id)) {
        throw new EldertreeError(`${this.path} already has a child ${spec.id}`);
      }
      if (this.state !== 'running') throw new EldertreeError(`${this.path} is ${this.state}, not running`);
      const child = this.makeChild(spec);
      this.children.push(child);
      this.byId.set(spec.id, child);
      const launched = this.launch(child);
      const error = launched instanceof Promise ? await launched : launched;
      if (error) {
        await this.removeChildNow(child);
        throw new StartError(child.path, error);
      }
      return this.info(child);
    });
  }

  /** OTP terminate_child: stops it; a temporary child is also deleted. */
  terminateChild(id: string): Promise<void> {
    return this.run(async () => {
      const child = this.find(id);
      if (child.restart === 'temporary') await this.removeChildNow(child);
      else await this.stopChild(child, true);
    });
  }

  /** OTP restart_child: starts a terminated child again. */
  restartChild(id: string): Promise<ChildInfo> {
    return this.run(async () => {
      const child = this.find(id);
      if (this.isUp(child)) throw new EldertreeError(`${child.path} is running; terminate it first`);
      const launched = this.launch(child);
      const error = launched instanceof Promise ? await launched : launched;
      if (error) throw new StartError(child.path, error);
      return this.info(child);
    });
  }

  /** OTP delete_child: forgets a terminated child. */
  deleteChild(id: string): Promise<void> {
    return this.run(async () => {
      const child = this.find(id);
      if (this.isUp(child)) throw new EldertreeError(`${child.path} is running; terminate it first`);
      await this.removeChildNow(child);
    });
  }

  /**
   * Stops and forgets a child in one step (terminate_child + delete_child), handing
   * its waiting mail on to whoever hosts the path next: for moving a child elsewhere.
   */
  removeChild(id: string): Promise<void> {
    return this.run(async () => {
      const child = this.byId.get(id);
      if (child) await this.removeChildNow(child);
    });
  }

  /** OTP which_children, in start order. */
  whichChildren(): ChildInfo[] {
    return this.children.map((c) => this.info(c));
  }

  get restartsInPeriod(): number {
    return this.intensity.count;
  }

  // ---- start / stop ------------------------------------------------------------------

  private run<T>(op: () => Promise<T>): Promise<T> {
    this.pendingOps++;
    const next = this.queue.then(op).finally(() => this.pendingOps--);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resolves when the operations queued so far are done. */
  whenIdle(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** True while an operation (start, stop, a restart) is queued or running, or a delayed restart waits. */
  get busy(): boolean {
    return this.pendingOps > 0 || this.timers.size > 0;
  }

  private async doStart(): Promise<void> {
    if (this.state === 'running' || this.state === 'starting') return;
    if (this.cell.status === 'running') await this.cell.stop('brutal_kill', false);
    this.intensity.reset(); // a new incarnation starts with a clean restart history, as in OTP
    this.cell.start();
    this.setState('starting');
    this.system.lifecycle(this.cell.incarnation > 1 ? 'restarted' : 'started', this.cell);
    this.buildChildren();
    const started: Child[] = [];
    for (const child of this.children) {
      const launched = this.launch(child);
      const error = launched instanceof Promise ? await launched : launched;
      if (error) {
        for (const c of started.reverse()) await this.stopChild(c, false);
        this.setState('failed');
        await this.cell.stop('brutal_kill', false);
        throw error instanceof StartError ? error : new StartError(child.path, error);
      }
      started.push(child);
    }
    this.setState('running');
  }

  private async doStop(flush: boolean): Promise<void> {
    if (this.state === 'stopped' || this.state === 'idle') {
      if (flush) await this.stopChildren(this.children, true);
      if (flush) this.cell.close();
      this.state = 'stopped';
      return;
    }
    this.setState('stopping');
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.stopChildren(this.children, flush);
    this.setState('stopped');
    await this.cell.stop(0, flush);
  }

  /** Recreates the child list from the spec, keeping cells (and their mail) by path. */
  private buildChildren(): void {
    const old = this.byId;
    this.children = this.spec.children.map((spec) => {
      const kept = old.get(spec.id);
      old.delete(spec.id);
      return kept ?? this.makeChild(spec);
    });
    this.byId = new Map(this.children.map((c) => [c.spec.id, c]));
    // Children added with startChild are not in the spec: a restart forgets them (OTP).
    for (const c of old.values()) this.dispose(c);
  }

  private makeChild(spec: ChildSpec): Child {
    const path = `${this.path}/${spec.id}`;
    if (isSupervisorSpec(spec)) {
      const sup = new Supervisor(this.context, spec, this.path);
      const child = new Child(spec, path, spec.shutdown ?? DEFAULTS.supervisorShutdown, sup.cell, sup);
      sup.onExit = (_s, incarnation, exit) => this.childExited(child, incarnation, exit);
      return child;
    }
    const cell = this.system.createCell(path, { machine: spec.machine, input: spec.input, persist: spec.persist, schemas: spec.kind?.schemas });
    const child = new Child(spec, path, spec.shutdown ?? DEFAULTS.workerShutdown, cell, undefined);
    cell.onExit = (_c, incarnation, exit) => this.childExited(child, incarnation, exit);
    return child;
  }

  /**
   * Starts a child. Plain workers start synchronously (no promise, no microtask per
   * child: a tree of 20k workers starts in one go); supervisors and persistent workers,
   * which must wait, return a promise.
   */
  private launch(child: Child): Error | undefined | Promise<Error | undefined> {
    child.startedAt = performance.now();
    if (child.sup) {
      return child.sup.start().then(
        () => undefined,
        (err: unknown) => toError(err),
      );
    }
    if (child.cell.behavior.persist !== undefined) {
      return child.cell.restore().then((error) => this.started(child, error ?? child.cell.start()));
    }
    return this.started(child, child.cell.start());
  }

  private started(child: Child, error: Error | undefined): Error | undefined {
    if (error) {
      this.system.lifecycle('crashed', child.cell, { reason: `failed to start: ${error.message}`, error });
      return error;
    }
    const restarted = child.cell.incarnation > 1;
    this.system.lifecycle(restarted ? 'restarted' : 'started', child.cell, restarted ? { restarts: this.intensity.count } : {});
    return undefined;
  }

  private async stopChildren(children: readonly Child[], flush: boolean): Promise<void> {
    for (let i = children.length - 1; i >= 0; i--) await this.stopChild(children[i]!, flush);
  }

  private async stopChild(child: Child, flush: boolean): Promise<void> {
    if (!child.sup) return child.cell.stop(child.shutdown, flush);
    const stopping = child.sup.stop(flush);
    if (typeof child.shutdown === 'number') {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, child.shutdown as number)));
      await Promise.race([stopping, late]);
      clearTimeout(timer);
    }
    await stopping;
  }

  private async removeChildNow(child: Child): Promise<void> {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    if (this.byId.get(child.spec.id) === child) this.byId.delete(child.spec.id);
    // Stop keeping the mail, then take the cells out: what waits is forwarded to
    // another host of the path when there is a transport, else a dead letter.
    await this.stopChild(child, false);
    this.dispose(child);
  }

  /** Takes a child's cells (its whole subtree) out of the node. */
  private dispose(child: Child): void {
    if (child.sup) {
      for (const c of child.sup.children) child.sup.dispose(c);
      this.context.supervisors.delete(child.sup.path);
    }
    this.system.removeCell(child.cell);
  }

  // ---- restarts ----------------------------------------------------------------------

  private childExited(child: Child, incarnation: number, exit: ChildExit): void {
    this.run(() => this.handleExit(child, incarnation, exit)).catch((err) =>
      this.system.logger.error({ err, path: this.path }, 'supervisor failed to handle a child exit'),
    );
  }

  private async handleExit(child: Child, incarnation: number, exit: ChildExit): Promise<void> {
    if (this.state !== 'running' || !this.has(child)) return;
    if (child.cell.incarnation !== incarnation || this.isUp(child)) return; // stale: already restarted
    const abnormal = exit.reason === 'error';
    if (child.restart === 'temporary') return this.removeChildNow(child);
    if (child.restart === 'transient' && !abnormal) return this.stopChild(child, true);
    if (!this.intensity.add()) return this.giveUp();

    const group = this.groupFor(child);
    this.signal('restarting');
    // The others in the group are alive: stop them last-started first. A temporary
    // child is never restarted for a sibling's crash, so it is deleted (OTP).
    for (let i = group.length - 1; i >= 0; i--) {
      const c = group[i]!;
      if (c === child) continue;
      if (c.restart === 'temporary') await this.removeChildNow(c);
      else await this.stopChild(c, false);
    }
    const toStart = group.filter((c) => this.has(c));
    for (const c of toStart) c.restarts++;
    const delay = this.backoffFor(child);
    if (delay > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.run(() => this.restartGroup(toStart)).catch((err) =>
          this.system.logger.error({ err, path: this.path }, 'delayed restart failed'),
        );
      }, delay);
      this.timers.add(timer);
    } else {
      await this.restartGroup(toStart);
    }
    if (this.state === 'running') this.signal('running');
  }

  private groupFor(child: Child): Child[] {
    if (this.strategy === 'one_for_one') return [child];
    if (this.strategy === 'one_for_all') return this.children.slice();
    return this.children.slice(this.children.indexOf(child));
  }

  private async restartGroup(group: readonly Child[]): Promise<void> {
    for (const child of group) {
      if (this.state !== 'running') return;
      if (!this.has(child) || this.isUp(child)) continue;
      const launched = this.launch(child);
      const error = launched instanceof Promise ? await launched : launched;
      // OTP's try_again: a child that cannot start counts as failing again.
      if (error) this.childExited(child, child.cell.incarnation, { reason: 'error', error });
    }
  }

  private backoffFor(child: Child): number {
    const backoff = child.spec.backoff;
    if (!backoff) return 0;
    if (performance.now() - child.startedAt >= (backoff.resetAfter ?? backoff.max)) child.backoffStep = 0;
    return backoffDelay(backoff, child.backoffStep++);
  }

  /** Past intensity: stop every child (reverse order), fail, and let the parent decide. */
  private async giveUp(): Promise<void> {
    const restarts = this.intensity.count;
    this.setState('failed');
    this.system.lifecycle('escalated', this.cell, {
      reason: `reached max restart intensity: more than ${this.intensity.intensity} restarts in ${this.intensity.period} ms`,
      restarts,
    });
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // Mail waits: if the parent restarts this subtree, the new incarnations get it.
    await this.stopChildren(this.children, false);
    this.onExit?.(this, this.cell.incarnation, { reason: 'shutdown', detail: 'reached_max_restart_intensity' });
  }

  // ---- helpers -------------------------------------------------------------------

  private has(child: Child): boolean {
    return this.byId.get(child.spec.id) === child;
  }

  private isUp(child: Child): boolean {
    return child.sup ? child.sup.state === 'running' || child.sup.state === 'starting' : child.cell.status === 'running';
  }

  private find(id: string): Child {
    const child = this.byId.get(id);
    if (!child) throw new EldertreeError(`${this.path} has no child ${id}`);
    return child;
  }

  private info(c: Child): ChildInfo {
    return {
      id: c.spec.id,
      path: c.path,
      type: c.sup ? 'supervisor' : 'worker',
      restart: c.restart,
      status: c.sup ? c.sup.state : c.cell.status,
      incarnation: c.cell.incarnation,
      restarts: c.restarts,
    };
  }

  private setState(state: SupervisorStatus): void {
    this.state = state;
    this.signal(state);
  }

  /** Moves the status machine; the inspector reads it like any actor's state. */
  private signal(status: SupervisorStatus): void {
    const event = { type: `eldertree.sup.${status}`, restarts: this.intensity.count };
    this.cell.actor?.send(event);
  }
}
