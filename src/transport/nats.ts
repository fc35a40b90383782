import { connect, type ConnectionOptions, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  ERROR_REPLY_TYPE,
  isNodeAddress,
  madeId,
  nextMadeNumber,
  nodeAddress,
  REPLY_TYPE,
  validateEnvelope,
  type Envelope,
} from '../actors/envelope.js';
import { isEntityTarget, parseEntityTarget, shardOf, shardPrefix, slotOf, type ShardCount } from '../actors/entity-address.js';
import type { Transport, TransportHost } from '../actors/transport.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { decodeFrame, DEFAULT_MAX_FRAME_BYTES, encodeAcks, encodeBatch, encodeEnvelope, frameItems } from './codec.js';
import { InOrder } from './in-order.js';
import { Outbox, type OutboxCounts, type RetryPolicy } from './outbox.js';
import { recordFrame, recordRoute, ReplyInbox } from './reply-inbox.js';
import { isActorPath, isSubjectToken, requestInboxPrefix, subjects, type Subjects } from './subjects.js';

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
  /**
   * Acked messages: resend backoff and give-up, and the send window per stream
   * (`window` on the wire unacknowledged, `maxWaiting` behind it; DEFAULT_RETRY).
   */
  retry?: Partial<RetryPolicy>;
  logger?: Logger;
  /**
   * The role a sender path publishes as (the subject's role token, which the broker
   * checks against this connection's user). Default: `operator` for everything.
   */
  roleOf?: (sourcePath: string) => string | undefined;
  /**
   * The role token of this connection's NATS user: the node's reply inbox lives under
   * it (elders.<cluster>.inbox.<role>.<node>), where nats.conf lets only that role
   * subscribe. Default: the connect user when it is a subject token, else `operator`.
   */
  inboxRole?: string;
  /**
   * Benchmarks only: `records` sends batch frames to actors as v0 did, with msgpackr
   * records (not standard msgpack, though every node still reads them), to price the
   * standard ones in the same run. Default `standard` (the rows form of PROTOCOL.md).
   */
  batchEncoding?: 'standard' | 'records';
  /**
   * Take frames sent to `elders.<cluster>.route.<role>.<path>` (one node of the queue
   * group `route` each) and relay them to the actor, so that a sender outside gets a
   * dead letter and an error reply for a path nobody hosts. Default: on when the
   * connection's role may publish every role token (operator, grand_elder).
   */
  routes?: boolean;
}

/** The role of senders without one of their own (tools, the node itself). */
export const DEFAULT_ROLE = 'operator';

/** The role of a connection's NATS user: `inboxRole`, else the user name when it is a token, else operator. */
export function connectionRole(options: Pick<NatsTransportOptions, 'inboxRole' | 'connectOptions'>): string {
  const given = options.inboxRole ?? options.connectOptions?.user;
  return typeof given === 'string' && isSubjectToken(given) ? given : DEFAULT_ROLE;
}

const QUEUE = 'actors';
const ROUTE_QUEUE = 'route';
/** Bound for the per-path caches: past it they start over (a tree rarely has that many senders). */
const CACHE_LIMIT = 10_000;
/** Envelopes per batch frame at most: bounds a frame's size and the receiver's turn. */
const MAX_BATCH = 512;

/** Envelopes for one subject, collected during one turn of the event loop. */
interface Pending {
  subject: string;
  /** The actor path the subject leads to, or the reply subject (replies). */
  target: string;
  /** Replies: published as they are, no reply subject of their own. */
  reply: boolean;
  envelopes: Envelope[];
}

/** `@<subject>`: the reply_to an ask gets on arrival, naming the reply subject it came with. */
function isSubjectAddress(target: string): boolean {
  return target.length > 1 && target.includes('.', 1);
}

const REPLY_SUBJECT = /^[^\s*>]+$/;

