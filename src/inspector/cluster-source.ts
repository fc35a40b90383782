import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import type { ClusterClient } from '../cluster/client.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { collectInspect } from '../cluster/inspect-wire.js';
import { decodeMsg, decodeWire, encodeMsg } from '../cluster/events-wire.js';
import { subjects as makeSubjects, type Subjects } from '../transport/subjects.js';
import { agentBroadcast, agentSubject, type AgentReply, type AgentRequest } from './agent.js';
import type { LocalSource } from './local-source.js';
import type { ActorDetail, MessageRecord } from './protocol.js';
import { ActionError, type InspectorSource, type NodeSample, type SourceEvent } from './source.js';

export interface ClusterSourceOptions {
  connection: NatsConnection;
  /** Cluster name (the `elders.<cluster>.*` namespace). */
  cluster: string;
  /** Sends a message into the cluster (a ClusterClient's or a node's tell). */
  tell(path: string, type: string, payload: Record<string, unknown>): string;
  label: string;
  /** The node this inspector runs in, if any: its actors are read directly. */
  local?: LocalSource;
  /** Longest wait for inspect answers (default 500 ms). */
  inspectWaitMs?: number;
  /** Agent request timeout (default 2000 ms). */
  requestTimeoutMs?: number;
  onClose?: () => Promise<void>;
}

const heartbeatCodec = new Packr({ useRecords: false });

/**
 * The cluster seen over NATS: every node's view through the `inspect` broadcast, the
 * lifecycle/dead-letter/membership stream from sys.events.*, heartbeat ages from
 * sys.heartbeat.*, and per-node statecharts, histories and actions through each
 * node's inspector agent. Used standalone (`eldertree inspect --nats URL`) and by an
 * inspector embedded in a node that joined a cluster.
 */
export class ClusterSource implements InspectorSource {
  readonly kind = 'cluster' as const;
  readonly label: string;
  private readonly nc: NatsConnection;
  private readonly subjects: Subjects;
  private readonly local: LocalSource | undefined;
  private readonly waitMs: number;
  private readonly timeoutMs: number;
  private readonly heard = new Map<string, number>();
  private readonly subs: Subscription[] = [];
  private last: NodeSample[] = [];
  private lastOk = 0;
  private watchers = 0;
  private unwatchLocal: (() => void) | undefined;
  private readonly cursors: Record<string, number> = {};
  private readonly pulled: MessageRecord[] = [];
  private seq = 0;

  constructor(private readonly options: ClusterSourceOptions) {
    this.nc = options.connection;
    this.subjects = makeSubjects(options.cluster);
    this.local = options.local;
    this.label = options.label;
    this.waitMs = options.inspectWaitMs ?? 500;
    this.timeoutMs = options.requestTimeoutMs ?? 2000;
    this.subs.push(
      this.nc.subscribe(this.subjects.heartbeats(), {
        callback: (err, msg) => {
          if (err) return;
          try {
            const hb = heartbeatCodec.unpack(msg.data) as { node?: unknown; leaving?: unknown };
            if (typeof hb?.node !== 'string') return;
            if (hb.leaving) this.heard.delete(hb.node);
            else this.heard.set(hb.node, Date.now());
          } catch {
            // Not a heartbeat: says nothing.
          }
        },
      }),
    );
  }

  /** Standalone: over a ClusterClient's connection. */
  static fromClient(client: ClusterClient, cluster: string, label = `cluster ${cluster}`): ClusterSource {
    return new ClusterSource({
      connection: client.connection,
      cluster,
      label,
      tell: (path, type, payload) => client.tell(path, type, payload),
      onClose: () => client.close(),
    });
  }

  /** Embedded in a node of a cluster: every node over NATS, this one read directly. */
  static forNode(cluster: ClusterNode, local: LocalSource): ClusterSource {
    return new ClusterSource({
      connection: cluster.transport.connection,
      cluster: cluster.transport.subjects.cluster,
      label: `cluster ${cluster.transport.subjects.cluster} (from node ${cluster.nodeId})`,
      tell: (path, type, payload) => cluster.node.tell(path, type, payload),
      local,
    });
  }

  async sample(): Promise<NodeSample[]> {
    // Chunked answers (a node past ~10k actors), complete for every node known up.
    const { replies } = await collectInspect(this.nc, this.subjects.broadcast('inspect'), Math.max(this.waitMs, 2000));
    const samples: NodeSample[] = replies
      .filter((r) => r && typeof r.node === 'string' && Array.isArray(r.actors))
      .map((r) => {
        const heard = this.heard.get(r.node);
        return {
          node: r.node,
          at: r.at,
          actors: r.actors,
          members: r.members,
          ...(heard !== undefined ? { heartbeatAgeMs: Math.max(0, Date.now() - heard) } : {}),
        };
      })
      .sort((a, b) => a.node.localeCompare(b.node));
    if (this.watchers > 0) await this.pullMessages(samples.length);
    this.last = samples;
    if (samples.length > 0) this.lastOk = Date.now();
    return samples;
  }

  /** Asks every node at once; returns early once `expected` answered. */
  private async collect<T>(subject: string, request: unknown, expected: number): Promise<T[]> {
    const out: T[] = [];
    try {
      const it = await this.nc.requestMany(subject, encodeMsg(request), {
        ...(expected > 0 ? { strategy: 'count' as const, maxMessages: expected } : { strategy: 'timer' as const }),
        maxWait: this.waitMs,
      });
      for await (const msg of it) {
        const value = decodeMsg<T>(msg.data);
        if (value !== undefined) out.push(value);
      }
    } catch (err) {
      // Nobody answering is an answer too (none).
      if (!/no responders|timeout/i.test((err as Error).message)) throw err;
    }
    return out;
  }

