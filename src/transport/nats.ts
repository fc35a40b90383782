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
import { decodeFrame, DEFAULT_MAX_FRAME_BYTES, encodeAcks, encodeBatch, encodeEnvelope } from './codec.js';
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

const QUEUE = 'actors';
/** Bound for the per-path caches: past it they start over (a tree rarely has that many senders). */
const CACHE_LIMIT = 10_000;
// Inbox reply-subject kinds: what a no-responders status (503) on it means.
const ASK = 'a'; // an ask of ours: reject it at once
const TELL = 't'; // a tell: dead letter
const NODE = 'n'; // a frame to a node address
const BATCH = 'b'; // a frame of several envelopes: 503 bounces them all; otherwise their acks
const ENVELOPES = 'env'; // envelopes addressed to this node (ask replies)
/** Envelopes per batch frame at most: bounds a frame's size and the receiver's turn. */
const MAX_BATCH = 512;
/** How long a batch's ids are kept for a bounce (the broker answers within a round trip). */
const BOUNCE_KEEP_MS = 1000;

/** Envelopes for one subject, collected during one turn of the event loop. */
interface Pending {
  subject: string;
  /** The actor path (or node address) the subject leads to. */
  target: string;
  toNode: boolean;
  envelopes: Envelope[];
}

/** What a bounce (no responders) of a batch frame must undo: its asks and tells. */
interface SentBatch {
  target: string;
  toNode: boolean;
  ids: string[];
  asks: boolean[];
}

