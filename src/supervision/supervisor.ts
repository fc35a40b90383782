import type { ActorCell, Exit } from '../actors/cell.js';
import type { ActorSystem } from '../actors/system.js';
import { Child, fullSpec, plainSpec } from './child.js';
import { ChildList, PendingRestarts } from './children.js';
import { launch, stopChild, type Launched } from './launch.js';
import { dynamicChildSpec } from './dynamic.js';
import { StartError, SupervisorError } from './errors.js';
import { RestartIntensity } from './intensity.js';
import { supervisorMachine, type ChildCounts, type ChildInfo, type SupervisorStatus } from './machine.js';
import {
  backoffDelay,
  DEFAULTS,
  isSupervisorSpec,
  type AutoShutdown,
  type ChildSpec,
  type DynamicChildArgs,
  type Strategy,
  type SupervisorSpec,
} from './spec.js';
import type { AnyKind } from '../actors/kind.js';
import { validateChild } from './validate.js';
import { isEntitiesSpec } from './entities.js';
import { EntityRegion } from './region.js';

export { StartError };

function agentSchemas(spec: SupervisorSpec): AnyKind['schemas'] {
  const agent = spec.agent === undefined ? undefined : spec.children.find((c) => c.id === spec.agent);
  return agent !== undefined && !isSupervisorSpec(agent) ? agent.kind?.schemas : undefined;
}

/** How a child ended: a worker's own exit, or a supervisor ending (OTP's `shutdown`). */
export type ChildExit = Exit | { reason: 'shutdown'; detail: 'reached_max_restart_intensity' | 'auto_shutdown' };

/** Shared by every supervisor of one node. */
export interface SupervisionContext {
  system: ActorSystem;
  supervisors: Map<string, Supervisor>;
  /** Monotonic ms for restart intensity (OTP uses erlang:monotonic_time). */
  now: () => number;
}

type State = 'idle' | SupervisorStatus;