/**
 * DESIGN.md's NATS transport, wire protocol v1 (PROTOCOL.md): standard msgpack
 * envelopes on `elders.<cluster>.actor.<role>.<path>`, one queue-group subscription per
 * hosted actor, and one inbox subscription per node
 * (`elders.<cluster>.inbox.<role>.<node>.*`). Every frame carries a reply subject of its
 * own in that inbox, named by an unguessable token: its acks, the replies to its asks
 * and the broker's no-responders status come back there, and nothing else is taken
 * (an answer the frame did not invite is ignored with an audit log line). Receivers
 * answer only on the reply subject of the frame they received, which is what NATS'
 * `allow_responses` lets a user publish to; a foreign client asks with plain NATS
 * request/reply the same way.
 *
 * Envelopes sent during one turn of the event loop to the same subject leave as one
 * frame (a msgpack array of maps, in send order): the broker and both clients then pay
 * their per-message cost once per batch, not once per envelope. A lone envelope is sent
 * as a plain map, so a single ask pays nothing for this. Acks go back the same way: the
 * ids settled in one turn for one reply subject, in one frame.
 */
export class NatsTransport implements Transport {
  readonly subjects: Subjects;
  /** Acked envelopes sent again because no ack came in time (eldertree_acked_resends_total). */
  resends = 0;
  readonly queueGroup = QUEUE;
  private nc: NatsConnection | undefined;
  private host: TransportHost | undefined;
  private readonly ownsConnection: boolean;
  private readonly subs = new Map<string, Subscription>();
  private inboxPrefix = '';
  private address = '';
  /** `elders.<cluster>.inbox.`: every node's reply inbox starts so. */
  private readonly inboxRoot: string;
  private readonly roles = new Map<string, string>();
  private readonly actorSubjects = new Map<string, Map<string, string>>();
  private readonly outbox: Outbox;
  private readonly inOrder = new InOrder();
  private readonly answers: ReplyInbox;
  /** Acked envelopes handed to the node and not yet settled: id -> where to ack. */
  private readonly awaitingAck = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Outbound envelopes of this turn by subject, and acks by reply subject. */
  private pending = new Map<string, Pending>();
  private acks = new Map<string, string[]>();
  private flushQueued = false;
  private readonly maxFrameBytes: number;
  private readonly batchEncoding: 'rows' | 'records';
  private readonly logger: Logger;

  constructor(private readonly options: NatsTransportOptions) {
    this.subjects = subjects(options.cluster);
    this.inboxRoot = `elders.${this.subjects.cluster}.inbox.`;
    this.ownsConnection = options.connection === undefined;
    this.nc = options.connection;
    this.outbox = new Outbox(options.retry, (envelope) => this.release(envelope));
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.batchEncoding = options.batchEncoding === 'records' ? 'records' : 'rows';
    this.logger = options.logger ?? silentLogger();
    this.answers = new ReplyInbox({
      host: () => this.host,
      outbox: this.outbox,
      publish: (subject, data) => this.nc?.publish(subject, data),
      logger: this.logger,
      maxFrameBytes: this.maxFrameBytes,
      address: () => this.address,
    });
  }

  /** Whether an acked envelope this transport sent still waits for its acknowledgement. */
  unacknowledged(messageId: string): boolean {
    return this.outbox.has(messageId);
  }

  /** Acked envelopes on the wire and waiting behind their window (eldertree_acked_outbox). */
  get outboxCounts(): Readonly<OutboxCounts> {
    return this.outbox.stats;
  }

  get connection(): NatsConnection {
    if (!this.nc) throw new Error('the NATS transport is not started');
    return this.nc;
  }

