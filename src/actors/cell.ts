import { rateLimited } from '../log.js';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { createActor, type AnyActor, type AnyStateMachine } from 'xstate';
import type { Runnable } from './dispatcher.js';
import { EMPTY_PAYLOAD, MadeEnvelope, MAX_PRIORITY, MIN_PRIORITY, madeClock, madeEnvelope, pairKey, plainEnvelope, type Envelope } from './envelope.js';
import { Mailbox, shifted, type LocalFields, type LocalMaker } from './mailbox.js';
import { EldertreeError, toError } from './errors.js';
import { migrateSnapshot, SnapshotConflictError, SNAPSHOTS_SERVICE, type Persistence, type SnapshotStore } from './persistence.js';
import type { ActorSystem } from './system.js';

/** What a cell runs; a new incarnation is `createActor(machine, { input })` again. */
export interface Behavior {
  machine: AnyStateMachine;
  input?: unknown;
  /** Opt-in: resume from the last saved snapshot instead of from scratch. */
  persist?: Persistence;
  /** The kind's schemas: messages from the wire are checked against them. */
  schemas?: Readonly<Record<string, StandardSchemaV1>>;
  /** Envelopes the mailbox holds before new mail overflows; default DEFAULT_MAILBOX_CAPACITY, Infinity for no bound. */
  capacity?: number;
}

/**
 * idle: never started. running: an incarnation processes mail. down: no incarnation,
 * mail waits (crashed, exited, or stopped for a restart). stopping: shutdown in progress.
 * stopped: for good; mail becomes dead letters.
 */
export type CellStatus = 'idle' | 'running' | 'down' | 'stopping' | 'stopped';

/** How an incarnation ended by itself. */
export type Exit = { reason: 'normal' } | { reason: 'error'; error: Error };

export type Shutdown = number | 'brutal_kill' | 'infinity';

/** The event a machine may handle to shut down gracefully (reach a final state). */
export const SHUTDOWN_EVENT = 'eldertree.shutdown';

const ACK_MEMORY = 65_536;

/**
 * Envelopes a mailbox holds by default before new mail overflows (Akka's bounded
 * mailbox): a flood at a slow actor costs dead letters or backpressure, not the heap.
 */
export const DEFAULT_MAILBOX_CAPACITY = 100_000;

// XState's per-actor `system` object -> the cell running it, so actions can reach the
// runtime (runtimeOf). System objects are unique, so one map serves every node.
const cells = new WeakMap<object, ActorCell>();

export function cellOfSystem(xstateSystem: object): ActorCell | undefined {
  return cells.get(xstateSystem);
}

/**
 * The last ~n ids seen, in two generations: when the young one is full it becomes the
 * old one. O(1) per id; evicting from the front of one big Set is not (V8 skips the
 * holes the deletes leave behind).
 */
class DedupMemory {
  private young = new Set<string>();
  private old = new Set<string>();

  constructor(private readonly generation: number) {}

  has(id: string): boolean {
    return this.young.has(id) || this.old.has(id);
  }

  /** Remembers an id not seen before. */
  add(id: string): void {
    if (this.young.size >= this.generation) {
      this.old = this.young;
      this.young = new Set();
    }
    this.young.add(id);
  }
}

/**
 * A machine handles SHUTDOWN_EVENT only through a transition of its own for it in an
 * active state: a wildcard '*' would take it as ordinary mail (a forwarder hands it on)
 * and the stop would wait out the whole shutdown timeout.
 */
function handlesShutdown(actor: AnyActor): boolean {
  const snapshot = actor.getSnapshot() as { _nodes?: { on?: Record<string, unknown> }[]; can(event: { type: string }): boolean };
  return (snapshot._nodes ?? []).some((node) => node.on?.[SHUTDOWN_EVENT] !== undefined) && snapshot.can({ type: SHUTDOWN_EVENT });
}

