import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { silentLogger } from '../log.js';
import { Node, type NodeOptions } from '../supervision/node.js';
import { diagnoseConnect } from '../transport/connect-diagnosis.js';
import { closeConnection, connectionRole, NatsTransport, type NatsTransportOptions } from '../transport/nats.js';
import { requestInboxPrefix } from '../transport/subjects.js';
import { encodeMsg, encodeWire, overflowSummarizer } from './events-wire.js';
import { encodeInspectReply, type InspectReply } from './inspect-wire.js';
import { openKvLeases } from './lease-kv.js';
import { KvSnapshotStore } from './snapshots.js';
import { KvTaskLocks } from './task-locks.js';
import { Membership, type MembershipOptions } from './membership.js';
import { SHARDS_SERVICE } from '../supervision/region.js';
import { ShardManager } from './shards.js';
import { placeTree } from './placement.js';

export interface ClusterNodeOptions extends Omit<NodeOptions, 'transport'> {
  nodeId: string;
  nats: NatsTransportOptions;
  membership?: MembershipOptions;
  /** Singleton lease TTL in ms (default 1000): a dead owner's subtree moves within about this. */
  singletonTtlMs?: number;
  /**
   * Replicas of the KV buckets (leases, locks, snapshots) when this node creates them;
   * default 3 when the cluster has at least 3 servers, else 1. An existing bucket with
   * fewer is reported in the log and in `inspect` (`warnings`).
   */
  kvReplicas?: number;
}

/**
 * Connects with the runtime's defaults; a failure comes back as one sentence naming
 * the problem (refused certificate, unreachable server...) instead of "timeout".
 */
export async function connectOrExplain(nats: NatsTransportOptions, name: string): Promise<NatsConnection> {
  try {
    return await connect({
      servers: nats.servers,
      name,
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
      inboxPrefix: requestInboxPrefix(connectionRole(nats)),
      ...nats.connectOptions,
    });
  } catch (err) {
    // nats.js tried every server of the list: say what is wrong with each.
    const servers = nats.servers === undefined ? [] : Array.isArray(nats.servers) ? nats.servers : [nats.servers];
    const tls = nats.connectOptions?.tls ?? undefined;
    const whys = await Promise.all(servers.map(async (s) => [s, await diagnoseConnect(s, tls)] as const));
    const known = whys.filter(([, why]) => why !== undefined);
    if (known.length === 0) throw new Error((err as Error).message);
    throw new Error(servers.length === 1 ? known[0]![1]! : `no server of ${servers.length} answered: ${known.map(([s, why]) => `${s}: ${why}`).join('; ')}`);
  }
}

export type { InspectReply };

/**
 * A node on NATS: the same Node (actors, supervisors) with the NATS transport, plus
 * membership heartbeats, its lifecycle and dead-letter stream on
 * elders.<cluster>.sys.events.<node>, and control subjects that answer `inspect`
 * (one node on node.<node>.ctl.inspect, every node on sys.inspect).
 */
export class ClusterNode {
  readonly startedAt = Date.now();
  /** What `inspect` reports under `warnings`. */
  readonly warnings: string[] = [];
  private readonly subs: Subscription[] = [];

