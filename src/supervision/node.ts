import { EldertreeError } from '../actors/errors.js';
import type { Subscription, SystemEventListener } from '../actors/events.js';
import type { Address, AddressFor, AnyKind } from '../actors/kind.js';
import { ANY_KIND, bindEntity, bindRef, type Ref } from '../actors/ref.js';
import { checkKey, shardOf } from '../actors/entity-address.js';
import { ActorSystem, type AskOptions, type Payload, type SystemOptions, type TellOptions } from '../actors/system.js';
import { SupervisorError } from './errors.js';
import type { ChildCounts, ChildInfo } from './machine.js';
import type { PathFor, PathMap, PathsOf } from './paths.js';
import { DEFAULTS, isSupervisorSpec, type ChildSpec, type DynamicChildArgs, type SupervisorSpec } from './spec.js';
import type { RegionView } from './region.js';
import { Supervisor, type SupervisionContext } from './supervisor.js';
import { validateTree } from './validate.js';
import { Telemetry, type TelemetryOptions } from '../telemetry/index.js';

export interface NodeOptions<T extends SupervisorSpec = SupervisorSpec> extends SystemOptions {
  tree: T;
  /** Monotonic ms for restart intensity; default performance.now. */
  now?: () => number;
  /** Subscribed before the tree starts, so it sees the first `started` events too. */
  onEvent?: SystemEventListener;
  /**
   * Metrics (prom-client histograms and counters, off by default) and OpenTelemetry
   * tracing (on when the application registered an SDK before this call).
   */
  telemetry?: TelemetryOptions;
}

/** One actor as `status` and the inspector show it. */
export interface ActorView {
  path: string;
  kind: 'worker' | 'supervisor';
  status: string;
  /** XState's snapshot value: the current state. */
  state: unknown;
  incarnation: number;
  /** Restarts of this child by its supervisor since it was first started. */
  restarts: number;
  mailbox: number;
  processed: number;
  /** Supervisors only: strategy and restart intensity use. */
  strategy?: string;
  intensity?: number;
  period?: number;
  restartsInPeriod?: number;
  /** Entity regions only: counts per kind and the shards owned here (never one row per entity). */
  entities?: RegionView;
}

export interface NodeView {
  node: string;
  root: string;
  at: number;
  actors: ActorView[];
}

/** findEntity's answer. */
export interface EntityLocation {
  node: string;
  kind: string;
  key: string;
  shard: number;
  /** This node owns the shard (it would activate the entity here). */
  owned: boolean;
  /** Present while the entity is active on this node. */
  path?: string;
  status?: string;
  incarnation?: number;
  mailbox?: number;
}

/** How a node ended: stopped on request, or its root supervisor gave up. */
export type NodeExit = { status: 'stopped' } | { status: 'failed'; reason: string };