function stopChildren(actor: AnyActor | undefined): void {
  type Child = { _stop?: () => void };
  const children = (actor?.getSnapshot() as { children?: Record<string, Child> } | undefined)?.children;
  for (const child of Object.values(children ?? {})) {
    try {
      // stop() refuses non-root actors; _stop() is what XState itself calls when a
      // parent stops a child (XState v5 skips it when the parent errors).
      child?._stop?.();
    } catch {
      // A child that cannot stop cleanly is gone with its parent anyway.
    }
  }
}

const bareEvents = new Map<string, { type: string }>();

/**
 * The XState event of a message. XState never mutates events: a message without payload
 * reuses one { type } per type, and a typed tell's payload is its event already (its own
 * type field).
 */
function toEvent(type: string, payload: Record<string, unknown>): { type: string } {
  return payload === EMPTY_PAYLOAD ? bareEvent(type) : payload.type === type ? (payload as { type: string }) : { ...payload, type };
}

function bareEvent(type: string): { type: string } {
  let event = bareEvents.get(type);
  if (event === undefined) {
    event = Object.freeze({ type });
    if (bareEvents.size < 10_000) bareEvents.set(type, event);
  }
  return event;
}

/**
 * One actor path. The path outlives incarnations: the mailbox, per-pair sequence
 * numbers and the dedup memory stay with the cell; only the XState actor is replaced.
 */
export class ActorCell implements Runnable, LocalMaker<Envelope> {
  scheduled = false;
  status: CellStatus = 'idle';
  incarnation = 0;
  actor: AnyActor | undefined;
  readonly mailbox = new Mailbox<Envelope>();
  private outgoing: Map<string, number> | undefined;
  /** The envelope being processed, so reply() knows whom to answer (see `current`). */
  private currentEnvelope: Envelope | undefined;
  /** A local tell being processed, kept as fields: its type, or undefined (see `current`). */
  private localType: string | undefined;
  /** Its other fields, copied off the mailbox; made at the first local tell, then reused. */
  private local: LocalFields | undefined;
  /** Told when an incarnation ends by itself; the supervisor sets it. */
  onExit: ((cell: ActorCell, incarnation: number, exit: Exit) => void) | undefined;
  processed = 0;
  /**
   * Fencing: checked before each message; false stops processing (mail waits) and
   * tells the system. Set for cells under a prefix guarded by a lease.
   */
  gate: (() => boolean) | undefined;
  /** An entity's: mail left when it stops goes back to its region (true), not to a dead letter. */
  reroute: ((envelope: Envelope) => boolean) | undefined;
  private acked: DedupMemory | undefined;
  private stopWaiter: (() => void) | undefined;
  /** Persistence: the snapshot to start from, and the save in flight. */
  private restoreFrom: unknown;
  private saving: Promise<void> | undefined;
  private dirty = false;
  private saveTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /**
   * Persistent cells: the highest seq processed per acked stream and priority (laneKey),
   * saved with the snapshot, and the acks waiting for the save that covers their message.
   * A node that dies before that save never acked, so the sender resends to the new
   * owner; one that dies after it acked, and the new owner knows the seq: exactly once.
   * Per priority, because the mailbox serves a higher priority first: across priorities
   * seq 5 can be processed before seq 4, but within one they go in seq order, so "seq <=
   * the highest processed" means processed only within its priority.
   */
  private inbound: Map<string, number> | undefined;
  private unsavedAcks: Envelope[] = [];
  /**
   * Persistent cells that save after every message: answers waiting for the save that
   * covers the state they tell of. An answer is a promise to the asker (a task handed
   * out, a report accepted): sent before the save, a crash or failover could take the
   * state back after the asker acted on it. Dropped with the incarnation that made
   * them; the askers time out and ask again.
   */
  private unsavedReplies: (() => void)[] = [];

  /**
   * The envelope being processed. A local tell kept as fields becomes one only when
   * something asks for it (reply, forward, `runtime.current`, a dead letter), once.
   */
  get current(): Envelope | undefined {
    const envelope = this.currentEnvelope;
    if (envelope === undefined) {
      if (this.localType !== undefined) this.currentEnvelope = this.made(this.localType, this.local!);
    } else if (envelope instanceof MadeEnvelope) {
      // What user code holds is a plain object: a spread, a structured clone or a walk of
      // its keys sees every field (the getters of a made envelope are not own fields).
      this.currentEnvelope = plainEnvelope(envelope);
    }
    return this.currentEnvelope;
  }