  private constructor(
    readonly node: Node,
    readonly transport: NatsTransport,
    readonly membership: Membership,
    private readonly nc: NatsConnection,
    private readonly control: NatsConnection,
  ) {}

  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const { nats, membership: membershipOptions, onEvent, singletonTtlMs, kvReplicas, ...nodeOptions } = options;
    const logger = options.logger ?? silentLogger();
    const nc = nats.connection ?? (await connectOrExplain(nats, `eldertree-${options.nodeId}`));
    // Heartbeats and control get a connection of their own: on the actors' connection
    // they would queue behind every frame already in the socket, and a node busy with
    // a flood would stop hearing its peers and declare them down.
    const control = nats.connection ?? (await connectOrExplain(nats, `eldertree-${options.nodeId}-control`).catch(async (err) => {
      await nc.close();
      throw err;
    }));
    try {
      const transport = new NatsTransport({ logger, ...nats, connection: nc });
      const membership = new Membership(control, transport.subjects, options.nodeId, membershipOptions);
      const warnings: string[] = [];
      const buckets = {
        cluster: transport.subjects.cluster,
        logger,
        onWarning: (w: string) => warnings.push(w),
        ...(kvReplicas !== undefined ? { replicas: kvReplicas } : {}),
      };
      const [leases, locks, snapshots] = await Promise.all([
        openKvLeases(nc, buckets),
        KvTaskLocks.open(nc, buckets),
        KvSnapshotStore.open(nc, buckets),
      ]);
      const shards = new ShardManager({
        self: options.nodeId,
        membership: () => membership,
        leases,
        ttlMs: singletonTtlMs ?? 1000,
        transport,
        logger,
      });
      const services = { locks, snapshots, [SHARDS_SERVICE]: shards, ...nodeOptions.services };
      let node: Node | undefined;
      const tree = placeTree(options.tree, {
        self: options.nodeId,
        node: () => node,
        membership: () => membership,
        leases,
        singletonTtlMs: singletonTtlMs ?? 1000,
        logger,
      });
      const eventsSubject = transport.subjects.events(options.nodeId);
      const publish = (data: Uint8Array) => {
        if (!nc.isClosed()) nc.publish(eventsSubject, data);
      };
      const wire = overflowSummarizer((event) => publish(encodeWire(event)));
      membership.start();
      node = await Node.start({
        ...nodeOptions,
        services,
        tree,
        transport,
        onEvent: (event) => {
          onEvent?.(event);
          wire.event(event);
        },
      });
      const cluster = new ClusterNode(node, transport, membership, nc, control);
      cluster.warnings.push(...warnings);
      membership.onChange((event) => {
        logger[event.type === 'node_down' ? 'warn' : 'info'](
          { event: event.type, peer: event.node, reason: event.reason },
          `${event.type === 'node_down' ? 'node down' : 'node up'}: ${event.node} (${event.reason})`,
        );
        publish(encodeWire({ ...event, observer: options.nodeId }));
      });
      cluster.serveControl(control);
      void node.done.then(() => {
        wire.flush();
        return cluster.close();
      });
      return cluster;
    } catch (err) {
      if (!nats.connection) await Promise.all([nc.close(), control.close()]);
      throw err;
    }
  }

  get nodeId(): string {
    return this.node.nodeId;
  }

  inspect(): InspectReply {
    return {
      ...this.node.view(),
      members: this.membership.members(),
      startedAt: this.startedAt,
      ...(this.warnings.length > 0 ? { warnings: [...this.warnings] } : {}),
    };
  }

  /** Stops the tree (reverse order), leaves the cluster, closes the connection. */
  async stop(): Promise<void> {
    await this.membership.stop();
    await this.node.stop();
  }

  private serveControl(nc: NatsConnection): void {
    const subjects = this.transport.subjects;
    const answer = (subject: string) =>
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err || !msg.reply) return;
          try {
            // In chunks under the broker's max_payload: 10k actors are ~1 MB.
            for (const part of encodeInspectReply(this.inspect(), nc.info?.max_payload ?? 1024 * 1024)) nc.publish(msg.reply, part);
          } catch (e) {
            msg.respond(encodeMsg({ error: (e as Error).message }));
          }
        },
      });
    this.subs.push(answer(subjects.control(this.nodeId, 'inspect')), answer(subjects.broadcast('inspect')));
  }

  private async close(): Promise<void> {
    for (const sub of this.subs) {
      try {
        sub.unsubscribe();
      } catch {
        // Already closed with the connection.
      }
    }
    await this.membership.stop();
    for (const c of new Set([this.control, this.nc])) {
      await closeConnection(c);
    }
  }
}
