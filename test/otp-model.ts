/**
 * A reference model of OTP supervision, written from supervisor.erl's rules and
 * independent of src/: synchronous, no actors, no XState. The property tests run the
 * real runtime and this model side by side and compare what they do.
 *
 * Beyond crashes and exits it models children that fail to start (a retry through the
 * supervisor's own queue, OTP's try_again_restart, each retry one more restart toward
 * intensity, the sweep stopping at the child that failed), children that decline to
 * start (OTP's `ignore`), terminate_child arriving while a retry waits, and
 * `significant` children with `auto_shutdown`.
 */
export type Restart = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';
export type AutoShutdown = 'never' | 'any_significant' | 'all_significant';

export interface WorkerShape {
  kind: 'worker';
  id: string;
  restart: Restart;
  significant: boolean;
}
export interface SupShape {
  kind: 'supervisor';
  id: string;
  restart: Restart;
  significant: boolean;
  strategy: Strategy;
  intensity: number;
  period: number;
  autoShutdown: AutoShutdown;
  children: Shape[];
}
export type Shape = WorkerShape | SupShape;

interface MWorker {
  kind: 'worker';
  shape: WorkerShape;
  path: string;
  alive: boolean;
  /** OTP's {restarting, Pid}: a retry of its start is queued. */
  restarting: boolean;
}
interface MSup {
  kind: 'supervisor';
  shape: SupShape;
  path: string;
  state: 'running' | 'failed' | 'stopped';
  restarts: number[];
  children: MNode[];
  parent: MSup | undefined;
  restarting: boolean;
}
type MNode = MWorker | MSup;
type Started = 'ok' | 'error' | 'ignore';

export class OtpModel {
  now = 0;
  /** How the root ended, if it did: gave up (failed) or shut itself down (stopped). */
  ended: 'failed' | 'stopped' | undefined;
  /** Expected lifecycle events: every worker event; supervisors' started/restarted/escalated. */
  events: string[] = [];
  readonly incarnations = new Map<string, number>();
  /**
   * Paths whose waiting mail became dead letters: deleted (temporary children, with their
   * subtree) or stopped for good (a transient child that ended, terminate_child). The test clears it.
   */
  readonly flushed: string[] = [];
  /** Per worker path: how many of its next starts fail, and how many decline (ignore). */
  readonly failPlan = new Map<string, number>();
  readonly ignorePlan = new Map<string, number>();
  readonly root: MSup;
  /** try_again_restart messages each supervisor sent itself, in order. */
  private tryAgain: { sup: MSup; child: MNode }[] = [];
  /** Calls that arrive while a command runs, before the retries it queued (see onFirstFailedStart). */
  private calls: (() => void)[] = [];
  /** Set by a command: called with the path of the first start that fails. */
  onFirstFailedStart: ((path: string) => void) | undefined;

  constructor(shape: SupShape) {
    this.root = this.makeSup(shape, '', undefined);
    this.startSup(this.root);
  }

  get over(): boolean {
    return this.ended !== undefined;
  }

  // ---- queries -----------------------------------------------------------------------

  aliveWorkers(): string[] {
    const out: string[] = [];
    const walk = (s: MSup) => {
      for (const c of s.children) {
        if (c.kind === 'worker') {
          if (c.alive) out.push(c.path);
        } else walk(c);
      }
    };
    if (!this.over) walk(this.root);
    return out;
  }

  isAlive(path: string): boolean {
    return this.aliveWorkers().includes(path);
  }

  // ---- what happens ------------------------------------------------------------------

  crash(path: string): void {
    this.workerEnds(path, true);
  }

  finish(path: string): void {
    this.workerEnds(path, false);
  }

  advance(ms: number): void {
    this.now += ms;
  }

  /** The node stops: every running child, last started first. */
  stop(): void {
    if (!this.over) this.stopNode(this.root);
  }

  /** OTP terminate_child(Sup, Id) for the parent of `path`: a queued retry is cancelled for good. */
  terminate(path: string): void {
    const node = this.find(path);
    if (!node) return;
    const sup = this.parentOf(node);
    node.restarting = false;
    if (node.shape.restart === 'temporary') this.remove(sup, node);
    else this.stopForGood(node);
  }

  // ---- OTP ---------------------------------------------------------------------------

  private workerEnds(path: string, abnormal: boolean): void {
    const w = this.find(path);
    if (!w || w.kind !== 'worker' || !w.alive) throw new Error(`model: ${path} is not an alive worker`);
    this.emit(abnormal ? 'crashed' : 'exited', path);
    w.alive = false;
    this.childExit(this.parentOf(w), w, abnormal);
    this.settle();
  }