  set current(envelope: Envelope | undefined) {
    this.currentEnvelope = envelope;
    this.localType = undefined;
  }

  /** Next outgoing seq per target path (per-pair order); made on the first send. */
  get seqs(): Map<string, number> {
    return (this.outgoing ??= new Map());
  }

  constructor(
    readonly system: ActorSystem,
    readonly path: string,
    public behavior: Behavior,
    readonly kind: 'worker' | 'supervisor' = 'worker',
  ) {}

  /**
   * Persistent cells read their last snapshot before each start (the supervisor awaits
   * this). A snapshot saved by another machine version is refused: the start fails.
   */
  async restore(): Promise<Error | undefined> {
    const persist = this.behavior.persist;
    this.restoreFrom = undefined;
    if (!persist) return undefined;
    // A save still in flight holds newer state than the store: loading before it lands
    // would start from older state, which the next save would then write over it, after
    // that save had acknowledged its messages.
    while (this.saving !== undefined) await this.saving;
    this.replayUnsaved();
    try {
      const stored = await this.store().load(this.path);
      // What was processed but never saved is not in the state about to be loaded.
      this.inbound = undefined;
      if (stored === undefined) return undefined;
      const wrapped = stored.snapshot as { eldertree?: number; xstate?: unknown; inbound?: Record<string, number> } | undefined;
      const xstate = wrapped?.eldertree === 1 ? wrapped.xstate : stored.snapshot;
      // Another version: refused, or brought up to this one step by step.
      const migrated = migrateSnapshot(this.path, stored.version, persist, xstate);
      if ('error' in migrated) return new EldertreeError(migrated.error);
      this.restoreFrom = migrated.snapshot;
      if (wrapped?.eldertree === 1) {
        this.inbound = inboundLanes(wrapped.inbound ?? {});
        this.dropSaved();
      }
      return undefined;
    } catch (err) {
      return new EldertreeError(`cannot load the snapshot of ${this.path}: ${toError(err).message}`);
    }
  }

  /** Starts a new incarnation. Returns the error if the machine throws while starting. */
  start(): Error | undefined {
    const incarnation = ++this.incarnation;
    // Answers of an earlier incarnation told of state it did not save: never sent.
    this.unsavedReplies = [];
    // Passing an options object XState has to merge costs a hidden class per actor: only when needed.
    const { input, machine } = this.behavior;
    const snapshot = this.restoreFrom;
    this.restoreFrom = undefined;
    const actor =
      snapshot !== undefined
        ? createActor(machine, { input, snapshot: snapshot as never })
        : input === undefined
          ? createActor(machine)
          : createActor(machine, { input });
    this.actor = actor;
    cells.set(actor.system, this);
    // Always observe errors: an XState root without an error observer rethrows in a
    // setTimeout, which would kill the process.
    const observer = new IncarnationObserver(this, incarnation);
    actor.subscribe(observer);
    this.status = 'running';
    actor.start();
    observer.starting = false;
    const { startError } = observer;
    if (startError) {
      this.status = 'down';
      this.actor = undefined;
      return startError;
    }
    if (observer.doneAtStart) {
      queueMicrotask(() => this.ended(incarnation, { reason: 'normal' }));
    } else if (this.mailbox.size > 0) {
      this.system.dispatcher.schedule(this);
    }
    return undefined;
  }

  enqueue(envelope: Envelope): void {
    if (envelope.requires_ack) {
      // Exactly-once processing: a retried or duplicated acked message is dropped.
      if (this.savedAlready(envelope)) return;
      const seen = (this.acked ??= new DedupMemory(ACK_MEMORY));
      if (seen.has(envelope.message_id)) {
        this.system.counters.duplicates++;
        return;
      }
    }
    if (this.status === 'stopped') {
      this.system.undeliverable(envelope, 'stopped', `${this.path} is stopped`);
      return;
    }
    // Over capacity: refused before it is remembered, so a resend can still get in.
    if (this.mailbox.size >= (this.behavior.capacity ?? DEFAULT_MAILBOX_CAPACITY)) {
      this.system.overflow(envelope, `${this.path} has ${this.mailbox.size} messages waiting (its capacity)`);
      return;
    }
    if (envelope.requires_ack) this.acked!.add(envelope.message_id);
    if (this.system.observer !== undefined) this.system.observer.enqueued(this, envelope);
    this.mailbox.push(envelope);
    if (this.status === 'running') this.system.dispatcher.schedule(this);
  }

