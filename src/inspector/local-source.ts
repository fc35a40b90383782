import type { SystemEvent } from '../actors/events.js';
import type { Node } from '../supervision/node.js';
import type { ActorDetail } from './protocol.js';
import { ActionError, type InspectorSource, type NodeSample, type SourceEvent } from './source.js';
import { enabledEvents, isReservedType, snapshotView, statechartOf } from './statechart.js';
import { Tracer, type TracerOptions } from './tracer.js';

/** The inspector attached to one Node in this process: everything is read directly. */
export class LocalSource implements InspectorSource {
  readonly kind = 'node' as const;
  readonly tracer: Tracer;
  private readonly unsubscribe: () => void;

  constructor(
    readonly node: Node,
    options: TracerOptions = {},
  ) {
    this.tracer = new Tracer(node.system, options);
    // Start markers feed the history; subscribed for the source's lifetime (events are rare).
    const sub = node.subscribe((e) => {
      if ((e.type === 'started' || e.type === 'restarted') && this.tracer.watching) {
        const cell = node.system.cell(e.path);
        if (cell) this.tracer.started(cell, `${e.type} #${e.incarnation}`);
      }
    });
    this.unsubscribe = () => sub.unsubscribe();
  }

  get label(): string {
    return `node ${this.node.nodeId}`;
  }

  get nodeId(): string {
    return this.node.nodeId;
  }

  async sample(): Promise<NodeSample[]> {
    const view = this.node.view();
    return [{ node: view.node, at: view.at, actors: view.actors, heartbeatAgeMs: 0 }];
  }

  events(listener: (event: SourceEvent) => void): () => void {
    const sub = this.node.subscribe((e) => listener(sourceEvent(e)));
    return () => sub.unsubscribe();
  }

  watch(): () => void {
    return this.tracer.watch();
  }

  messagesSince(seq: number) {
    return this.tracer.messagesSince(seq, this.nodeId);
  }

  async detail(node: string, path: string): Promise<ActorDetail | undefined> {
    if (node !== this.nodeId) return undefined;
    return this.localDetail(path);
  }

  /** Also used by the cluster agent, which answers for this node over NATS. */
  localDetail(path: string): ActorDetail | undefined {
    const cell = this.node.system.cell(path);
    if (!cell) return undefined;
    const chart = statechartOf(cell.behavior.machine);
    const snapshot = cell.actor?.getSnapshot();
    return {
      node: this.nodeId,
      path,
      kind: cell.kind,
      available: true,
      machineId: chart.machineId,
      chart: chart.root,
      events: chart.events,
      canTake: enabledEvents(snapshot, chart.events),
      wildcard: chart.wildcard,
      ...(snapshot !== undefined ? { snapshot: snapshotView(snapshot) } : {}),
      history: this.tracer.history(cell),
      incarnation: cell.incarnation,
    };
  }

  async send(node: string, path: string, type: string, payload: Record<string, unknown>) {
    this.own(node);
    const cell = this.node.system.cell(path);
    if (!cell) throw new ActionError(404, 'unknown_actor', `no actor at ${path} on node ${node}`);
    checkEventType(type, statechartOf(cell.behavior.machine), path);
    return { messageId: this.node.tell(path, type, payload) };
  }

  async restart(node: string, path: string) {
    this.own(node);
    const { parent, id } = this.childOf(path);
    const child = this.node.whichChildren(parent).find((c) => c.id === id)!;
    try {
      // OTP's restart_child takes a terminated child: stop it first if it runs.
      if (child.status === 'running' || child.status === 'starting') await this.node.terminateChild(parent, id);
      const info = await this.node.restartChild(parent, id);
      return { incarnation: info.incarnation };
    } catch (err) {
      throw new ActionError(409, 'restart_failed', (err as Error).message);
    }
  }

  async stop(node: string, path: string) {
    this.own(node);
    const { parent, id } = this.childOf(path);
    try {
      await this.node.terminateChild(parent, id);
    } catch (err) {
      throw new ActionError(409, 'stop_failed', (err as Error).message);
    }
  }

  ready() {
    const state = this.node.root.state;
    return state === 'running'
      ? { ok: true, reason: `root supervisor ${this.node.root.path} is running` }
      : { ok: false, reason: `root supervisor ${this.node.root.path} is ${state}` };
  }

  async close(): Promise<void> {
    this.unsubscribe();
  }

  private own(node: string): void {
    if (node !== this.nodeId) throw new ActionError(404, 'unknown_node', `node ${node} is not known here (this is node ${this.nodeId})`);
  }

  /** The supervisor and child id of `path`, or a clear refusal. */
  private childOf(path: string): { parent: string; id: string } {
    if (!this.node.system.cell(path)) throw new ActionError(404, 'unknown_actor', `no actor at ${path} on node ${this.nodeId}`);
    const cut = path.lastIndexOf('/');
    const parent = path.slice(0, cut);
    const id = path.slice(cut + 1);
    if (parent === '') throw new ActionError(409, 'root', `${path} is the root supervisor: it has no supervisor to restart or stop it`);
    let children;
    try {
      children = this.node.whichChildren(parent);
    } catch {
      throw new ActionError(409, 'no_supervisor', `${parent} is not a supervisor on node ${this.nodeId}`);
    }
    if (!children.some((c) => c.id === id)) throw new ActionError(404, 'unknown_child', `${parent} has no child ${id}`);
    return { parent, id };
  }
}

/** Refuses types the machine cannot take at all; a known type the current state ignores still goes (and dead-letters, visibly). */
export function checkEventType(type: string, chart: { events: string[]; wildcard: boolean }, path: string): void {
  if (isReservedType(type)) throw new ActionError(422, 'reserved_event', `${type} is a reserved event type; actors cannot be sent it`);
  if (!chart.wildcard && !chart.events.includes(type)) {
    throw new ActionError(
      422,
      'unknown_event',
      `the machine at ${path} takes no event "${type}"; it takes: ${chart.events.join(', ') || '(none)'}`,
    );
  }
}

export function sourceEvent(e: SystemEvent): SourceEvent {
  if (e.type === 'dead_letter') {
    const env = e.envelope;
    return {
      type: e.type,
      node: e.node,
      at: e.at,
      reason: e.reason,
      detail: e.detail,
      ...(e.error ? { error: e.error.message } : {}),
      ...(env
        ? {
            envelope: {
              id: env.message_id,
              from: env.source_elder,
              to: env.target_elder,
              type: env.message_type,
              ...(env.correlation_id !== undefined ? { corr: env.correlation_id } : {}),
            },
          }
        : {}),
    };
  }
  return {
    type: e.type,
    node: e.node,
    at: e.at,
    path: e.path,
    incarnation: e.incarnation,
    kind: e.kind,
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
    ...(e.error ? { error: e.error.message } : {}),
    ...(e.restarts !== undefined ? { restarts: e.restarts } : {}),
  };
}
