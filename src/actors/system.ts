import type { Logger } from '../log.js';
import { rateLimited, silentLogger } from '../log.js';
import { ActorCell, type Behavior } from './cell.js';
import { Dispatcher } from './dispatcher.js';
import {
  createStreamId,
  DEFAULT_PRIORITY,
  EMPTY_PAYLOAD,
  ERROR_REPLY_TYPE,
  isNodeAddress,
  MadeEnvelope,
  wireEnvelope,
  madeId,
  nextMadeNumber,
  MAX_PRIORITY,
  MIN_PRIORITY,
  nodeAddress,
  REPLY_TYPE,
  validateEnvelope,
  type Envelope,
} from './envelope.js';
import { AskRejectedError, AskTimeoutError, EldertreeError } from './errors.js';
import type {
  DeadLetterReason,
  LifecycleEvent,
  LifecycleType,
  Subscription,
  SystemEvent,
  SystemEventListener,
} from './events.js';
import type { MessageObserver } from './observer.js';
import type { Transport, TransportHost } from './transport.js';

import { isEntityTarget, parseEntityTarget } from './entity-address.js';
import { checkEvent, type Payload } from './kind.js';
import type { StandardSchemaV1 } from '@standard-schema/spec';

export type { Payload };

export interface TellOptions {
  /** Sender path; defaults to this node's address (a tell from outside the tree). */
  from?: string;
  /** 0..9, default 5; 9 is taken first. */
  priority?: number;
  /** Retried until acknowledged and deduplicated at the receiver. */
  requiresAck?: boolean;
}

export interface AskOptions extends TellOptions {
  /** ms; default the system's askTimeout (5000). */
  timeout?: number;
}

export interface SystemOptions {
  nodeId?: string;
  logger?: Logger;
  /** Where envelopes for paths not hosted here go. Without one, they are dead letters. */
  transport?: Transport;
  /** Messages an actor processes per turn before the next actor gets the thread. */
  throughput?: number;
  askTimeout?: number;
  /**
   * Permission check before delivery: a string is the refusal, undefined lets it in.
   * `role` is the sender's verified role for messages from the wire; for local ones the
   * check derives it from the sender's path.
   */
  authorize?: (envelope: Envelope, role?: string) => string | undefined;
  /**
   * Named services machines reach through runtimeOf(system).service(name): task locks,
   * snapshot stores... The layers above decide what they are (KV on NATS, memory alone).
   */
  services?: Record<string, unknown>;
}

/** Where envelopes to the entities of one kind go on this node (its region). */
export interface EntityRouter {
  /** The kind's schemas, for messages from the wire. */
  readonly schemas: Readonly<Record<string, StandardSchemaV1>> | undefined;
  /** Takes an envelope for entity `key`: processes it here, or sends it to the owner of its shard. */
  route(envelope: Envelope, key: string, role: string | undefined): void;
}

interface PendingAsk {
  resolve(value: Payload): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const EMPTY = EMPTY_PAYLOAD as Payload;
const ACKED = '\u0001';

/**
 * One node's actors: the registry of cells by path, routing (local cells first, the
 * transport for the rest), ask/reply, dead letters and the lifecycle event stream.
 * It knows nothing of supervision policy and nothing of NATS.
 */
export class ActorSystem implements TransportHost {
  readonly nodeId: string;
  /** This node's reply address. */
  readonly address: string;
  readonly logger: Logger;
  readonly dispatcher: Dispatcher;
  /** refused: acked envelopes from the wire turned away by a full mailbox, left to their sender's resend. */
  readonly counters = { sent: 0, deadLetters: 0, duplicates: 0, refused: 0 };
  /** This run's stream name for acked messages: a restart is a new stream, never a resend. */
  readonly stream = createStreamId();
  private readonly transport: Transport | undefined;
  private readonly authorize: SystemOptions['authorize'];
  private readonly askTimeout: number;
  readonly services: Record<string, unknown>;
  /**
   * Set while someone watches (the inspector): called after each processed message
   * with the snapshot it led to. Undefined otherwise, so nobody pays for it.
   */
  trace: ((cell: ActorCell, envelope: Envelope, snapshot: unknown) => void) | undefined;
  /** Metrics and tracing (src/telemetry) while on; undefined costs one check per hook. */
  observer: MessageObserver | undefined;
  private readonly cells = new Map<string, ActorCell>();
  /** Cells whose kind has schemas: while none, messages from the wire skip the schema lookup. */
  private schemaCells = 0;
  /** Entity regions on this node, by kind name. */
  readonly regions = new Map<string, EntityRouter>();
  private readonly pending = new Map<string, PendingAsk>();
  private readonly listeners = new Set<SystemEventListener>();
  private readonly gates: { prefix: string; check: () => boolean; onFenced: () => void }[] = [];
  /** Seq per sender and target for senders that are not actors of this node. */
  private readonly outsideSeqs = new Map<string, Map<string, number>>();