  /**
   * A plain tell from this node, kept as fields in the mailbox (no envelope object). The
   * same checks as enqueue's for a plain message; refusals are made into envelopes.
   */
  enqueueLocal(type: string, payload: Record<string, unknown>, source: string, seq: number, n: number, priority: number): void {
    if (this.status === 'stopped' || this.mailbox.size >= (this.behavior.capacity ?? DEFAULT_MAILBOX_CAPACITY)) {
      const envelope = new MadeEnvelope(source, this.path, type, payload, priority, false, seq, n);
      this.enqueue(envelope); // the dead letter, as for any envelope
      return;
    }
    this.mailbox.pushLocal(priority, type, payload, source, seq, n, madeClock());
    if (this.status === 'running') this.system.dispatcher.schedule(this);
  }

  process(max: number, deadline = Infinity): boolean {
    let n = 0;
    while (this.status === 'running' && n < max) {
      // A slow actor gives the thread back within the slice (timers, heartbeats, sockets).
      if ((n & 7) === 7 && performance.now() > deadline) break;
      if (this.gate !== undefined && !this.gate()) {
        this.system.fenced(this);
        return false;
      }
      const item = this.mailbox.shift();
      if (item === undefined) return false;
      n++;
      const observer = this.system.observer;
      // A local tell is delivered from its fields, unless someone times or traces it.
      if (typeof item === 'string' && observer === undefined && this.system.trace === undefined) {
        this.deliverLocal(item);
        continue;
      }
      const envelope = typeof item === 'string' ? this.made(item, shifted) : item;
      if (observer === undefined) this.deliver(envelope);
      else observer.process(this, envelope);
    }
    return this.status === 'running' && this.mailbox.size > 0;
  }

  /** Processes one message; only process() and the system's observer (which times it) call it. */
  deliver(envelope: Envelope): void {
    const actor = this.actor!;
    const event = toEvent(envelope.message_type, envelope.payload);
    const before = actor.getSnapshot();
    this.current = envelope;
    actor.send(event);
    // ended() clears `current` when this message crashed the actor: it is a dead letter.
    // (Not an identity check: reading `current` may have replaced it with a plain copy.)
    if (this.currentEnvelope === undefined) return;
    this.current = undefined;
    // Same snapshot object means no transition was taken, unless the transition only
    // ran side effects (reply): can() tells the two apart, off the hot path.
    if (this.status === 'running' && actor.getSnapshot() === before && !before.can(event)) {
      // An asker learns why at once instead of waiting for its timeout.
      this.system.undeliverable(
        envelope,
        'unhandled',
        `${this.path} in state ${JSON.stringify(before.value)} does not handle ${envelope.message_type}`,
      );
      return;
    }
    this.processed++;
    if (envelope.requires_ack) {
      if (this.behavior.persist === undefined) this.system.settledAck(envelope);
      else {
        const lane = laneKey(envelope);
        const inbound = (this.inbound ??= new Map());
        if (envelope.seq > (inbound.get(lane) ?? 0)) inbound.set(lane, envelope.seq);
        this.unsavedAcks.push(envelope);
      }
    }
    if (this.behavior.persist !== undefined) this.persist();
    const trace = this.system.trace;
    if (trace !== undefined) trace(this, envelope, actor.getSnapshot());
  }

  /** A local tell's fields as a plain envelope (LocalMaker, for the mailbox's drain). */
  made(type: string, f: LocalFields): Envelope {
    return madeEnvelope(f.source, this.path, type, f.payload, f.priority, f.seq, f.n, f.t);
  }