  /** The role token this node's reply inbox lives under. */
  get inboxRole(): string {
    return connectionRole(this.options);
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
      inboxPrefix: requestInboxPrefix(connectionRole(this.options)),
      ...this.options.connectOptions,
    });
    this.watchStatus(this.nc);
    this.inboxPrefix = this.subjects.inbox(this.inboxRole, host.nodeId) + '.';
    this.address = nodeAddress(host.nodeId);
    this.subs.set('', this.nc.subscribe(this.inboxPrefix + '*', { callback: (err, msg) => {
        if (!err) this.answers.onAnswer(msg, msg.subject.slice(this.inboxPrefix.length));
      }, }));
    if (this.options.routes ?? ['operator', 'grand_elder'].includes(this.inboxRole)) {
      this.subs.set('route', this.nc.subscribe(this.subjects.routes, { queue: ROUTE_QUEUE, callback: (err, msg) => {
          if (!err) this.onRoute(msg);
        }, }));
    }
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

  registerShard(kind: string, shard: number, shards: ShardCount): void {
    const id = `#${kind}/${shard}`;
    if (!this.nc || this.subs.has(id)) return;
    // Only entities of this kind whose key falls in this shard: the subject says so, and
    // the broker checked the subject, so the target the sender wrote must agree.
    const accepts = (target: string) => {
      const address = parseEntityTarget(target);
      return typeof address === 'object' && address.kind === kind && shardOf(address.key, shards) === shard;
    };
    const sub = this.nc.subscribe(this.subjects.entityShard(kind, shardPrefix(shard, shards)), {
      queue: QUEUE,
      callback: (err, msg) => {
        if (!err) this.onFrame(msg, accepts, this.subjects.entityPrefixLength);
      },
    });
    this.subs.set(id, sub);
  }

  unregisterShard(kind: string, shard: number, shards: ShardCount): void {
    const id = `#${kind}/${shard}`;
    this.subs.get(id)?.unsubscribe();
    this.subs.delete(id);
    this.inOrder.forgetWhere((target) => {
      const address = parseEntityTarget(target);
      return typeof address === 'object' && address.kind === kind && shardOf(address.key, shards) === shard;
    });
  }

  send(envelope: Envelope): void {
    const host = this.host;
    const nc = this.nc;
    if (!host || !nc || nc.isClosed()) {
      host?.undeliverable(envelope, 'unknown_target', `the NATS connection is closed; cannot reach ${envelope.target_elder}`);
      return;
    }
    const target = envelope.target_elder;
    if (isNodeAddress(target)) {
      // Replies travel only on the reply subject their ask came with (`@<subject>`).
      const type = envelope.message_type;
      if (!isSubjectAddress(target) || !REPLY_SUBJECT.test(target) || (type !== REPLY_TYPE && type !== ERROR_REPLY_TYPE)) {
        host.undeliverable(envelope, 'unknown_target', `${target} is not reachable: other nodes get only replies, on the reply subject of their ask`);
        return;
      }
      this.enqueue(envelope, target.slice(1), true);
      return;
    }
    const subject = this.subjectOf(envelope);
    if (subject === undefined) {
      host.undeliverable(envelope, 'unknown_target', `${target} is not a valid actor path, entity address or node address`);
      return;
    }
    if (envelope.requires_ack) {
      const taken = this.outbox.add(envelope);
      if (taken === 'wait') return; // goes out when an ack frees a slot of its stream
      if (taken === 'overflow') {
        const { window, maxWaiting } = this.outbox.policy;
        host.undeliverable(envelope, 'overflow', `send window to ${target} full: ${window} acked messages unacknowledged and ${maxWaiting} waiting (retry.window, retry.maxWaiting)`);
        return;
      }
    }
    this.enqueue(envelope, subject, false);
  }

  /** A waiting acked envelope whose turn came: on the wire, behind what this turn sent. */
  private release(envelope: Envelope): void {
    const subject = this.subjectOf(envelope);
    if (subject !== undefined) this.enqueue(envelope, subject, false);
  }

  /** The subject of an envelope to an actor path or an entity (kind/key); undefined for neither. */
  private subjectOf(envelope: Envelope): string | undefined {
    const target = envelope.target_elder;
    if (isActorPath(target)) return this.actorSubject(target, this.roleFor(envelope.source_elder));
    if (!isEntityTarget(target)) return undefined;
    const address = parseEntityTarget(target);
    if (typeof address === 'string') return undefined;
    return this.subjects.entity(address.kind, slotOf(address.key), this.roleFor(envelope.source_elder));
  }

  /** Adds an envelope to this turn's frame for its subject. */
  private enqueue(envelope: Envelope, subject: string, reply: boolean): void {
    let batch = this.pending.get(subject);
    if (!batch) this.pending.set(subject, (batch = { subject, target: reply ? subject : envelope.target_elder, reply, envelopes: [] }));
    batch.envelopes.push(envelope);
    if (batch.envelopes.length >= MAX_BATCH) {
      this.pending.delete(subject);
      this.publishBatch(batch);
    }
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushNow);
  }

  /** Sends this turn's frames and acks (a microtask: after the current turn's sends). */
  private readonly flushNow = (): void => {
    this.flushQueued = false;
    if (this.pending.size > 0) {
      const batches = this.pending;
      this.pending = new Map();
      for (const batch of batches.values()) this.publishBatch(batch);
    }
    if (this.acks.size > 0) {
      const acks = this.acks;
      this.acks = new Map();
      for (const [to, ids] of acks) {
        try {
          this.nc?.publish(to, encodeAcks(ids));
        } catch {
          // Closed connection: the sender resends, and we ack the duplicate.
        }
      }
    }
  };

  /**
   * The subject of a path for a role, made once: a subject built per message is a new
   * string to allocate, flatten and hash in the batch map, for every message sent.
   */
  private actorSubject(path: string, role: string): string {
    let byRole = this.actorSubjects.get(path);
    if (byRole === undefined) {
      if (this.actorSubjects.size >= CACHE_LIMIT) this.actorSubjects.clear();
      this.actorSubjects.set(path, (byRole = new Map()));
    }
    let subject = byRole.get(role);
    if (subject === undefined) byRole.set(role, (subject = this.subjects.actor(path, role)));
    return subject;
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
    this.queueAck(ackTo, envelope.message_id);
  }

  refused(envelope: Envelope): boolean {
    if (!this.awaitingAck.delete(envelope.message_id)) return false;
    // Unacknowledged: the sender resends it (backing off), and the resend is taken as new.
    this.inOrder.rewind(envelope);
    return true;
  }

  private queueAck(to: string, id: string): void {
    const ids = this.acks.get(to);
    if (ids) ids.push(id);
    else this.acks.set(to, [id]);
    this.queueFlush();
  }

  async flush(): Promise<void> {
    this.flushNow();
    if (this.nc && !this.nc.isClosed()) await this.nc.flush();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.flushNow();
    for (const envelope of this.outbox.drain()) {
      this.host?.undeliverable(envelope, 'undelivered', `node stopped before ${envelope.target_elder} acknowledged it`);
    }
    for (const sub of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
    if (this.nc && this.ownsConnection) await closeConnection(this.nc);
    this.host = undefined;
  }

  // ---- inbound --------------------------------------------------------------------

  /** A frame on an actor subject (`accepts` is its path) or a shard subject (`accepts` checks the entity). */
  private onFrame(msg: Msg, accepts: string | ((target: string) => boolean), at = this.subjects.actorPrefixLength): void {
    const host = this.host;
    if (!host) return;
    const path = accepts;
    const decoded = decodeFrame(msg.data, this.maxFrameBytes);
    if (!decoded.ok) return this.refuse(msg, `on ${msg.subject}: ${decoded.reason}`);
    // The role token the broker let this publisher use: trusted over the envelope.
    const role = msg.subject.slice(at, msg.subject.indexOf('.', at));
    const frame = frameItems(decoded.value);
    if (!frame.ok) return this.refuse(msg, `on ${msg.subject}: ${frame.reason}`);
    for (const item of frame.items) this.onEnvelope(item as Record<string, unknown> | null, msg, path, role);
  }

  /**
   * A frame that is not even one envelope: a dead letter, and an error reply on its
   * reply subject when it came from outside (a foreign asker learns at once). A node's
   * own inbox would only ignore it.
   */
  private refuse(msg: Msg, detail: string): void {
    this.host!.malformed(detail);
    // A node's own inbox would only ignore it.
    if (!this.answerable(msg.reply) || msg.reply.startsWith(this.inboxRoot)) return;
    const error: Envelope = {
      message_id: madeId(nextMadeNumber()), // unique per sender, as every id this node makes
      source_elder: this.address,
      target_elder: '@' + msg.reply,
      message_type: ERROR_REPLY_TYPE,
      payload: { reason: 'malformed', message: `malformed frame rejected: ${detail}` },
      priority: 9,
      timestamp: Date.now(),
      requires_ack: false,
      seq: 0,
    };
    this.enqueue(error, msg.reply, true);
  }

  /**
   * Reply subjects this node answers (acks, replies, errors): request inboxes and node
   * inboxes only. Anything else could make it publish, with its own rights, into an
   * actor's mailbox or the JetStream API on a sender's behalf.
   */
  private answerable(reply: string | undefined): reply is string {
    return reply !== undefined && reply !== '' && (reply.startsWith('_INBOX') || reply.startsWith(this.inboxRoot));
  }

  private onEnvelope(value: Record<string, unknown> | null, msg: Msg, path: string | ((target: string) => boolean), role: string): void {
    const host = this.host!;
    const reply = this.answerable(msg.reply) ? msg.reply : undefined;
    if (value !== null && typeof value === 'object') {
      // Decoded here, so ours: the payload becomes the XState event by taking its type,
      // instead of a copy of it per message when it is delivered (as checkEvent does).
      const payload = value.payload as Record<string, unknown> | null | undefined;
      if (payload !== null && typeof payload === 'object' && !Array.isArray(payload) && payload.type === undefined && typeof value.message_type === 'string') {
        payload.type = value.message_type;
      }
      if (typeof value.correlation_id === 'string') {
        // An ask: its reply goes back on the reply subject it came with, and nowhere
        // else, whatever reply_to says (a node's inbox, someone else's request).
        if (reply) value.reply_to = '@' + reply;
        else delete value.reply_to;
      }
      if (typeof value.target_elder === 'string' && (typeof path === 'string' ? value.target_elder !== path : !path(value.target_elder))) {
        // Routing follows the subject the broker checked, never a field the sender wrote.
        const expected = typeof path === 'string' ? path : 'an entity of this shard';
        return host.malformed(`on ${msg.subject}: target_elder ${value.target_elder} is not ${expected}`, value);
      }
    }
    if (value === null || typeof value !== 'object' || value.requires_ack !== true || !reply) {
      return host.receive(value, role);
    }
    const checked = validateEnvelope(value);
    if (!checked.ok) return host.malformed(`on ${msg.subject}: ${checked.reason}`, value);
    const arrival = this.inOrder.arrive(checked.envelope, reply);
    if (arrival.kind === 'duplicate') {
      // Still in the mailbox: its ack comes when it is processed. Settled: our ack was lost.
      if (!this.awaitingAck.has(checked.envelope.message_id)) this.queueAck(reply, checked.envelope.message_id);
      return;
    }
    if (arrival.kind === 'held') return;
    for (const { envelope, ackTo } of arrival.frames) {
      this.awaitingAck.set(envelope.message_id, ackTo);
      host.receive(envelope, role);
    }
  }

  /**
   * A frame on a route subject: passed on unchanged to the actor subject under the same
   * role token, with a reply subject of ours. Answers are relayed back to the sender's
   * reply subject; a bounce (nobody hosts the path) becomes a dead letter here and an
   * error reply to each ask, as for this node's own frames.
   */
  private onRoute(msg: Msg): void {
    if (!this.host || !this.nc) return;
    const at = this.subjects.routePrefixLength;
    const dot = msg.subject.indexOf('.', at);
    const role = msg.subject.slice(at, dot);
    const path = '/' + msg.subject.slice(dot + 1).replaceAll('.', '/');
    if (!isActorPath(path) || !isSubjectToken(role)) return this.refuse(msg, `on ${msg.subject}: not a route to an actor path`);
    const relayTo = this.answerable(msg.reply) ? msg.reply : undefined;
    const decoded = decodeFrame(msg.data, this.maxFrameBytes);
    if (!decoded.ok) return this.refuse(msg, `on ${msg.subject}: ${decoded.reason}`);
    // Refused here as the actor's node would refuse it: the same error reply, one hop sooner.
    const frame = frameItems(decoded.value);
    if (!frame.ok) return this.refuse(msg, `on ${msg.subject}: ${frame.reason}`);
    const items = frame.items;
    const token = this.answers.sent.token();
    try {
      this.nc.publish(this.actorSubject(path, role), msg.data, { reply: this.inboxPrefix + token });
    } catch {
      return; // closed connection: the sender hears nothing, as if the frame were lost
    }
    this.answers.sent.add(token, recordRoute(path, items, relayTo));
  }

  // ---- outbound -------------------------------------------------------------------

  private publishBatch(batch: Pending): void {
    const { envelopes } = batch;
    // Replies go out as an array of maps: the simplest batch for a foreign asker to read.
    const frame = envelopes.length === 1 ? encodeEnvelope(envelopes[0]!) : encodeBatch(envelopes, batch.reply ? 'maps' : this.batchEncoding);
    if (frame.byteLength > this.maxFrameBytes) {
      if (envelopes.length > 1) {
        // Too big together: halves, down to single envelopes (which say which one is too big).
        const half = envelopes.length >> 1;
        this.publishBatch({ ...batch, envelopes: envelopes.slice(0, half) });
        this.publishBatch({ ...batch, envelopes: envelopes.slice(half) });
        return;
      }
      const envelope = envelopes[0]!;
      if (envelope.requires_ack && !batch.reply) this.outbox.ack(envelope.message_id);
      const detail = `frame of ${frame.byteLength} bytes exceeds the ${this.maxFrameBytes} byte limit; not sent`;
      this.host!.undeliverable(envelope, 'malformed', detail);
      return;
    }
    if (batch.reply) {
      try {
        this.nc!.publish(batch.subject, frame);
      } catch {
        // Closed connection: the asker times out, as it would had the reply been lost.
      }
      return;
    }
    const token = this.answers.sent.token();
    try {
      this.nc!.publish(batch.subject, frame, { reply: this.inboxPrefix + token });
    } catch (err) {
      // Closed or draining connection: acked frames stay in the outbox for a resend.
      for (const envelope of envelopes) {
        if (!envelope.requires_ack) this.host?.undeliverable(envelope, 'unknown_target', `publish failed: ${(err as Error).message}`);
      }
      return;
    }
    this.answers.sent.add(token, recordFrame(batch.target, envelopes));
  }

  private resend(): void {
    if (!this.host || !this.nc) return;
    this.answers.sent.sweep((id) => this.outbox.has(id));
    if (this.outbox.size === 0) return;
    const { resend, expired } = this.outbox.due();
    this.resends += resend.length;
    for (const envelope of resend) {
      const subject = this.subjectOf(envelope);
      if (subject !== undefined) this.enqueue(envelope, subject, false);
    }
    for (const envelope of expired) {
      this.host.undeliverable(
        envelope,
        'undelivered',
        `no acknowledgement from ${envelope.target_elder} within ${this.outbox.policy.giveUpMs} ms (on the wire, or waiting behind the send window)`,
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