/**
 * DESIGN.md's NATS transport: msgpackr envelopes on `elders.<cluster>.actor.<path>`,
 * one queue-group subscription per hosted actor, and one inbox subscription per node
 * (`elders.<cluster>.node.<node>.r.>`) for ask replies, acks and no-responder statuses:
 * no per-request inboxes. Every frame carries a reply subject naming its id and target,
 * so the broker's no-responders status turns a message to an actor nobody hosts into
 * a dead letter (or an immediate ask error) without a round trip of our own.
 *
 * Envelopes sent during one turn of the event loop to the same subject leave as one
 * frame (a msgpack array, in send order): the broker and both clients then pay their
 * per-message cost once per batch, not once per envelope. A lone envelope is sent as a
 * plain frame, so a single ask pays nothing for this. Acks go back the same way: the
 * ids settled in one turn for one reply subject, in one frame.
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
  /** Outbound envelopes of this turn by subject, and acks by reply subject. */
  private pending = new Map<string, Pending>();
  private acks = new Map<string, string[]>();
  private flushQueued = false;
  private batchNo = 0;
  /** Batches sent in this and the previous BOUNCE_KEEP_MS, by number. */
  private sentBatches = new Map<number, SentBatch>();
  private olderBatches = new Map<number, SentBatch>();
  private batchesSince = 0;
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

  /** Whether an acked envelope this transport sent still waits for its acknowledgement. */
  unacknowledged(messageId: string): boolean {
    return this.outbox.has(messageId);
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
    if (envelope.requires_ack && !toNode) this.outbox.add(envelope);
    this.enqueue(envelope, toNode);
  }

  /** Adds an envelope to this turn's frame for its subject. */
  private enqueue(envelope: Envelope, toNode: boolean): void {
    const target = envelope.target_elder;
    const subject = toNode
      ? this.subjects.inbox(target.slice(1)) + '.' + ENVELOPES
      : `${this.actorPrefix}${this.roleFor(envelope.source_elder)}${this.dotted(target)}`;
    let batch = this.pending.get(subject);
    if (!batch) this.pending.set(subject, (batch = { subject, target, toNode, envelopes: [] }));
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
      for (const [to, ids] of acks) this.nc?.publish(to, encodeAcks(ids));
    }
  };

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
    this.queueAck(ackTo, envelope.message_id);
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

  private onFrame(msg: Msg, path: string): void {
    const host = this.host;
    if (!host) return;
    const decoded = decodeFrame(msg.data, this.maxFrameBytes);
    if (!decoded.ok) return host.malformed(`on ${msg.subject}: ${decoded.reason}`);
    // The role token the broker let this publisher use: trusted over the envelope.
    const at = this.subjects.actorPrefixLength;
    const role = msg.subject.slice(at, msg.subject.indexOf('.', at));
    const value = decoded.value;
    if (!Array.isArray(value)) return this.onEnvelope(value as Record<string, unknown> | null, msg, path, role);
    if (!isBatch(value)) return host.malformed(`on ${msg.subject}: ${BATCH_REASON}`);
    for (const item of value) this.onEnvelope(item, msg, path, role);
  }

  private onEnvelope(value: Record<string, unknown> | null, msg: Msg, path: string, role: string): void {
    const host = this.host!;
    if (value !== null && typeof value === 'object' && typeof value.target_elder === 'string' && value.target_elder !== path) {
      // Routing follows the subject the broker checked, never a field the sender wrote.
      return host.malformed(`on ${msg.subject}: target_elder ${value.target_elder} is not ${path}`, value);
    }
    if (value === null || typeof value !== 'object' || value.requires_ack !== true || !msg.reply) {
      return host.receive(value, role);
    }
    const checked = validateEnvelope(value);
    if (!checked.ok) return host.malformed(`on ${msg.subject}: ${checked.reason}`, value);
    const arrival = this.inOrder.arrive(checked.envelope, msg.reply);
    if (arrival.kind === 'duplicate') {
      // Still in the mailbox: its ack comes when it is processed. Settled: our ack was lost.
      if (!this.awaitingAck.has(checked.envelope.message_id)) this.queueAck(msg.reply, checked.envelope.message_id);
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
      const value = decoded.value;
      if (!Array.isArray(value)) return this.onReply(value as Record<string, unknown> | null, msg.subject);
      if (!isBatch(value)) return host.malformed(`on ${msg.subject}: ${BATCH_REASON}`);
      for (const item of value) this.onReply(item, msg.subject);
      return;
    }
    const [kind, id, ...target] = rest.split('.');
    if (!id) return;
    if (kind === BATCH) return this.onBatchAnswer(msg, Number(id));
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

  private onReply(value: Record<string, unknown> | null, subject: string): void {
    const host = this.host!;
    // Only replies to this node belong in its inbox: never a way around actor subjects.
    const self = this.address;
    if (value === null || typeof value !== 'object' || value.target_elder !== self) {
      return host.malformed(`on ${subject}: only replies addressed to ${self} are accepted here`);
    }
    if (value.message_type !== REPLY_TYPE && value.message_type !== ERROR_REPLY_TYPE) {
      return host.malformed(`on ${subject}: ${String(value.message_type)} is not a reply`);
    }
    host.receive(value);
  }

  /** A batch frame's answer: the acks of some of its envelopes, or its bounce. */
  private onBatchAnswer(msg: Msg, no: number): void {
    if (msg.headers?.code !== 503) {
      const decoded = decodeFrame(msg.data, this.maxFrameBytes);
      if (!decoded.ok || !Array.isArray(decoded.value)) return;
      for (const id of decoded.value) if (typeof id === 'string') this.outbox.ack(id);
      return;
    }
    const batch = this.sentBatches.get(no) ?? this.olderBatches.get(no);
    if (!batch) return;
    this.sentBatches.delete(no);
    this.olderBatches.delete(no);
    const why = batch.toNode ? `node ${batch.target.slice(1)} is not reachable` : `no node hosts ${batch.target}`;
    for (let i = 0; i < batch.ids.length; i++) {
      const id = batch.ids[i]!;
      // An acked message stays in the outbox: a standby may take the actor over.
      if (this.outbox.has(id)) continue;
      this.host!.undeliverable(this.lost(id, batch.target, batch.asks[i]!), 'unknown_target', why);
    }
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

  private publishBatch(batch: Pending): void {
    const { envelopes } = batch;
    if (envelopes.length === 1) return this.publishOne(batch, envelopes[0]!);
    const frame = encodeBatch(envelopes);
    if (frame.byteLength > this.maxFrameBytes) {
      // Too big together: halves, down to single envelopes (which say which one is too big).
      const half = envelopes.length >> 1;
      this.publishBatch({ ...batch, envelopes: envelopes.slice(0, half) });
      this.publishBatch({ ...batch, envelopes: envelopes.slice(half) });
      return;
    }
    const no = ++this.batchNo;
    try {
      this.nc!.publish(batch.subject, frame, { reply: `${this.inboxPrefix}${BATCH}.${no}` });
    } catch (err) {
      for (const envelope of envelopes) {
        if (!(envelope.requires_ack && !batch.toNode)) {
          this.host?.undeliverable(envelope, 'unknown_target', `publish failed: ${(err as Error).message}`);
        }
      }
      return;
    }
    this.keepForBounce(no, batch);
  }

  private keepForBounce(no: number, batch: Pending): void {
    const now = performance.now();
    if (now - this.batchesSince > BOUNCE_KEEP_MS) {
      this.olderBatches = this.sentBatches;
      this.sentBatches = new Map();
      this.batchesSince = now;
    }
    const ids = new Array<string>(batch.envelopes.length);
    const asks = new Array<boolean>(batch.envelopes.length);
    for (let i = 0; i < ids.length; i++) {
      const envelope = batch.envelopes[i]!;
      ids[i] = envelope.message_id;
      asks[i] = envelope.reply_to === this.address;
    }
    this.sentBatches.set(no, { target: batch.target, toNode: batch.toNode, ids, asks });
  }

  /** A lone envelope: a plain frame whose reply subject names its id and target. */
  private publishOne(batch: Pending, envelope: Envelope): void {
    if (batch.toNode) {
      const node = batch.target.slice(1);
      this.publish(envelope, batch.subject, `${this.inboxPrefix}${NODE}.${envelope.message_id}.${node}`, false);
      return;
    }
    const kind = envelope.reply_to === this.address ? ASK : TELL;
    this.publish(envelope, batch.subject, `${this.inboxPrefix}${kind}.${envelope.message_id}${this.dotted(batch.target)}`, envelope.requires_ack);
  }

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
    for (const envelope of resend) this.enqueue(envelope, false);
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

const BATCH_REASON = 'a batch frame must be a non-empty array of envelopes (maps)';

/** A frame that is an array: a batch only if every item is a map (else one bad frame). */
function isBatch(value: unknown[]): value is (Record<string, unknown> | null)[] {
  if (value.length === 0) return false;
  for (const item of value) if (item === null || typeof item !== 'object' || Array.isArray(item)) return false;
  return true;
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