  /** deliver() for the local tell the mailbox just gave (its other fields are in `shifted`). */
  private deliverLocal(type: string): void {
    const actor = this.actor!;
    const local = (this.local ??= { payload: EMPTY_PAYLOAD, source: '', seq: 0, n: 0, t: 0, priority: 0 });
    const payload = shifted.payload;
    local.payload = payload;
    local.source = shifted.source;
    local.seq = shifted.seq;
    local.n = shifted.n;
    local.t = shifted.t;
    local.priority = shifted.priority;
    const event = toEvent(type, payload);
    const before = actor.getSnapshot();
    this.currentEnvelope = undefined;
    this.localType = type;
    actor.send(event);
    // ended() clears `current` when this message crashed the actor (it took the culprit).
    if (this.localType === undefined) {
      local.payload = EMPTY_PAYLOAD;
      return;
    }
    // Read back after send: `current` may have made it meanwhile (a reply, a forward).
    let envelope = this.currentEnvelope as Envelope | undefined;
    this.currentEnvelope = undefined;
    this.localType = undefined;
    if (this.status === 'running' && actor.getSnapshot() === before && !before.can(event)) {
      envelope ??= this.made(type, local);
      local.payload = EMPTY_PAYLOAD;
      this.system.undeliverable(
        envelope,
        'unhandled',
        `${this.path} in state ${JSON.stringify(before.value)} does not handle ${type}`,
      );
      return;
    }
    local.payload = EMPTY_PAYLOAD; // not kept alive by an idle actor
    this.processed++;
    if (this.behavior.persist !== undefined) this.persist();
  }

  private store(): SnapshotStore {
    const store = this.system.services[SNAPSHOTS_SERVICE] as SnapshotStore | undefined;
    if (!store) throw new EldertreeError(`${this.path} is persistent but node ${this.system.nodeId} has no snapshot store`);
    return store;
  }

  /**
   * Sends an answer now, or, for a persistent cell that saves after every message,
   * once the snapshot of the state it was made in is saved (a save follows).
   */
  answer(send: () => void): void {
    const every = this.behavior.persist?.every ?? (this.behavior.persist ? 'message' : undefined);
    if (every !== 'message' || (this.status !== 'running' && this.status !== 'stopping')) return send();
    this.unsavedReplies.push(send);
    this.persist();
  }

  /**
   * Acked messages the last incarnation processed but did not save are not in the
   * snapshot the next one starts from; they were never acknowledged, so they are
   * processed again, ahead of the waiting mail (they came first).
   */
  private replayUnsaved(): void {
    const replay = this.unsavedAcks;
    if (replay.length === 0) return;
    this.unsavedAcks = [];
    const waiting = this.mailbox.drain(this);
    for (const envelope of replay) this.mailbox.push(envelope);
    for (const envelope of waiting) this.mailbox.push(envelope);
  }

  /**
   * After a load: acked mail already in the loaded state is acknowledged, not run again.
   * It gets there when a save whose answer was lost did land (its messages were replayed
   * above), or when mail queued before this restart was processed and saved elsewhere.
   */
  private dropSaved(): void {
    if (this.inbound === undefined || this.inbound.size === 0 || this.mailbox.size === 0) return;
    for (const envelope of this.mailbox.drain(this)) if (!(envelope.requires_ack && this.savedAlready(envelope))) this.mailbox.push(envelope);
  }

  /**
   * An acked message already in the saved state (processed before a restart or a
   * failover): acknowledged again, counted as a duplicate, not run. Within its lane.
   */
  private savedAlready(envelope: Envelope): boolean {
    const done = this.inbound?.get(laneKey(envelope));
    if (done === undefined || envelope.seq > done) return false;
    this.system.counters.duplicates++;
    this.system.settledAck(envelope);
    return true;
  }

  /** Saves the latest snapshot; saves never overlap, and a burst of messages is one save. */
  private persist(): void {
    const every = this.behavior.persist!.every ?? 'message';
    if (this.saving !== undefined) {
      this.dirty = true;
      return;
    }
    if (this.saveTimer !== undefined) return;
    // 'message': once the current turn is over, so a burst processed in one turn is one
    // save even when the store answers at once.
    this.saveTimer = every === 'message' ? setImmediate(() => this.flushSnapshot()) : setTimeout(() => this.flushSnapshot(), every);
  }