  private async pullMessages(expected: number): Promise<void> {
    const request: AgentRequest = { op: 'messages', since: this.cursors };
    const replies = await this.collect<AgentReply>(agentBroadcast(this.subjects), request, expected);
    const fresh: MessageRecord[] = [];
    for (const reply of replies) {
      if (!reply?.ok || !Array.isArray(reply.result)) continue;
      for (const m of reply.result as MessageRecord[]) {
        if (m.seq > (this.cursors[m.node] ?? 0)) this.cursors[m.node] = m.seq;
        fresh.push(m);
      }
    }
    fresh.sort((a, b) => a.at - b.at);
    for (const m of fresh) {
      this.pulled.push({ ...m, seq: ++this.seq });
      if (this.pulled.length > 2000) this.pulled.splice(0, this.pulled.length - 1000);
    }
  }

  events(listener: (event: SourceEvent) => void): () => void {
    const sub = this.nc.subscribe(this.subjects.allEvents(), {
      callback: (err, msg) => {
        if (err) return;
        const e = decodeWire(msg.data);
        if (e) listener(e as SourceEvent);
      },
    });
    return () => sub.unsubscribe();
  }

  watch(): () => void {
    // Agents trace while they are pulled (sample() pulls while watched); the local node directly.
    this.watchers++;
    if (this.watchers === 1 && this.local) this.unwatchLocal = this.local.watch();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.watchers === 0) {
        this.unwatchLocal?.();
        this.unwatchLocal = undefined;
      }
    };
  }

  messagesSince(seq: number): MessageRecord[] {
    return this.pulled.filter((m) => m.seq > seq);
  }

  async detail(node: string, path: string): Promise<ActorDetail | undefined> {
    const known = this.find(node, path);
    try {
      const detail = await this.ask<ActorDetail | null>(node, { op: 'detail', path });
      return detail ?? undefined;
    } catch (err) {
      if (!known) return undefined;
      return {
        node,
        path,
        kind: known.kind,
        available: false,
        reason: (err as Error).message,
        events: [],
        canTake: [],
        wildcard: false,
        history: [],
        incarnation: known.incarnation,
      };
    }
  }

  async send(node: string, path: string, type: string, payload: Record<string, unknown>) {
    if (!this.find(node, path)) throw new ActionError(404, 'unknown_actor', `no actor at ${path} on node ${node}`);
    try {
      return await this.ask<{ messageId: string }>(node, { op: 'send', path, type, payload });
    } catch (err) {
      if (err instanceof ActionError && err.code !== 'no_agent') throw err;
      // No agent there to check the type: send it by path anyway, as `eldertree send` would.
      return { messageId: this.options.tell(path, type, payload) };
    }
  }

  async restart(node: string, path: string) {
    if (!this.find(node, path)) throw new ActionError(404, 'unknown_actor', `no actor at ${path} on node ${node}`);
    return this.ask<{ incarnation: number }>(node, { op: 'restart', path });
  }

  async stop(node: string, path: string) {
    if (!this.find(node, path)) throw new ActionError(404, 'unknown_actor', `no actor at ${path} on node ${node}`);
    await this.ask(node, { op: 'stop', path });
  }

  private find(node: string, path: string) {
    return this.last.find((s) => s.node === node)?.actors.find((a) => a.path === path);
  }

  /** One node's agent; the local node is answered in process. */
  private async ask<T>(node: string, request: AgentRequest): Promise<T> {
    if (this.local && node === this.local.nodeId) {
      switch (request.op) {
        case 'detail':
          return (this.local.localDetail(request.path) ?? null) as T;
        case 'send':
          return (await this.local.send(node, request.path, request.type, request.payload)) as T;
        case 'restart':
          return (await this.local.restart(node, request.path)) as T;
        case 'stop':
          return (await this.local.stop(node, request.path)) as T;
      }
    }
    let reply: AgentReply | undefined;
    try {
      const msg = await this.nc.request(agentSubject(this.subjects, node), encodeMsg(request), { timeout: this.timeoutMs });
      reply = decodeMsg<AgentReply>(msg.data);
    } catch (err) {
      const why = /no responders/i.test((err as Error).message)
        ? `node ${node} runs no inspector agent (start it with the inspector on, or attachInspectorAgent)`
        : `node ${node} did not answer: ${(err as Error).message}`;
      throw new ActionError(502, 'no_agent', why);
    }
    if (!reply) throw new ActionError(502, 'bad_reply', `node ${node} sent a reply that did not decode`);
    if (!reply.ok) throw new ActionError(reply.status, reply.code, reply.message);
    return reply.result as T;
  }

  ready() {
    if (this.nc.isClosed()) return { ok: false, reason: 'the NATS connection is closed' };
    if (this.lastOk === 0) return { ok: false, reason: 'no node has answered yet' };
    if (Date.now() - this.lastOk > 10_000) return { ok: false, reason: `no node answered for ${Math.round((Date.now() - this.lastOk) / 1000)} s` };
    return { ok: true, reason: `${this.last.length} node(s) answering` };
  }

  async close(): Promise<void> {
    this.unwatchLocal?.();
    for (const sub of this.subs) {
      try {
        sub.unsubscribe();
      } catch {
        // Already closed with the connection.
      }
    }
    await this.options.onClose?.();
  }
}