  constructor(options: SystemOptions = {}) {
    this.nodeId = options.nodeId ?? `node-${process.pid}`;
    this.address = nodeAddress(this.nodeId);
    this.logger = options.logger ?? silentLogger();
    this.dispatcher = new Dispatcher(options.throughput);
    this.transport = options.transport;
    this.authorize = options.authorize;
    this.askTimeout = options.askTimeout ?? 5000;
    this.services = { ...options.services };
    this.trace = undefined;
    this.observer = undefined;
  }

  async start(): Promise<void> {
    await this.transport?.start(this);
  }

  /** Waits until what the transport registered is live (a node is started only then). */
  async flush(): Promise<void> {
    await this.transport?.flush?.();
  }

  async stop(): Promise<void> {
    for (const [id, ask] of this.pending) {
      clearTimeout(ask.timer);
      ask.reject(new EldertreeError(`node ${this.nodeId} stopped before a reply came`));
      this.pending.delete(id);
    }
    await this.transport?.stop();
  }

  // ---- cells -------------------------------------------------------------------

  /**
   * A cell at `path`. `reachable`: other nodes may route to it by path (an entity is
   * reached through its shard instead: one subscription per shard, not per entity).
   */
  createCell(path: string, behavior: Behavior, kind: 'worker' | 'supervisor' = 'worker', reachable = true): ActorCell {
    if (this.cells.has(path)) throw new EldertreeError(`an actor already lives at ${path}`);
    const cell = new ActorCell(this, path, behavior, kind);
    for (const gate of this.gates) if (under(path, gate.prefix)) cell.gate = gate.check;
    this.cells.set(path, cell);
    if (behavior.schemas !== undefined) this.schemaCells++;
    if (reachable) this.transport?.register(path);
    return cell;
  }

  removeCell(cell: ActorCell): void {
    if (this.cells.get(cell.path) !== cell) return;
    // Unsubscribe first, so mail forwarded from the mailbox cannot come back here.
    this.cells.delete(cell.path);
    if (cell.behavior.schemas !== undefined) this.schemaCells--;
    this.transport?.unregister(cell.path);
    cell.close();
  }

  /** Mail left when a cell is stopped for good: on to another host, or a dead letter. */
  orphaned(cell: ActorCell, envelope: Envelope): void {
    if (cell.reroute?.(envelope)) return;
    if (this.cells.get(cell.path) !== cell && this.transport?.forward?.(envelope)) return;
    this.undeliverable(envelope, 'stopped', `${cell.path} was stopped before processing it`);
  }

  /**
   * Cells under `prefix` (the path or below) process a message only while `check()`
   * holds; when it fails, `onFenced` is told once per failure and the mail waits.
   */
  fence(prefix: string, check: () => boolean, onFenced: () => void): () => void {
    const gate = { prefix, check, onFenced };
    this.gates.push(gate);
    for (const cell of this.cells.values()) if (under(cell.path, prefix)) cell.gate = check;
    return () => {
      this.gates.splice(this.gates.indexOf(gate), 1);
      for (const cell of this.cells.values()) if (cell.gate === check) cell.gate = undefined;
    };
  }