/** A tree that cannot start; `problems` names each one with its path. */
export class TreeSpecError extends EldertreeError {
  override name = 'TreeSpecError';
  constructor(readonly problems: string[]) {
    super(`bad supervision tree:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * One node: an actor system and the supervision tree it runs. Start it with
 * `Node.start({ tree })`; `done` settles when it stops or its root fails. A tree written
 * in code types the node: `node.ref('/app/counter')` knows the kind at that path.
 */
// The default is `any`: a Node of any tree (typed or read from a file) is a `Node`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Node<TPaths extends PathMap = any> {
  readonly system: ActorSystem;
  readonly root: Supervisor;
  /** Metrics (`telemetry.metrics.registry`, a prom-client Registry) and tracing, when on. */
  telemetry: Telemetry | undefined;
  /** Settles once, when the node has stopped (on request, or after a root failure). */
  readonly done: Promise<NodeExit>;
  private settle!: (exit: NodeExit) => void;
  private stopping: Promise<NodeExit> | undefined;
  private readonly supervisors = new Map<string, Supervisor>();
  /** Kind names by path, from the tree spec, for references made from a path alone. */
  private readonly kinds = new Map<string, string>();

  static async start<const T extends SupervisorSpec>(options: NodeOptions<T>): Promise<Node<PathsOf<T>>> {
    const problems = validateTree(options.tree);
    if (problems.length > 0) throw new TreeSpecError(problems);
    const system = new ActorSystem(options);
    if (options.onEvent) system.subscribe(options.onEvent);
    await system.start();
    const node = new Node<PathsOf<T>>(system, options.tree, options.now ?? (() => performance.now()));
    node.telemetry = Telemetry.attach(system, { ...options.telemetry, ...(options.transport ? { transport: options.transport } : {}) });
    try {
      await node.root.start();
      // Started means reachable: the actors' subscriptions are live at the broker.
      await system.flush();
    } catch (err) {
      await node.shutdown({ status: 'failed', reason: (err as Error).message });
      throw err;
    }
    return node;
  }

  private constructor(system: ActorSystem, tree: SupervisorSpec, now: () => number) {
    this.system = system;
    this.done = new Promise((resolve) => (this.settle = resolve));
    const context: SupervisionContext = { system, supervisors: this.supervisors, now };
    this.root = new Supervisor(context, tree, '');
    this.root.onExit = (_sup, _incarnation, exit) => {
      if ('detail' in exit && exit.detail === 'auto_shutdown') {
        // OTP: a root that shuts itself down (its significant children ended) is a normal end.
        this.system.logger.info({ path: this.root.path }, `root supervisor ${this.root.path} shut down by itself; node ${system.nodeId} stops`);
        void this.shutdown({ status: 'stopped' });
        return;
      }
      const reason = `root supervisor ${this.root.path} failed: ${'detail' in exit ? exit.detail : exit.reason}`;
      this.system.logger.fatal({ path: this.root.path }, `${reason}; node ${system.nodeId} stops`);
      void this.shutdown({ status: 'failed', reason });
    };
    const walk = (spec: ChildSpec, parent: string) => {
      const path = `${parent}/${spec.id}`;
      if (isSupervisorSpec(spec)) for (const child of spec.children) walk(child, path);
      else if (spec.kind) this.kinds.set(path, spec.kind.name);
    };
    walk(tree, '');
  }

  get nodeId(): string {
    return this.system.nodeId;
  }

  tell(target: string, type: string, payload?: Payload, options?: TellOptions): string {
    return this.system.tell(target, type, payload, options);
  }

  ask<T extends Payload = Payload>(target: string, type: string, payload?: Payload, options?: AskOptions): Promise<T> {
    return this.system.ask<T>(target, type, payload, options);
  }

  /**
   * A typed reference: `ref('/app/counter')` (a path of the tree), `ref(Counter, path)`,
   * or `ref(actorRef)` for one that came as data. Its tell and ask take the kind's events.
   */
  ref<P extends keyof TPaths & string>(path: P): Ref<TPaths[P]>;
  ref<K extends AnyKind, P extends string>(kind: K, path: P & PathFor<TPaths, K, P>): Ref<K>;
  ref<K extends AnyKind>(kind: K, address: NoInfer<AddressFor<K>>): Ref<K>;
  ref<K extends AnyKind>(address: Address<K>): Ref<K>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the overloads give the types
  ref(kindOrRef: AnyKind | Address | string, path?: string | Address<AnyKind | string>): Ref<any> {
    if (typeof kindOrRef === 'string') return bindRef(this, { path: kindOrRef, kind: this.kinds.get(kindOrRef) ?? ANY_KIND });
    return bindRef(this, kindOrRef, path);
  }

  /**
   * A typed reference to the entity `key` of a kind: `node.entity(Cart, 'user-42')`. Its
   * first message activates it on the node that owns its shard.
   */
  entity<K extends AnyKind>(kind: K, key: string): Ref<K> {
    return bindEntity(this, kind, key);
  }

  /** Lifecycle events and dead letters of this node. */
  subscribe(listener: SystemEventListener): Subscription {
    return this.system.subscribe(listener);
  }

  /** The supervisor at `path` (default the root). */
  supervisor(path: string = this.root.path): Supervisor {
    const sup = this.supervisors.get(path);
    if (!sup) throw new SupervisorError('no_supervisor', `no supervisor at ${path}`);
    return sup;
  }

  /**
   * Resolves once nothing is left to do: no supervisor operation queued, no delayed
   * restart pending, no running actor with mail. For tests and orderly tooling.
   */
  async settled(timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      await new Promise((resolve) => setImmediate(resolve));
      const busy = [...this.supervisors.values()].filter((s) => s.busy);
      if (busy.length > 0) {
        // Wait on their queues instead of spinning; a pending backoff timer needs real time.
        await Promise.race([Promise.all(busy.map((s) => s.whenIdle())), new Promise((r) => setTimeout(r, 5))]);
        continue;
      }
      if (this.system.dispatcher.idle) return;
    }
    throw new EldertreeError(`node ${this.nodeId} did not settle within ${timeoutMs} ms`);
  }

  /** Every actor of the tree, depth-first in start order. */
  view(): NodeView {
    const actors: ActorView[] = [];
    const cellView = (path: string, restarts: number): ActorView | undefined => {
      const cell = this.system.cell(path);
      if (!cell) return undefined;
      return {
        path,
        kind: cell.kind,
        status: cell.status,
        state: cell.actor?.getSnapshot().value ?? null,
        incarnation: cell.incarnation,
        restarts,
        mailbox: cell.mailbox.size,
        processed: cell.processed,
      };
    };
    const walk = (sup: Supervisor, restarts: number, restarting = false) => {
      const own = cellView(sup.path, restarts);
      if (own) {
        actors.push({
          ...own,
          status: restarting ? 'restarting' : sup.state,
          strategy: sup.strategy,
          intensity: sup.spec.intensity ?? DEFAULTS.intensity,
          period: sup.spec.period ?? DEFAULTS.period,
          restartsInPeriod: sup.restartsInPeriod,
          ...(sup.region ? { entities: sup.region.view() } : {}),
        });
      }
      // A region's entities are counted on its row, not listed: there may be millions.
      if (sup.region) return;
      for (const child of sup.whichChildren()) {
        const childSup = this.supervisors.get(child.path);
        if (child.type === 'supervisor' && childSup) walk(childSup, child.restarts, child.status === 'restarting');
        else {
          const view = cellView(child.path, child.restarts);
          // A child whose failed restart is being retried is `restarting`, not just down.
          if (view) actors.push(child.status === 'restarting' ? { ...view, status: 'restarting' } : view);
        }
      }
    };
    walk(this.root, 0);
    return { node: this.nodeId, root: this.root.path, at: Date.now(), actors };
  }

  /**
   * Where the entity `key` of a kind stands on this node: its shard, whether this node
   * owns that shard, and, if it is active here, its path, status and incarnation.
   */
  findEntity(kind: AnyKind | string, key: string): EntityLocation | undefined {
    const name = typeof kind === 'string' ? kind : kind.name;
    const region = [...this.supervisors.values()].find((s) => s.region?.kind === name)?.region;
    if (!region) return undefined;
    const shard = shardOf(checkKey(key), region.shards);
    const cell = this.system.cell(`${region.path}/${key}`);
    return {
      node: this.nodeId,
      kind: name,
      key,
      shard,
      owned: region.owns(shard),
      ...(cell ? { path: cell.path, status: cell.status, incarnation: cell.incarnation, mailbox: cell.mailbox.size } : {}),
    };
  }

  whichChildren(path?: string): ChildInfo[] {
    return this.supervisor(path).whichChildren();
  }

  /** OTP count_children: `{ specs, active, supervisors, workers }` of the supervisor at `path` (default the root). */
  countChildren(path?: string): ChildCounts {
    return this.supervisor(path).countChildren();
  }

  /** One child's entry of whichChildren; SupervisorError `not_found` if there is none. */
  whichChild(supervisorPath: string, id: string): ChildInfo {
    return this.supervisor(supervisorPath).whichChild(id);
  }

  /** OTP get_childspec: the child's spec with every default filled in. */
  getChildspec(supervisorPath: string, id: string): ChildSpec {
    return this.supervisor(supervisorPath).getChildspec(id);
  }

  /**
   * OTP start_child. Under a dynamic supervisor (simple_one_for_one) pass `{ id?, input? }`:
   * its template starts with that input; the answer has the child's path.
   */
  startChild(supervisorPath: string, spec: ChildSpec | DynamicChildArgs): Promise<ChildInfo> {
    return this.callSupervisor(supervisorPath, (s) => s.startChild(spec));
  }

  terminateChild(supervisorPath: string, id: string): Promise<void> {
    return this.callSupervisor(supervisorPath, (s) => s.terminateChild(id));
  }

  restartChild(supervisorPath: string, id: string): Promise<ChildInfo> {
    return this.callSupervisor(supervisorPath, (s) => s.restartChild(id));
  }

  /** Stops and forgets a child, forwarding its waiting mail (a child moving to another node). */
  removeChild(supervisorPath: string, id: string): Promise<void> {
    return this.callSupervisor(supervisorPath, (s) => s.removeChild(id));
  }

  deleteChild(supervisorPath: string, id: string): Promise<void> {
    return this.callSupervisor(supervisorPath, (s) => s.deleteChild(id));
  }

  /** A call on a supervisor that answers by promise: no supervisor there is a rejection too. */
  private callSupervisor<T>(path: string, call: (sup: Supervisor) => Promise<T>): Promise<T> {
    const sup = this.supervisors.get(path);
    if (!sup) return Promise.reject(new SupervisorError('no_supervisor', `no supervisor at ${path}`));
    return call(sup);
  }

  /** Stops the tree (children in reverse start order) and the transport. */
  stop(): Promise<NodeExit> {
    return this.shutdown({ status: 'stopped' });
  }

  private shutdown(exit: NodeExit): Promise<NodeExit> {
    this.stopping ??= (async () => {
      try {
        await this.root.stop(true);
      } finally {
        await this.system.stop();
        this.telemetry?.detach();
        this.settle(exit);
      }
      return exit;
    })();
    return this.stopping;
  }
}