  private flushSnapshot(): void {
    this.saveTimer = undefined;
    const actor = this.actor;
    // A fenced copy (its lease lapsed) must not overwrite the new owner's state.
    if (!actor || actor.getSnapshot().status === 'error' || (this.gate !== undefined && !this.gate())) return;
    this.dirty = false;
    const persisted = actor.getPersistedSnapshot();
    const snapshot =
      this.inbound === undefined ? persisted : { eldertree: 1, xstate: persisted, inbound: Object.fromEntries(this.inbound) };
    const acks = this.unsavedAcks;
    this.unsavedAcks = [];
    const replies = this.unsavedReplies;
    this.unsavedReplies = [];
    const incarnation = this.incarnation;
    let failed = false;
    let stale: Error | undefined;
    this.saving = this.store()
      .save(this.path, String(this.behavior.persist!.version), snapshot)
      .then(() => {
        for (const envelope of acks) this.system.settledAck(envelope);
        // Not if another incarnation started meanwhile (from what was saved before).
        if (incarnation === this.incarnation) for (const send of replies) send();
      })
      .catch((err: unknown) => {
        // Not saved: no ack or answer either; try again with the next save.
        this.unsavedAcks = acks.concat(this.unsavedAcks);
        if (err instanceof SnapshotConflictError) {
          // Another owner saved since this incarnation loaded: its state is stale and no
          // save of it can land. It restarts from the stored state, and the acked
          // messages it processed since its last save go to the new incarnation.
          stale = err;
          return;
        }
        if (incarnation === this.incarnation) this.unsavedReplies = replies.concat(this.unsavedReplies);
        this.dirty = true;
        failed = true;
        // Rate-limited: a store outage fails every save, and there is one per message.
        rateLimited(this.system.logger).warn('snapshot-save', { err, path: this.path }, `snapshot of ${this.path} not saved: ${toError(err).message}`);
      })
      .finally(() => {
        this.saving = undefined;
        if (stale !== undefined) return this.crash(incarnation, stale);
        // After a failure (store down), retry after a pause rather than every turn.
        if (this.dirty) {
          if (failed) setTimeout(() => this.persist(), 250).unref();
          else this.persist();
        }
      });
  }

  /** Waits for the save in flight (a graceful stop hands the newest state over). */
  async saved(): Promise<void> {
    // A save that ends with newer state processed meanwhile queues the next one: wait for that too.
    for (;;) {
      if (this.saveTimer !== undefined) {
        clearTimeout(this.saveTimer as NodeJS.Timeout);
        clearImmediate(this.saveTimer as NodeJS.Immediate);
        this.flushSnapshot();
      }
      if (this.saving === undefined) return;
      await this.saving;
    }
  }

  /** Ends a running incarnation as a crash from outside its machine (its state went stale). */
  private crash(incarnation: number, error: Error): void {
    const actor = this.actor;
    if (incarnation !== this.incarnation || this.status !== 'running' || actor === undefined) return;
    // Fenced meanwhile (its lease lapsed while the save was on its way): the conflict is the
    // new owner's write. Not a crash to count; the hand-off stops this copy, and it saves nothing more.
    if (this.gate !== undefined && !this.gate()) return;
    this.current = undefined; // no message made it crash
    this.ended(incarnation, { reason: 'error', error });
    actor.stop(); // its complete comes after ended(): ignored
  }

  /**
   * The end of an incarnation, as its observer saw it; a stale incarnation's is ignored.
   * @internal Public only for IncarnationObserver; ending an incarnation is the cell's call.
   */
  ended(incarnation: number, exit: Exit): void {
    if (incarnation !== this.incarnation) return;
    if (this.status === 'stopping') {
      this.stopWaiter?.();
      return;
    }
    if (this.status !== 'running') return;
    this.status = 'down';
    const actor = this.actor;
    this.actor = undefined;
    if (exit.reason === 'error') {
      // XState v5 leaves an errored actor's invoked children running (timers, pending
      // asks): a crashed incarnation must leave nothing behind.
      stopChildren(actor);
      this.system.lifecycle('crashed', this, { reason: exit.error.message, error: exit.error });
      const culprit = this.current;
      this.current = undefined;
      if (culprit) {
        this.system.undeliverable(
          culprit,
          'crashed',
          `${culprit.message_type} made ${this.path} crash: ${exit.error.message}`,
          exit.error,
        );
      }
    } else {
      this.system.lifecycle('exited', this, { reason: 'normal' });
    }
    this.onExit?.(this, incarnation, exit);
  }