  /** What the runtime does before the test looks again: calls first, then each retry in turn. */
  private settle(): void {
    for (;;) {
      const call = this.calls.shift();
      if (call) {
        call();
        continue;
      }
      const next = this.tryAgain.shift();
      if (!next) return;
      const { sup, child } = next;
      // handle_cast({try_again_restart, Id}): only if the child is still being restarted.
      if (child.restarting && sup.children.includes(child) && sup.state === 'running') this.restart(sup, child);
    }
  }

  /** supervisor.erl do_restart/3. */
  private childExit(sup: MSup, child: MNode, abnormal: boolean): void {
    if (sup.state !== 'running') return;
    const restart = child.shape.restart;
    if (restart === 'permanent' || (restart === 'transient' && abnormal)) return this.restart(sup, child);
    if (restart === 'temporary') this.remove(sup, child);
    else this.stopForGood(child);
    this.autoShutdown(sup, child);
  }

  /** supervisor.erl restart/2 and restart/3: count it, stop the group, start it again in order. */
  private restart(sup: MSup, child: MNode): void {
    if (!this.addRestart(sup)) return this.giveUp(sup);
    const i = sup.children.indexOf(child);
    const group =
      sup.shape.strategy === 'one_for_one'
        ? [child]
        : sup.shape.strategy === 'one_for_all'
          ? sup.children.slice()
          : sup.children.slice(i);
    for (let j = group.length - 1; j >= 0; j--) {
      const c = group[j]!;
      if (c === child) continue;
      if (c.shape.restart === 'temporary') this.remove(sup, c);
      else this.stopNode(c);
    }
    // restart_multiple_children: start_children stops at the first that fails; that one
    // is marked restarting and tried again later; the ones after it are not started.
    for (const c of group) {
      if (!sup.children.includes(c) || this.up(c)) continue;
      c.restarting = false;
      if (this.startNode(c) === 'error') {
        c.restarting = true;
        this.tryAgain.push({ sup, child: c });
        return;
      }
    }
  }

  /** supervisor.erl do_auto_shutdown/2. */
  private autoShutdown(sup: MSup, child: MNode): void {
    const mode = sup.shape.autoShutdown;
    if (mode === 'never' || !child.shape.significant) return;
    if (mode === 'all_significant' && sup.children.some((c) => c.shape.significant && (c.restarting || this.up(c)))) return;
    for (let j = sup.children.length - 1; j >= 0; j--) this.stopNode(sup.children[j]!);
    sup.state = 'stopped';
    if (sup.parent) this.childExit(sup.parent, sup, false); // exit reason shutdown
    else this.ended = 'stopped';
  }

  /** supervisor.erl add_restart/3: keep R >= Now - Period, add Now, fail past intensity. */
  private addRestart(sup: MSup): boolean {
    const threshold = this.now - sup.shape.period;
    sup.restarts = [...sup.restarts.filter((t) => t >= threshold), this.now];
    return sup.restarts.length <= sup.shape.intensity;
  }

  private giveUp(sup: MSup): void {
    this.emit('escalated', sup.path);
    for (let j = sup.children.length - 1; j >= 0; j--) this.stopNode(sup.children[j]!);
    sup.state = 'failed';
    if (sup.parent) this.childExit(sup.parent, sup, false); // exit reason shutdown: "normal" for transient
    else this.ended = 'failed';
  }

  private up(node: MNode): boolean {
    return node.kind === 'worker' ? node.alive : node.state === 'running';
  }

  private startNode(node: MNode): Started {
    if (node.kind === 'supervisor') return this.startSup(node);
    // The test worker decides to decline while XState builds its first state, then may
    // throw in its entry action at start: a failure wins over declining.
    const declines = this.take(this.ignorePlan, node.path);
    if (this.take(this.failPlan, node.path)) {
      this.bump(node.path);
      this.emit('crashed', node.path);
      if (this.onFirstFailedStart) {
        const call = this.onFirstFailedStart;
        this.onFirstFailedStart = undefined;
        this.calls.push(() => call(node.path));
      }
      return 'error';
    }
    if (declines) return 'ignore'; // no incarnation, no event
    this.emit(this.bump(node.path) > 1 ? 'restarted' : 'started', node.path);
    node.alive = true;
    return 'ok';
  }