  fenced(cell: ActorCell): void {
    const gate = this.gates.find((g) => g.check === cell.gate);
    rateLimited(this.logger).warn(`fenced ${cell.path}`, { path: cell.path }, `${cell.path} is fenced off: its lease is no longer valid here`);
    gate?.onFenced();
  }

  cell(path: string): ActorCell | undefined {
    return this.cells.get(path);
  }

  get paths(): IterableIterator<string> {
    return this.cells.keys();
  }

  // ---- sending -------------------------------------------------------------------

  /** Sends and returns the message id. Never throws for a bad target: dead letter. */
  tell(target: string, type: string, payload: Payload = EMPTY, options?: TellOptions): string {
    const from = options?.from;
    return this.tellFrom(from === undefined ? undefined : this.cells.get(from), from ?? this.address, target, type, payload, options);
  }

  /** tell() from a known cell: the hot path of actor-to-actor messages, no option copying. */
  tellFrom(
    cell: ActorCell | undefined,
    from: string,
    target: string,
    type: string,
    payload: Payload = EMPTY,
    options?: Omit<TellOptions, 'from'>,
  ): string {
    // The hot path: a plain tell to an actor of this node, with nobody timing messages,
    // waits in the mailbox as fields (no envelope object; see Mailbox) and is made into an
    // envelope only if something asks for one.
    if ((options === undefined || (options.requiresAck !== true && options.priority === undefined)) && this.observer === undefined && this.authorize === undefined) {
      const local = this.cells.get(target);
      if (local !== undefined && !isReservedType(type)) {
        const seq = nextSeq(this.seqsFor(from, cell), target);
        this.counters.sent++;
        const n = nextMadeNumber();
        local.enqueueLocal(type, payload, from, seq, n, DEFAULT_PRIORITY);
        return madeId(n);
      }
    }
    const envelope = this.envelope(
      from,
      this.seqsFor(from, cell),
      target,
      type,
      payload,
      options?.priority ?? DEFAULT_PRIORITY,
      options?.requiresAck ?? false,
    );
    if (this.observer !== undefined) this.observer.sent(envelope);
    this.route(envelope);
    return envelope.message_id;
  }