  /**
   * Ends the current incarnation. A machine that handles SHUTDOWN_EVENT gets it and
   * up to `shutdown` ms to reach a final state (OTP's shutdown timeout); otherwise, or
   * with brutal_kill, it is stopped at once. With `flush`, the cell is stopped for good
   * and its waiting mail becomes dead letters; without, the mail waits for a restart.
   */
  async stop(shutdown: Shutdown, flush: boolean): Promise<void> {
    const actor = this.actor;
    if (this.status === 'running' && actor) {
      this.status = 'stopping';
      let how = shutdown === 'brutal_kill' ? 'killed' : 'shutdown';
      if (shutdown !== 'brutal_kill' && handlesShutdown(actor)) {
        how = await new Promise<string>((resolve) => {
          const timer =
            shutdown === 'infinity' ? undefined : setTimeout(() => resolve('timeout'), shutdown);
          this.stopWaiter = () => {
            if (timer) clearTimeout(timer);
            resolve('shutdown');
          };
          actor.send({ type: SHUTDOWN_EVENT });
          if (actor.getSnapshot().status !== 'active') this.stopWaiter();
        });
        this.stopWaiter = undefined;
      }
      if (this.behavior.persist !== undefined) await this.saved();
      actor.stop();
      this.actor = undefined;
      this.status = 'down';
      this.system.lifecycle('stopped', this, { reason: how });
    }
    if (flush) this.close();
  }

  /** Stopped for good: what waits becomes dead letters, nothing is lost silently. */
  close(): void {
    if (this.status === 'running' || this.status === 'stopping') {
      this.actor?.stop();
      this.actor = undefined;
    }
    this.status = 'stopped';
    for (const envelope of this.mailbox.drain(this)) this.system.orphaned(this, envelope);
  }
}

/**
 * Watches one incarnation's actor: a small object with prototype methods rather than
 * two closures and their scope per start (a million idle entities carry one each).
 * While the actor starts, what it reports is kept for start() to read.
 */
class IncarnationObserver {
  starting = true;
  startError: Error | undefined = undefined;
  doneAtStart = false;

  constructor(
    private readonly cell: ActorCell,
    private readonly incarnation: number,
  ) {}

  error(err: unknown): void {
    if (this.starting) this.startError = toError(err);
    else this.cell.ended(this.incarnation, { reason: 'error', error: toError(err) });
  }

  complete(): void {
    if (this.starting) this.doneAtStart = true;
    else this.cell.ended(this.incarnation, { reason: 'normal' });
  }
}

/** An acked message's lane in a cell's `inbound`: its stream (pairKey) and its priority. */
function laneKey(envelope: Envelope): string {
  return pairKey(envelope) + '\u0000' + envelope.priority;
}

/**
 * A saved `inbound` as lanes. Snapshots saved before lanes keyed a stream alone, with the
 * highest seq of any priority: that seq stands for every priority of the stream, as it
 * did then (a key is source, target and stream, three parts; a lane key has four).
 */
export function inboundLanes(saved: Record<string, number>): Map<string, number> {
  const inbound = new Map<string, number>();
  for (const [key, seq] of Object.entries(saved)) {
    if (key.split('\u0000').length === 4) inbound.set(key, Math.max(seq, inbound.get(key) ?? 0));
    else for (let p = MIN_PRIORITY; p <= MAX_PRIORITY; p++) inbound.set(`${key}\u0000${p}`, Math.max(seq, inbound.get(`${key}\u0000${p}`) ?? 0));
  }
  return inbound;
}
