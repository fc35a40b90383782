/**
 * A reference model of OTP supervision, written from supervisor.erl's rules and
 * independent of src/: synchronous, no actors, no XState. The property tests run the
 * real runtime and this model side by side and compare what they do.
 */
export type Restart = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one';

export interface WorkerShape {
  kind: 'worker';
  id: string;
  restart: Restart;
}
export interface SupShape {
  kind: 'supervisor';
  id: string;
  restart: Restart;
  strategy: Strategy;
  intensity: number;
  period: number;
  children: Shape[];
}
export type Shape = WorkerShape | SupShape;

interface MWorker {
  kind: 'worker';
  shape: WorkerShape;
  path: string;
  alive: boolean;
}
interface MSup {
  kind: 'supervisor';
  shape: SupShape;
  path: string;
  state: 'running' | 'failed' | 'stopped';
  restarts: number[];
  children: MNode[];
  parent: MSup | undefined;
}
type MNode = MWorker | MSup;

export class OtpModel {
  now = 0;
  failed = false;
  /** Expected lifecycle events: every worker event; supervisors' started/restarted/escalated. */
  events: string[] = [];
  readonly incarnations = new Map<string, number>();
  readonly root: MSup;

  constructor(shape: SupShape) {
    this.root = this.makeSup(shape, '', undefined);
    this.startSup(this.root);
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
    if (!this.failed) walk(this.root);
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
    if (!this.failed) this.stopNode(this.root);
  }

  // ---- OTP ---------------------------------------------------------------------------

  private workerEnds(path: string, abnormal: boolean): void {
    const w = this.find(path);
    if (!w || w.kind !== 'worker' || !w.alive) throw new Error(`model: ${path} is not an alive worker`);
    this.emit(abnormal ? 'crashed' : 'exited', path);
    w.alive = false;
    this.childExit(this.parentOf(w), w, abnormal);
  }

  private childExit(sup: MSup, child: MNode, abnormal: boolean): void {
    if (sup.state !== 'running') return;
    const restart = child.shape.restart;
    if (restart === 'temporary') return this.remove(sup, child);
    if (restart === 'transient' && !abnormal) return this.stopNode(child);
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
    for (const c of group) if (sup.children.includes(c)) this.startNode(c);
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
    else this.failed = true;
  }

  private startNode(node: MNode): void {
    if (node.kind === 'worker') {
      this.emit(this.bump(node.path) > 1 ? 'restarted' : 'started', node.path);
      node.alive = true;
    } else this.startSup(node);
  }

  private startSup(sup: MSup): void {
    this.emit(this.bump(sup.path) > 1 ? 'restarted' : 'started', sup.path);
    sup.state = 'running';
    sup.restarts = [];
    // A (re)started supervisor runs its spec: children deleted earlier come back new.
    const kept = new Map(sup.children.map((c) => [c.shape.id, c]));
    sup.children = sup.shape.children.map((shape) => kept.get(shape.id) ?? this.make(shape, sup));
    for (const c of sup.children) this.startNode(c);
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
    node.state = 'stopped';
  }

  private remove(sup: MSup, child: MNode): void {
    sup.children.splice(sup.children.indexOf(child), 1);
    this.stopNode(child);
    const forget = (n: MNode) => {
      this.incarnations.delete(n.path);
      if (n.kind === 'supervisor') n.children.forEach(forget);
    };
    forget(child);
  }

  // ---- bookkeeping -------------------------------------------------------------------

  private make(shape: Shape, parent: MSup): MNode {
    const path = `${parent.path}/${shape.id}`;
    if (shape.kind === 'worker') return { kind: 'worker', shape, path, alive: false };
    return this.makeSup(shape, parent.path, parent);
  }

  private makeSup(shape: SupShape, parentPath: string, parent: MSup | undefined): MSup {
    return { kind: 'supervisor', shape, path: `${parentPath}/${shape.id}`, state: 'stopped', restarts: [], children: [], parent };
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
  const r = shape.restart.slice(0, 5);
  if (shape.kind === 'worker') return `${indent}${shape.id} worker ${r}`;
  const head = `${indent}${shape.id} ${shape.strategy} ${shape.intensity}/${shape.period}ms ${r}`;
  return [head, ...shape.children.map((c) => describeShape(c, indent + '  '))].join('\n');
}
