import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Node, type NodeOptions, type NodeView } from '../supervision/node.js';
import { NatsTransport, type NatsTransportOptions } from '../transport/nats.js';
import { encodeMsg, encodeWire, toWire } from './events-wire.js';
import { Membership, type Member, type MembershipOptions } from './membership.js';

export interface ClusterNodeOptions extends Omit<NodeOptions, 'transport'> {
  nodeId: string;
  nats: NatsTransportOptions;
  membership?: MembershipOptions;
}

/** What a node answers on `inspect`: its members' view and its actors. */
export interface InspectReply extends NodeView {
  members: Member[];
  startedAt: number;
}

/**
 * A node on NATS: the same Node (actors, supervisors) with the NATS transport, plus
 * membership heartbeats, its lifecycle and dead-letter stream on
 * elders.<cluster>.sys.events.<node>, and control subjects that answer `inspect`
 * (one node on node.<node>.ctl.inspect, every node on sys.inspect).
 */
export class ClusterNode {
  readonly startedAt = Date.now();
  private readonly subs: Subscription[] = [];

  private constructor(
    readonly node: Node,
    readonly transport: NatsTransport,
    readonly membership: Membership,
  ) {}

  static async start(options: ClusterNodeOptions): Promise<ClusterNode> {
    const { nats, membership: membershipOptions, onEvent, ...nodeOptions } = options;
    const transport = new NatsTransport({ logger: options.logger, ...nats });
    let publish: ((data: Uint8Array) => void) | undefined;
    const node = await Node.start({
      ...nodeOptions,
      transport,
      onEvent: (event) => {
        onEvent?.(event);
        publish?.(encodeWire(toWire(event)));
      },
    });
    const nc = transport.connection;
    const eventsSubject = transport.subjects.events(options.nodeId);
    publish = (data) => {
      if (!nc.isClosed()) nc.publish(eventsSubject, data);
    };
    const membership = new Membership(nc, transport.subjects, options.nodeId, membershipOptions);
    const cluster = new ClusterNode(node, transport, membership);
    membership.onChange((event) => {
      node.system.logger[event.type === 'node_down' ? 'warn' : 'info'](
        { event: event.type, peer: event.node, reason: event.reason },
        `${event.type === 'node_down' ? 'node down' : 'node up'}: ${event.node} (${event.reason})`,
      );
      publish?.(encodeWire({ ...event, observer: options.nodeId }));
    });
    membership.start();
    cluster.serveControl(nc);
    void node.done.then(() => cluster.close());
    return cluster;
  }

  get nodeId(): string {
    return this.node.nodeId;
  }

  inspect(): InspectReply {
    return { ...this.node.view(), members: this.membership.members(), startedAt: this.startedAt };
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
            msg.respond(encodeMsg(this.inspect()));
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
  }
}
