import { connect, type ConnectionOptions, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  ERROR_REPLY_TYPE,
  isNodeAddress,
  nodeAddress,
  REPLY_TYPE,
  validateEnvelope,
  type Envelope,
} from '../actors/envelope.js';
import type { Transport, TransportHost } from '../actors/transport.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { decodeFrame, DEFAULT_MAX_FRAME_BYTES, encodeEnvelope } from './codec.js';
import { InOrder } from './in-order.js';
import { DEFAULT_RETRY, Outbox, type RetryPolicy } from './outbox.js';
import { isActorPath, isSubjectToken, subjects, type Subjects } from './subjects.js';

export interface NatsTransportOptions {
  /** Where to connect; ignored when `connection` is given. */
  servers?: string | string[];
  /** Share an existing connection (the node then does not close it). */
  connection?: NatsConnection;
  /** Subject namespace: elders.<cluster>.…; default `elders`. */
  cluster?: string;
  /** user/pass, tls, name…: passed to nats.js connect(). */
  connectOptions?: Partial<ConnectionOptions>;
  maxFrameBytes?: number;
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
  /**
   * The role a sender path publishes as (the subject's role token, which the broker
   * checks against this connection's user). Default: `operator` for everything.
   */
  roleOf?: (sourcePath: string) => string | undefined;
}

/** The role of senders without one of their own (tools, the node itself). */
export const DEFAULT_ROLE = 'operator';

const EMPTY = new Uint8Array(0);
const QUEUE = 'actors';
/** Bound for the per-path caches: past it they start over (a tree rarely has that many senders). */
const CACHE_LIMIT = 10_000;
// Inbox reply-subject kinds: what a no-responders status (503) on it means.
const ASK = 'a'; // an ask of ours: reject it at once
const TELL = 't'; // a tell: dead letter
const NODE = 'n'; // a frame to a node address
const ENVELOPES = 'env'; // envelopes addressed to this node (ask replies)

/**
 * DESIGN.md's NATS transport: msgpackr envelopes on `elders.<cluster>.actor.<path>`,
 * one queue-group subscription per hosted actor, and one inbox subscription per node
 * (`elders.<cluster>.node.<node>.r.>`) for ask replies, acks and no-responder statuses:
 * no per-request inboxes. Every frame carries a reply subject naming its id and target,
 * so the broker's no-responders status turns a message to an actor nobody hosts into
 * a dead letter (or an immediate ask error) without a round trip of our own.
 */
export class NatsTransport implements Transport {
  readonly subjects: Subjects;
  private nc: NatsConnection | undefined;
  private host: TransportHost | undefined;
  private readonly ownsConnection: boolean;
  private readonly subs = new Map<string, Subscription>();
  private inboxPrefix = '';
  private address = '';
  private readonly actorPrefix: string;
  private readonly roles = new Map<string, string>();
  private readonly dottedPaths = new Map<string, string>();
  private readonly outbox: Outbox;
  private readonly inOrder = new InOrder();
  /** Acked envelopes handed to the node and not yet settled: id -> where to ack. */
  private readonly awaitingAck = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private readonly maxFrameBytes: number;
  private readonly logger: Logger;

  constructor(private readonly options: NatsTransportOptions) {
    this.subjects = subjects(options.cluster);
    this.actorPrefix = `elders.${this.subjects.cluster}.actor.`;
    this.ownsConnection = options.connection === undefined;
    this.nc = options.connection;
    this.outbox = new Outbox({ ...DEFAULT_RETRY, ...options.retry });
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.logger = options.logger ?? silentLogger();
  }

  get connection(): NatsConnection {
    if (!this.nc) throw new Error('the NATS transport is not started');
    return this.nc;
  }

  async start(host: TransportHost): Promise<void> {
    if (!isSubjectToken(host.nodeId)) throw new Error(`node name "${host.nodeId}" is not a valid NATS subject token`);
    this.host = host;
    this.nc ??= await connect({
      servers: this.options.servers,
      name: `eldertree-${host.nodeId}`,
      noAsyncTraces: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      ...this.options.connectOptions,
    });
    this.watchStatus(this.nc);
    this.inboxPrefix = this.subjects.inbox(host.nodeId) + '.';
    this.address = nodeAddress(host.nodeId);
    this.subs.set('', this.nc.subscribe(this.inboxPrefix + '>', { callback: (err, msg) => {
        if (!err) this.onInbox(msg);
      }, }));
    this.timer = setInterval(() => this.resend(), Math.max(10, Math.min(50, this.outbox.policy.initialMs / 4)));
    this.timer.unref();
  }

  register(path: string): void {
    if (!this.nc || this.subs.has(path) || !isActorPath(path)) return;
    const sub = this.nc.subscribe(this.subjects.actorInbox(path), {
      queue: QUEUE,
      callback: (err, msg) => {
        if (!err) this.onFrame(msg, path);
      },
    });
    this.subs.set(path, sub);
  }