/** The status machine's events, made once (XState never mutates an event). */
const STATUS_EVENTS = Object.fromEntries(
  (['starting', 'running', 'restarting', 'stopping', 'stopped', 'failed'] as const).map((s) => [s, Object.freeze({ type: `eldertree.sup.${s}` as const })]),
) as Record<SupervisorStatus, { readonly type: `eldertree.sup.${SupervisorStatus}` }>;

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
  /** simple_one_for_one: children started from one template, in no order. */
  readonly dynamic: boolean;
  /** Set when this supervisor is an entity region (it serves while its supervisor runs). */
  readonly region: EntityRegion | undefined;
  state: State = 'idle';
  /** Told when this supervisor ends by itself; its parent (or the node) decides. */
  onExit: ((sup: Supervisor, incarnation: number, exit: ChildExit) => void) | undefined;
  private readonly children: ChildList;
  private readonly intensity: RestartIntensity;
  private readonly autoShutdown: AutoShutdown;
  private readonly pending = new PendingRestarts();
  private queue: Promise<unknown> = Promise.resolve();
  private pendingOps = 0;
  private nextDynamicId = 0;
  private readonly system: ActorSystem;

  constructor(
    private readonly context: SupervisionContext,
    readonly spec: SupervisorSpec,
    parentPath: string,
  ) {
    this.system = context.system;
    this.path = `${parentPath}/${spec.id}`;
    this.strategy = spec.strategy ?? DEFAULTS.strategy;
    this.dynamic = this.strategy === 'simple_one_for_one';
    this.children = new ChildList(this.dynamic);
    this.autoShutdown = spec.autoShutdown ?? DEFAULTS.autoShutdown;
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
          count: () => this.countChildren(),
          child: (id: string) => this.children.get(id)?.info(),
          childspec: (id: string) => {
            const child = this.children.get(id);
            return child && plainSpec(fullSpec(child.spec));
          },
          agent: spec.agent === undefined ? undefined : `${this.path}/${spec.agent}`,
        },
        // Mail to the supervisor's path goes to its agent: checked at the boundary by the agent's schemas.
        schemas: agentSchemas(spec),
      },
      'supervisor',
    );
    context.supervisors.set(this.path, this);
    // Made here, not by a parent: a region may be the root of a node's tree.
    this.region = isEntitiesSpec(spec) ? new EntityRegion(this, spec) : undefined;
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

  /**
   * OTP start_child: adds and starts a child (forgotten if this supervisor restarts).
   * A dynamic supervisor takes `{ id?, input? }` and starts its template with them.
   */
  startChild(spec: ChildSpec | DynamicChildArgs): Promise<ChildInfo> {
    return this.run(async () => {
      const max = this.spec.maxChildren;
      if (this.dynamic && max !== undefined && this.children.size >= max) {
        throw new SupervisorError('max_children', `${this.path} has its maximum of ${max} children`);
      }
      const childSpec = this.dynamic
        ? dynamicChildSpec(this.path, this.spec.children[0]!, spec as DynamicChildArgs, (id) => this.children.get(id) !== undefined, () => ++this.nextDynamicId)
        : (spec as ChildSpec);
      const problems = validateChild(childSpec, { path: this.path, autoShutdown: this.autoShutdown });
      if (problems.length) throw new SupervisorError('bad_child_spec', `bad child spec: ${problems.join('; ')}`);
      const existing = this.children.get(childSpec.id);
      if (existing) {
        if (existing.up) throw new SupervisorError('already_started', `${existing.path} is already started`);
        throw new SupervisorError('already_present', `${existing.path} is already present (not running); restart or delete it`);
      }
      if (this.state !== 'running') throw new SupervisorError('not_running', `${this.path} is ${this.state}, not running`);
      const child = this.makeChild(childSpec);
      this.children.add(child);
      const launched = launch(child, this.system, this.intensity);
      const result = launched instanceof Promise ? await launched : launched;
      if (result instanceof Error) {
        await this.removeChildNow(child);
        throw new StartError(child.path, result);
      }
      // OTP keeps an ignored child's spec, except a temporary one or a dynamic child.
      if (result === 'ignore' && (this.dynamic || child.restart === 'temporary')) this.forget(child);
      return child.info();
    });
  }

  /** OTP terminate_child: stops it (a retried restart is cancelled for good); a temporary or dynamic child is also deleted. */
  terminateChild(id: string): Promise<void> {
    return this.run(async () => {
      const child = this.find(id);
      child.restarting = false;
      if (child.restart === 'temporary' || this.dynamic) await this.removeChildNow(child);
      else await stopChild(child, true);
    });
  }

  /** OTP restart_child: starts a terminated child again. */
  restartChild(id: string): Promise<ChildInfo> {
    return this.run(async () => {
      const child = this.findStatic(id);
      const launched = launch(child, this.system, this.intensity);
      const result = launched instanceof Promise ? await launched : launched;
      if (result instanceof Error) throw new StartError(child.path, result);
      return child.info();
    });
  }

  /** OTP delete_child: forgets a terminated child. */
  deleteChild(id: string): Promise<void> {
    return this.run(async () => {
      await this.removeChildNow(this.findStatic(id));
    });
  }

  /**
   * Stops and forgets a child in one step (terminate_child + delete_child), handing
   * its waiting mail on to whoever hosts the path next: for moving a child elsewhere.
   */
  removeChild(id: string): Promise<void> {
    return this.run(async () => {
      const child = this.children.get(id);
      if (child) await this.removeChildNow(child);
    });
  }

  /** OTP which_children, in start order (a dynamic supervisor's in no particular order). */
  whichChildren(): ChildInfo[] {
    return this.children.items.map((c) => c.info());
  }

  /** OTP count_children. */
  countChildren(): ChildCounts {
    const children = this.children.items;
    let active = 0;
    let supervisors = 0;
    for (const c of children) {
      if (c.status === 'running') active++;
      if (c.sup) supervisors++;
    }
    // OTP: a simple_one_for_one supervisor has one spec, its template.
    return { specs: this.dynamic ? 1 : children.length, active, supervisors, workers: children.length - supervisors };
  }

  /** One child's entry of which_children. */
  whichChild(id: string): ChildInfo {
    return this.find(id).info();
  }

  /** OTP get_childspec: the child's spec with every default filled in. */
  getChildspec(id: string): ChildSpec {
    return fullSpec(this.find(id).spec);
  }

  get restartsInPeriod(): number {
    return this.intensity.count;
  }

  /** Resolves when the operations queued so far are done. */
  whenIdle(): Promise<void> {
    return this.queue.then(() => undefined);
  }

  /** True while an operation (start, stop, a restart) is queued or running, or a restart waits its turn. */
  get busy(): boolean {
    return this.pendingOps > 0 || this.pending.size > 0;
  }

  // ---- start / stop ------------------------------------------------------------------

  private run<T>(op: () => Promise<T>): Promise<T> {
    this.pendingOps++;
    const next = this.queue.then(op).finally(() => this.pendingOps--);
    this.queue = next.catch(() => undefined);
    return next;
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
    for (const child of this.children.items.slice()) {
      const launched = launch(child, this.system, this.intensity);
      const result = launched instanceof Promise ? await launched : launched;
      if (result instanceof Error) {
        for (const c of started.reverse()) await stopChild(c, false);
        this.setState('failed');
        await this.cell.stop('brutal_kill', false);
        throw result instanceof StartError ? result : new StartError(child.path, result);
      }
      if (result === 'ignore' && child.restart === 'temporary') this.forget(child);
      else started.push(child);
    }
    this.setState('running');
  }

  private async doStop(flush: boolean): Promise<void> {
    this.cancelPending();
    if (this.state === 'stopped' || this.state === 'idle') {
      if (flush) await this.stopChildren(this.children.items, true);
      if (flush) this.cell.close();
      this.setState('stopped');
      return;
    }
    this.setState('stopping');
    await this.stopChildren(this.children.items, flush);
    this.setState('stopped');
    await this.cell.stop(0, flush);
  }

  /** Recreates the child list from the spec, keeping cells (and their mail) by path. */
  private buildChildren(): void {
    const old = this.children.clear();
    // A dynamic supervisor starts with no children: its one spec is their template.
    const specs = this.dynamic ? [] : this.spec.children;
    for (const spec of specs) {
      const kept = old.get(spec.id);
      old.delete(spec.id);
      if (kept) kept.restarting = false;
      this.children.add(kept ?? this.makeChild(spec));
    }
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
    // An entity is reached through its shard's subscription, not one of its own.
    const cell = this.system.createCell(path, { machine: spec.machine, input: spec.input, persist: spec.persist, schemas: spec.kind?.schemas, capacity: spec.capacity }, 'worker', this.region === undefined);
    const child = new Child(spec, path, spec.shutdown ?? DEFAULTS.workerShutdown, cell, undefined);
    cell.onExit = (_c, incarnation, exit) => this.childExited(child, incarnation, exit);
    return child;
  }

  private async stopChildren(children: readonly Child[], flush: boolean): Promise<void> {
    // A dynamic supervisor's children have no order: all stop at once (OTP does the same).
    if (this.dynamic) await Promise.all(children.map((c) => stopChild(c, flush)));
    else for (let i = children.length - 1; i >= 0; i--) await stopChild(children[i]!, flush);
  }

  private async removeChildNow(child: Child): Promise<void> {
    this.children.remove(child);
    // Stop keeping the mail, then take the cells out: what waits is forwarded to
    // another host of the path when there is a transport, else a dead letter.
    await stopChild(child, false);
    this.dispose(child);
  }

  /** A child that never ran (ignored): off the lists and out of the node. */
  private forget(child: Child): void {
    this.children.remove(child);
    this.dispose(child);
  }

  /** Takes a child's cells (its whole subtree) out of the node. */
  private dispose(child: Child): void {
    if (child.sup) {
      const sup = child.sup as Supervisor;
      for (const c of sup.children.items) sup.dispose(c);
      this.context.supervisors.delete(sup.path);
    }
    this.system.removeCell(child.cell);
  }

  // ---- restarts ----------------------------------------------------------------------

  private childExited(child: Child, incarnation: number, exit: ChildExit): void {
    this.run(() => this.handleExit(child, incarnation, exit)).catch((err) =>
      this.system.logger.error({ err, path: this.path }, 'supervisor failed to handle a child exit'),
    );
  }

  /** OTP do_restart/3: restart by restart type, or let it end (which may end this supervisor). */
  private async handleExit(child: Child, incarnation: number, exit: ChildExit): Promise<void> {
    if (this.state !== 'running' || !this.has(child)) return;
    if (child.cell.incarnation !== incarnation || child.up) return; // stale: already restarted
    const abnormal = exit.reason === 'error';
    if (child.restart === 'permanent' || (child.restart === 'transient' && abnormal)) return this.restart(child);
    if (child.restart === 'temporary' || this.dynamic) await this.removeChildNow(child);
    else await stopChild(child, true);
    await this.maybeAutoShutdown(child);
  }

  /**
   * OTP restart/2: count the restart (past intensity: give up), stop the rest of the
   * group, start it again in order. A retry of a child whose start failed comes here too.
   */
  private async restart(child: Child): Promise<void> {
    if (!this.intensity.add()) return this.giveUp();
    const group = this.groupFor(child);
    // The status machine shows `restarting` only for a restart that outlasts the moment:
    // one that stops siblings, waits a backoff or starts asynchronously. A one_for_one
    // restart done at once would cost two transitions of the supervisor's own machine
    // (about a third of what a restart allocated) for a state no observer could see.
    let shown = false;
    const showRestarting = () => {
      if (shown) return;
      shown = true;
      this.signal('restarting');
    };
    if (group.length > 1) showRestarting();
    // The others in the group are alive: stop them last-started first. A temporary
    // child is never restarted for a sibling's crash, so it is deleted (OTP).
    for (let i = group.length - 1; i >= 0; i--) {
      const c = group[i]!;
      if (c === child) continue;
      if (c.restart === 'temporary') await this.removeChildNow(c);
      else await stopChild(c, false);
    }
    const toStart = group.filter((c) => this.has(c));
    for (const c of toStart) c.restarts++;
    // A retry has waited its backoff already.
    const delay = child.restarting ? 0 : this.backoffFor(child);
    if (delay > 0) {
      showRestarting();
      child.restarting = true;
      this.later(delay, () => (child.restarting && this.has(child) ? this.sweep(toStart) : undefined));
    } else {
      await this.sweep(toStart, showRestarting);
    }
    if (shown && this.state === 'running') this.signal('running');
  }

  private groupFor(child: Child): Child[] {
    if (this.strategy === 'one_for_one' || this.dynamic) return [child];
    if (this.strategy === 'one_for_all') return this.children.items.slice();
    return this.children.from(child);
  }

  /**
   * OTP start_children during a restart: in order, and the sweep stops at a child that
   * fails to start; those after it stay down until it starts (its retry goes on from it).
   */
  private async sweep(group: readonly Child[], onAsync?: () => void): Promise<void> {
    for (const child of group) {
      if (this.state !== 'running') return;
      if (!this.has(child) || child.up) continue;
      child.restarting = false;
      const launched = launch(child, this.system, this.intensity);
      if (launched instanceof Promise) onAsync?.();
      const result = launched instanceof Promise ? await launched : launched;
      if (result instanceof Error) {
        child.restarting = true;
        this.later(child.spec.backoff ? this.backoffFor(child) : 0, () => this.tryAgain(child));
        return;
      }
    }
  }

  /** OTP's try_again_restart: unless terminated meanwhile, one more restart (it counts toward intensity). */
  private tryAgain(child: Child): Promise<void> | undefined {
    if (!child.restarting || !this.has(child) || this.state !== 'running') return undefined;
    return this.restart(child);
  }

  /** Runs `op` on the queue after a turn of the event loop (or `delay` ms): what came meanwhile goes first. */
  private later(delay: number, op: () => Promise<void> | undefined): void {
    this.pending.schedule(delay, () =>
      this.run(async () => op()).catch((err) => this.system.logger.error({ err, path: this.path }, 'restart failed')),
    );
  }

  private cancelPending(): void {
    this.pending.cancelAll();
    for (const c of this.children.items) c.restarting = false;
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
    this.cancelPending();
    // Mail waits: if the parent restarts this subtree, the new incarnations get it.
    await this.stopChildren(this.children.items, false);
    this.onExit?.(this, this.cell.incarnation, { reason: 'shutdown', detail: 'reached_max_restart_intensity' });
  }

  /** OTP do_auto_shutdown/2: a significant child ended; maybe this supervisor ends too. */
  private async maybeAutoShutdown(child: Child): Promise<void> {
    if (this.autoShutdown === 'never' || child.spec.significant !== true) return;
    if (this.autoShutdown === 'all_significant' && this.children.items.some((c) => c.significantAlive)) return;
    this.system.logger.info({ path: this.path }, `${this.path} shuts down: ${this.autoShutdown === 'any_significant' ? 'a' : 'every'} significant child ended`);
    this.cancelPending();
    this.setState('stopping');
    await this.stopChildren(this.children.items, false);
    this.setState('stopped');
    await this.cell.stop(0, false);
    this.onExit?.(this, this.cell.incarnation, { reason: 'shutdown', detail: 'auto_shutdown' });
  }

  // ---- helpers -------------------------------------------------------------------

  private has(child: Child): boolean {
    return this.children.has(child);
  }

  private find(id: string): Child {
    const child = this.children.get(id);
    if (!child) throw new SupervisorError('not_found', `${this.path} has no child ${id}`);
    return child;
  }

  /** For restart_child and delete_child: not under a dynamic supervisor, not while restarting or running. */
  private findStatic(id: string): Child {
    if (this.dynamic) throw new SupervisorError('simple_one_for_one', `${this.path} is simple_one_for_one: terminate its children instead`);
    const child = this.find(id);
    if (child.restarting) throw new SupervisorError('restarting', `${child.path} is being restarted`);
    if (child.up) throw new SupervisorError('running', `${child.path} is running; terminate it first`);
    return child;
  }

  private setState(state: SupervisorStatus): void {
    this.state = state;
    this.signal(state);
    this.region?.supervisorState(state);
  }

  /** How many children it has (a region's active entities), without listing them. */
  get childCount(): number {
    return this.children.size;
  }

  /** Moves the status machine; the inspector reads it like any actor's state. */
  private signal(status: SupervisorStatus): void {
    this.cell.actor?.send(STATUS_EVENTS[status]);
  }
}