  /** Sends and waits for the reply payload; rejects with a clear error on timeout. */
  ask<T extends Payload = Payload>(
    target: string,
    type: string,
    payload: Payload = EMPTY,
    options?: AskOptions,
  ): Promise<T> {
    const timeout = options?.timeout ?? this.askTimeout;
    const from = options?.from ?? this.address;
    const envelope = this.envelope(
      from,
      this.seqsFor(from, this.cells.get(from)),
      target,
      type,
      payload,
      options?.priority ?? DEFAULT_PRIORITY,
      options?.requiresAck ?? false,
    );
    envelope.reply_to = this.address;
    // Kept as a string (the getter would make a new one per read): the pending map keys on it.
    envelope.message_id = envelope.correlation_id = envelope.message_id;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(envelope.message_id)) return;
        if (this.observer !== undefined) this.observer.askEnded(envelope.message_id, 'timeout');
        this.deadLetter('ask_timeout', envelope, `no reply from ${target} to ${type} within ${timeout} ms`);
        reject(new AskTimeoutError(target, type, timeout));
      }, timeout);
      this.pending.set(envelope.message_id, { resolve: resolve as (v: Payload) => void, reject, timer });
      if (this.observer !== undefined) this.observer.askStarted(envelope);
      this.route(envelope);
    });
  }

  /** Answers the ask that `request` carried. */
  reply(from: ActorCell | undefined, request: Envelope | undefined, payload: Payload): void {
    if (!request?.reply_to || !request.correlation_id) {
      const detail = request
        ? `${request.message_type} from ${request.source_elder} was a tell, not an ask: nobody to reply to`
        : 'reply() outside of message processing: nobody to reply to';
      this.deadLetter('no_reply_target', request, detail);
      return;
    }
    if (from === undefined) return this.sendReply(this.address, request, REPLY_TYPE, payload);
    // A persistent actor answers once the state it answers from is saved.
    from.answer(() => this.sendReply(from.path, request, REPLY_TYPE, payload));
  }

  /**
   * An acked envelope sent on to another target (a forward) takes the next position in
   * this node's own stream for (sender, new target). Kept as it was, its seq would count
   * in the sender's stream to the new target too, where a receiver could take it for a
   * message it has already processed.
   */
  resequence(envelope: Envelope): void {
    const seqs = this.seqsFor(envelope.source_elder, this.cells.get(envelope.source_elder));
    envelope.seq = nextSeq(seqs, ACKED + envelope.target_elder);
    envelope.stream = this.stream;
    delete envelope.ack_base;
  }

  /** A sender's next-seq counters: its cell's, or, for a sender outside this node's tree, kept here. */
  private seqsFor(sender: string, cell: ActorCell | undefined): Map<string, number> {
    return cell?.seqs ?? this.seqsOf(sender);
  }

  private seqsOf(sender: string): Map<string, number> {
    let seqs = this.outsideSeqs.get(sender);
    if (!seqs) this.outsideSeqs.set(sender, (seqs = new Map()));
    return seqs;
  }

  private sendReply(from: string, request: Envelope, type: string, payload: Payload): void {
    const envelope = this.envelope(from, this.seqsOf(from), request.reply_to!, type, payload, MAX_PRIORITY, false);
    envelope.correlation_id = request.correlation_id;
    if (this.observer !== undefined) this.observer.sent(envelope);
    this.route(envelope);
  }

  envelope(
    source: string,
    seqs: Map<string, number>,
    target: string,
    type: string,
    payload: Payload,
    priority: number,
    requiresAck: boolean,
  ): Envelope {
    // Acked messages are retried and reordered by seq on the wire: they count apart, so a
    // lost plain tell never leaves a gap that an acked stream would wait for.
    const seq = nextSeq(seqs, requiresAck ? ACKED + target : target);
    this.counters.sent++;
    const envelope: Envelope = new MadeEnvelope(
      source,
      target,
      type,
      payload,
      priority >= MIN_PRIORITY && priority <= MAX_PRIORITY ? priority | 0 : clampPriority(priority),
      requiresAck,
      seq,
    );
    if (requiresAck) {
      envelope.stream = this.stream;
      // Kept as a string: the outbox and the dedup memory key on it, read after read.
      envelope.message_id = envelope.message_id;
    }
    return envelope;
  }

  /** Local cells first, then the transport; every failure is a dead letter. */
  route(envelope: Envelope, role?: string): void {
    const target = envelope.target_elder;
    if (isNodeAddress(target)) {
      if (target === this.address) this.settle(envelope);
      else if (this.transport) this.transport.send(envelope);
      else this.deadLetter('unknown_target', envelope, `no route to node ${target.slice(1)}`);
      return;
    }
    const cell = this.cells.get(target);
    if (cell === undefined) {
      if (isEntityTarget(target)) this.routeEntity(envelope, role);
      else if (this.transport) this.transport.send(envelope);
      else this.undeliverable(envelope, 'unknown_target', `no actor at ${target}`);
      return;
    }
    this.deliverTo(cell, envelope, role);
  }

  /** The checks every delivery to a local cell passes (reserved types, permissions), then its mailbox. */
  deliverTo(cell: ActorCell, envelope: Envelope, role?: string): void {
    const type = envelope.message_type;
    if (isReservedType(type)) {
      this.undeliverable(envelope, 'forbidden', `${type} is a reserved event type; actors cannot be sent it`);
      return;
    }
    if (this.authorize !== undefined) {
      const refusal = this.authorize(envelope, role);
      if (refusal !== undefined) {
        this.logger.warn({ audit: true, envelope: summary(envelope), role, refusal }, 'message refused');
        this.undeliverable(envelope, 'forbidden', refusal);
        return;
      }
    }
    cell.enqueue(envelope);
  }

  /**
   * Sends an envelope on to whichever node the transport finds for it (an entity owned
   * elsewhere). One that came from the wire unacknowledged is left to its sender's resend.
   */
  sendOn(envelope: Envelope): void {
    if (this.transport?.forward?.(envelope)) return;
    if (this.transport) this.transport.send(envelope);
    else this.undeliverable(envelope, 'unknown_target', `no route to ${envelope.target_elder}`);
  }

  private routeEntity(envelope: Envelope, role: string | undefined): void {
    const address = parseEntityTarget(envelope.target_elder);
    if (typeof address === 'string') return this.undeliverable(envelope, 'unknown_target', address);
    const region = this.regions.get(address.kind);
    if (region !== undefined) region.route(envelope, address.key, role);
    else if (this.transport) this.transport.send(envelope);
    else this.undeliverable(envelope, 'unknown_target', `no region of entity kind ${address.kind} on node ${this.nodeId}`);
  }

  private settle(envelope: Envelope): void {
    const id = envelope.correlation_id;
    const ask = id === undefined ? undefined : this.pending.get(id);
    if (ask === undefined) {
      this.deadLetter('ask_timeout', envelope, `reply ${id ?? '(no correlation id)'} came after its ask ended`);
      return;
    }
    this.pending.delete(id!);
    clearTimeout(ask.timer);
    if (this.observer !== undefined) this.observer.askEnded(id!, envelope.message_type === ERROR_REPLY_TYPE ? 'error' : 'reply');
    if (envelope.message_type === ERROR_REPLY_TYPE) {
      const p = envelope.payload;
      ask.reject(new AskRejectedError(String(p.reason ?? 'error'), String(p.message ?? 'request refused')));
    } else {
      ask.resolve(envelope.payload);
    }
  }

  // ---- TransportHost -----------------------------------------------------------------

  receive(frame: unknown, role?: string): void {
    const result = validateEnvelope(frame);
    if (!result.ok) {
      this.malformed(result.reason, frame);
      return;
    }
    const envelope = result.envelope;
    // The node boundary: a kind's schemas check what comes from the wire (looked up only
    // on a node that has any: route() finds the cell again, a second lookup per message).
    if (this.schemaCells === 0 && this.regions.size === 0) return this.route(envelope, role);
    const target = envelope.target_elder;
    const schemas = this.cells.get(target)?.behavior.schemas ?? (isEntityTarget(target) ? this.regions.get(target.slice(0, target.indexOf('/')))?.schemas : undefined);
    if (schemas !== undefined) {
      const checked = checkEvent(schemas, envelope.message_type, envelope.payload);
      if (checked !== undefined && !checked.ok) {
        this.undeliverable(envelope, 'malformed', `${envelope.target_elder} refuses ${checked.reason}`);
        return;
      }
      if (checked !== undefined) envelope.payload = checked.event as unknown as Payload;
    }
    this.route(envelope, role);
  }

  malformed(detail: string, frame?: unknown): void {
    this.deadLetter('malformed', undefined, `malformed frame rejected: ${detail}`);
    // If enough survived to know who asked, tell them instead of letting them time out.
    if (frame !== null && typeof frame === 'object') {
      const f = frame as Record<string, unknown>;
      if (typeof f.reply_to === 'string' && typeof f.correlation_id === 'string') {
        const request = { reply_to: f.reply_to, correlation_id: f.correlation_id } as Envelope;
        this.sendReply(this.address, request, ERROR_REPLY_TYPE, { reason: 'malformed', message: detail });
      }
    }
  }

  undeliverable(envelope: Envelope, reason: DeadLetterReason, detail: string, error?: Error): void {
    this.deadLetter(reason, envelope, detail, error);
    if (envelope.reply_to && envelope.correlation_id && envelope.message_type !== ERROR_REPLY_TYPE) {
      this.sendReply(this.address, envelope, ERROR_REPLY_TYPE, { reason, message: detail });
    }
  }

  /**
   * A full mailbox (OTP/Akka overflow): an ask is rejected at once; an acked envelope
   * from the wire is left unacknowledged, so its sender's resends are the backpressure;
   * anything else is a dead letter `overflow`.
   */
  overflow(envelope: Envelope, detail: string): void {
    if (envelope.requires_ack && !(envelope.reply_to && envelope.correlation_id) && this.transport?.refused?.(envelope)) {
      this.counters.refused++;
      return;
    }
    this.undeliverable(envelope, 'overflow', detail);
  }

  // ---- events --------------------------------------------------------------------

  /** An acked envelope met its fate (processed or dead letter): let the transport ack it. */
  settledAck(envelope: Envelope): void {
    this.transport?.settled?.(envelope);
  }

  deadLetter(reason: DeadLetterReason, envelope: Envelope | undefined, detail: string, error?: Error): void {
    this.counters.deadLetters++;
    if (envelope?.requires_ack) this.settledAck(envelope);
    if (this.logger.isLevelEnabled('warn')) {
      // A flood overflows once per message: one line per target every few seconds, not one per message.
      if (reason === 'overflow') rateLimited(this.logger).warn(`overflow ${envelope?.target_elder ?? ''}`, { deadLetter: reason, envelope: envelope && summary(envelope) }, detail);
      else this.logger.warn({ deadLetter: reason, envelope: envelope && summary(envelope) }, detail);
    }
    if (this.listeners.size === 0) return;
    // Listeners get plain objects (a made envelope's id and timestamp are getters, which a spread would drop).
    this.publish({ type: 'dead_letter', node: this.nodeId, reason, detail, envelope: envelope === undefined ? undefined : wireEnvelope(envelope), error, at: Date.now() });
  }

  lifecycle(
    type: LifecycleType,
    cell: ActorCell,
    extra: Pick<LifecycleEvent, 'reason' | 'error' | 'restarts'> = {},
  ): void {
    const level = type === 'crashed' || type === 'escalated' ? 'error' : 'info';
    if (this.listeners.size === 0 && !this.logger.isLevelEnabled(level)) return;
    const event: LifecycleEvent = {
      type,
      node: this.nodeId,
      path: cell.path,
      incarnation: cell.incarnation,
      kind: cell.kind,
      ...extra,
      at: Date.now(),
    };
    // The log line's objects only when it is written: a restart storm builds none for a quiet logger.
    if (this.logger.isLevelEnabled(level)) {
      const { error, at: _at, node: _node, ...fields } = event;
      this.logger[level]({ ...fields, err: error }, `${type} ${cell.path}#${cell.incarnation}`);
    }
    this.publish(event);
  }

  /** Lifecycle events and dead letters, as they happen. */
  subscribe(listener: SystemEventListener): Subscription {
    this.listeners.add(listener);
    return { unsubscribe: () => this.listeners.delete(listener) };
  }

  private publish(event: SystemEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err }, 'event listener threw; the runtime carries on');
      }
    }
  }
}

function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}

function isReservedType(type: string): boolean {
  const c = type.charCodeAt(0);
  return (c === 120 && type.startsWith('xstate.')) || (c === 101 && type.startsWith('eldertree.'));
}

function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return DEFAULT_PRIORITY;
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.round(priority)));
}

function summary(envelope: Envelope): Record<string, unknown> {
  return {
    id: envelope.message_id,
    from: envelope.source_elder,
    to: envelope.target_elder,
    type: envelope.message_type,
  };
}

/** The next per-pair seq of `key` (a target, or an acked stream's) in a sender's counters. */
function nextSeq(seqs: Map<string, number>, key: string): number {
  const seq = (seqs.get(key) ?? 0) + 1;
  seqs.set(key, seq);
  return seq;
}