  unregister(path: string): void {
    this.subs.get(path)?.unsubscribe();
    this.subs.delete(path);
    this.inOrder.forget(path);
  }

  send(envelope: Envelope): void {
    const host = this.host;
    const nc = this.nc;
    if (!host || !nc || nc.isClosed()) {
      host?.undeliverable(envelope, 'unknown_target', `the NATS connection is closed; cannot reach ${envelope.target_elder}`);
      return;
    }
    const target = envelope.target_elder;
    const toNode = isNodeAddress(target);
    if (toNode ? !isSubjectToken(target.slice(1)) : !isActorPath(target)) {
      host.undeliverable(envelope, 'unknown_target', `${target} is not a valid actor path or node address`);
      return;
    }
    const acked = envelope.requires_ack && !toNode;
    if (acked) this.outbox.add(envelope);
    if (toNode) {
      const node = target.slice(1);
      this.publish(envelope, this.subjects.inbox(node) + '.' + ENVELOPES, `${this.inboxPrefix}${NODE}.${envelope.message_id}.${node}`, false);
      return;
    }
    this.publishToActor(envelope, envelope.reply_to === this.address ? ASK : TELL, acked);
  }

  /** Subject and reply subject of a frame to an actor; both derived from cached pieces. */
  private publishToActor(envelope: Envelope, kind: string, acked: boolean): void {
    const dotted = this.dotted(envelope.target_elder);
    const subject = `${this.actorPrefix}${this.roleFor(envelope.source_elder)}${dotted}`;
    this.publish(envelope, subject, `${this.inboxPrefix}${kind}.${envelope.message_id}${dotted}`, acked);
  }

  /** `/a/b` -> `.a.b`, once per path: it was recomputed twice per message. */
  private dotted(path: string): string {
    let dotted = this.dottedPaths.get(path);
    if (dotted === undefined) {
      dotted = path.replaceAll('/', '.');
      if (this.dottedPaths.size >= CACHE_LIMIT) this.dottedPaths.clear();
      this.dottedPaths.set(path, dotted);
    }
    return dotted;
  }

  forward(envelope: Envelope): boolean {
    if (this.awaitingAck.delete(envelope.message_id)) {
      // Never acked here: its sender resends it, and the new host will take it.
      return true;
    }
    this.send(envelope);
    return true;
  }

  settled(envelope: Envelope): void {
    const ackTo = this.awaitingAck.get(envelope.message_id);
    if (ackTo === undefined) return;
    this.awaitingAck.delete(envelope.message_id);
    this.nc?.publish(ackTo, EMPTY);
  }

  async flush(): Promise<void> {
    if (this.nc && !this.nc.isClosed()) await this.nc.flush();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const envelope of this.outbox.drain()) {
      this.host?.undeliverable(envelope, 'undelivered', `node stopped before ${envelope.target_elder} acknowledged it`);
    }
    for (const sub of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
    if (this.nc && this.ownsConnection) await closeConnection(this.nc);
    this.host = undefined;
  }

  // ---- inbound --------------------------------------------------------------------

  private onFrame(msg: Msg, path: string): void {
    const host = this.host;
    if (!host) return;
    const decoded = decodeFrame(msg.data, this.maxFrameBytes);
    if (!decoded.ok) return host.malformed(`on ${msg.subject}: ${decoded.reason}`);
    const value = decoded.value as Record<string, unknown> | null;
    if (value !== null && typeof value === 'object' && typeof value.target_elder === 'string' && value.target_elder !== path) {
      // Routing follows the subject the broker checked, never a field the sender wrote.
      return host.malformed(`on ${msg.subject}: target_elder ${value.target_elder} is not ${path}`, value);
    }
    // The role token the broker let this publisher use: trusted over the envelope.
    const at = this.subjects.actorPrefixLength;
    const role = msg.subject.slice(at, msg.subject.indexOf('.', at));
    if (value === null || typeof value !== 'object' || value.requires_ack !== true || !msg.reply) {
      return host.receive(value, role);
    }
    const checked = validateEnvelope(value);
    if (!checked.ok) return host.malformed(`on ${msg.subject}: ${checked.reason}`, value);
    const arrival = this.inOrder.arrive(checked.envelope, msg.reply);
    if (arrival.kind === 'duplicate') {
      // Still in the mailbox: its ack comes when it is processed. Settled: our ack was lost.
      if (!this.awaitingAck.has(checked.envelope.message_id)) this.nc?.publish(msg.reply, EMPTY);
      return;
    }
    if (arrival.kind === 'held') return;
    for (const { envelope, ackTo } of arrival.frames) {
      this.awaitingAck.set(envelope.message_id, ackTo);
      host.receive(envelope, role);
    }
  }