  /** init + start_children: a child that fails makes the supervisor fail to start (the started ones stop, reverse). */
  private startSup(sup: MSup): Started {
    this.emit(this.bump(sup.path) > 1 ? 'restarted' : 'started', sup.path);
    sup.state = 'running';
    sup.restarts = [];
    // A (re)started supervisor runs its spec: children deleted earlier come back new.
    const kept = new Map(sup.children.map((c) => [c.shape.id, c]));
    sup.children = sup.shape.children.map((shape) => kept.get(shape.id) ?? this.make(shape, sup));
    for (const c of sup.children) c.restarting = false;
    const started: MNode[] = [];
    for (const c of sup.children.slice()) {
      const result = this.startNode(c);
      if (result === 'error') {
        for (let j = started.length - 1; j >= 0; j--) this.stopNode(started[j]!);
        sup.state = 'failed';
        return 'error';
      }
      if (result === 'ignore' && c.shape.restart === 'temporary') this.remove(sup, c);
      else started.push(c);
    }
    return 'ok';
  }

  private stopNode(node: MNode): void {
    if (node.kind === 'worker') {
      if (node.alive) this.emit('stopped', node.path);
      node.alive = false;
      return;
    }
    if (node.state === 'running') {
      for (let j = node.children.length - 1; j >= 0; j--) this.stopNode(node.children[j]!);
    }
    for (const c of node.children) c.restarting = false;
    node.state = 'stopped';
  }

  /** Stopped, and its mail (its subtree's) flushed as dead letters. */
  private stopForGood(node: MNode): void {
    this.stopNode(node);
    const flush = (n: MNode) => {
      this.flushed.push(n.path);
      if (n.kind === 'supervisor') n.children.forEach(flush);
    };
    flush(node);
  }

  private remove(sup: MSup, child: MNode): void {
    sup.children.splice(sup.children.indexOf(child), 1);
    this.stopNode(child);
    const forget = (n: MNode) => {
      this.incarnations.delete(n.path);
      this.flushed.push(n.path);
      if (n.kind === 'supervisor') n.children.forEach(forget);
    };
    forget(child);
  }

  // ---- bookkeeping -------------------------------------------------------------------

  private take(plan: Map<string, number>, path: string): boolean {
    const left = plan.get(path) ?? 0;
    if (left <= 0) return false;
    plan.set(path, left - 1);
    return true;
  }

  private make(shape: Shape, parent: MSup): MNode {
    const path = `${parent.path}/${shape.id}`;
    if (shape.kind === 'worker') return { kind: 'worker', shape, path, alive: false, restarting: false };
    return this.makeSup(shape, parent.path, parent);
  }

  private makeSup(shape: SupShape, parentPath: string, parent: MSup | undefined): MSup {
    return {
      kind: 'supervisor',
      shape,
      path: `${parentPath}/${shape.id}`,
      state: 'stopped',
      restarts: [],
      children: [],
      parent,
      restarting: false,
    };
  }

  private bump(path: string): number {
    const n = (this.incarnations.get(path) ?? 0) + 1;
    this.incarnations.set(path, n);
    return n;
  }

  private emit(type: string, path: string): void {
    this.events.push(`${type} ${path}#${this.incarnations.get(path)}`);
  }

  private find(path: string, from: MSup = this.root): MNode | undefined {
    for (const c of from.children) {
      if (c.path === path) return c;
      if (c.kind === 'supervisor' && path.startsWith(c.path + '/')) return this.find(path, c);
    }
    return undefined;
  }

  private parentOf(node: MNode): MSup {
    const parentPath = node.path.slice(0, node.path.lastIndexOf('/'));
    if (parentPath === this.root.path) return this.root;
    const p = this.find(parentPath);
    if (!p || p.kind !== 'supervisor') throw new Error(`model: no parent for ${node.path}`);
    return p;
  }
}

/** Every worker path a shape can have (alive or not): targets for messages. */
export function workerPaths(shape: SupShape, parent = ''): string[] {
  const path = `${parent}/${shape.id}`;
  return shape.children.flatMap((c) => (c.kind === 'worker' ? [`${path}/${c.id}`] : workerPaths(c, path)));
}

/** One line per node, indented: readable counterexamples. */
export function describeShape(shape: Shape, indent = ''): string {
  const r = shape.restart.slice(0, 5) + (shape.significant ? ' significant' : '');
  if (shape.kind === 'worker') return `${indent}${shape.id} worker ${r}`;
  const auto = shape.autoShutdown === 'never' ? '' : ` auto_shutdown=${shape.autoShutdown}`;
  const head = `${indent}${shape.id} ${shape.strategy} ${shape.intensity}/${shape.period}ms ${r}${auto}`;
  return [head, ...shape.children.map((c) => describeShape(c, indent + '  '))].join('\n');
}