  private onInbox(msg: Msg): void {
    const host = this.host;
    if (!host) return;
    const rest = msg.subject.slice(this.inboxPrefix.length);
    if (rest === ENVELOPES) {
      const decoded = decodeFrame(msg.data, this.maxFrameBytes);
      if (!decoded.ok) return host.malformed(`on ${msg.subject}: ${decoded.reason}`);
      const value = decoded.value as Record<string, unknown> | null;
      // Only replies to this node belong in its inbox: never a way around actor subjects.
      const self = nodeAddress(host.nodeId);
      if (value === null || typeof value !== 'object' || value.target_elder !== self) {
        return host.malformed(`on ${msg.subject}: only replies addressed to ${self} are accepted here`);
      }
      if (value.message_type !== REPLY_TYPE && value.message_type !== ERROR_REPLY_TYPE) {
        return host.malformed(`on ${msg.subject}: ${String(value.message_type)} is not a reply`);
      }
      return host.receive(value);
    }
    const [kind, id, ...target] = rest.split('.');
    if (!id) return;
    if (msg.headers?.code !== 503) {
      this.outbox.ack(id); // an acknowledgement
      return;
    }
    // No responders: nobody subscribes to that actor (or node) right now. An acked
    // message stays in the outbox: a standby may take the actor over before give-up.
    if (this.outbox.has(id)) return;
    const toNode = kind === NODE;
    const path = toNode ? '@' + target.join('.') : '/' + target.join('/');
    host.undeliverable(
      this.lost(id, path, kind === ASK),
      'unknown_target',
      toNode ? `node ${path.slice(1)} is not reachable` : `no node hosts ${path}`,
    );
  }

  /** What is known of a frame that bounced: its id and target (nothing is kept per send). */
  private lost(id: string, target: string, ask: boolean): Envelope {
    const self = nodeAddress(this.host!.nodeId);
    return {
      message_id: id,
      source_elder: self,
      target_elder: target,
      message_type: '(unknown: not kept by the sender)',
      payload: {},
      priority: 0,
      timestamp: Date.now(),
      requires_ack: false,
      seq: 0,
      ...(ask ? { reply_to: self, correlation_id: id } : {}),
    };
  }

  // ---- outbound -------------------------------------------------------------------

  private publish(envelope: Envelope, subject: string, reply: string, acked: boolean): void {
    const frame = encodeEnvelope(envelope);
    if (frame.byteLength > this.maxFrameBytes) {
      if (acked) this.outbox.ack(envelope.message_id);
      this.host!.undeliverable(
        envelope,
        'malformed',
        `frame of ${frame.byteLength} bytes exceeds the ${this.maxFrameBytes} byte limit; not sent`,
      );
      return;
    }
    try {
      this.nc!.publish(subject, frame, { reply });
    } catch (err) {
      // Closed or draining connection: an acked frame stays in the outbox for a resend.
      if (!acked) this.host!.undeliverable(envelope, 'unknown_target', `publish failed: ${(err as Error).message}`);
    }
  }

  private resend(): void {
    if (!this.host || !this.nc || this.outbox.size === 0) return;
    const { resend, expired } = this.outbox.due();
    for (const envelope of resend) this.publishToActor(envelope, TELL, true);
    for (const envelope of expired) {
      this.host.undeliverable(
        envelope,
        'undelivered',
        `no acknowledgement from ${envelope.target_elder} within ${this.outbox.policy.giveUpMs} ms`,
      );
    }
    this.inOrder.prune(10 * 60_000);
  }

  /** The role token a sender publishes under, once per sender path (roleOf walks a table). */
  private roleFor(source: string): string {
    let role = this.roles.get(source);
    if (role === undefined) {
      const given = isNodeAddress(source) ? undefined : this.options.roleOf?.(source);
      role = given !== undefined && isSubjectToken(given) ? given : DEFAULT_ROLE;
      if (this.roles.size >= CACHE_LIMIT) this.roles.clear();
      this.roles.set(source, role);
    }
    return role;
  }

  private watchStatus(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect' || s.type === 'error') {
          this.logger.warn({ nats: s.type, server: 'server' in s ? s.server : undefined }, `NATS ${s.type}`);
        }
      }
    })().catch(() => undefined);
  }
}

/**
 * Drains (flushes what is buffered, then closes), but never waits for a broker that is
 * gone: a node told to stop must stop even while NATS is down.
 */
export async function closeConnection(nc: NatsConnection, ms = 2000): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const done = await Promise.race([nc.drain().then(() => 'drained' as const, () => 'failed' as const), late]);
  clearTimeout(timer);
  if (done !== 'drained' && !nc.isClosed()) await nc.close().catch(() => undefined);
}
