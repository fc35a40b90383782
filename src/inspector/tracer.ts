import type { ActorCell } from '../actors/cell.js';
import type { Envelope } from '../actors/envelope.js';
import type { ActorSystem } from '../actors/system.js';
import type { HistoryEntry, MessageRecord } from './protocol.js';
import { SeqLog } from './seq-log.js';
import { snapshotView } from './statechart.js';
import { toPlain } from './plain.js';

/** One processed message (or a start marker) and the snapshot it led to: references only. */
class Step {
  constructor(
    readonly incarnation: number,
    readonly envelope: Envelope | undefined,
    readonly snapshot: unknown,
    readonly marker: string | undefined,
    readonly at: number,
  ) {}
}

export interface TracerOptions {
  /** Steps kept per actor (default 50). */
  historySize?: number;
  /** Messages kept for the sequence view (default 1000). */
  messageLogSize?: number;
}

/**
 * Records what a node's actors process while someone watches, through `system.trace`:
 * per actor a bounded ring of (message, resulting snapshot), and one ring of messages
 * for the sequence view. The hot path stores references and never serialises;
 * serialisation happens when the page asks for an actor. Unwatched, the trace hook is
 * removed and the rings are dropped.
 */
export class Tracer {
  private readonly historySize: number;
  private readonly messageLogSize: number;
  private histories = new WeakMap<ActorCell, SeqLog<Step>>();
  /** Each actor's snapshot when watching began: the first step to step back to. */
  private origins = new WeakMap<ActorCell, Step>();
  private messages: SeqLog<Envelope>;
  /** Seq of the first message of this watch session, so readers never see a reused number. */
  private base = 0;
  private watchers = 0;
  // One-entry cache: a cell usually processes a run of messages in one turn.
  private lastCell: ActorCell | undefined;
  private lastLog: SeqLog<Step> | undefined;

  constructor(
    private readonly system: ActorSystem,
    options: TracerOptions = {},
  ) {
    this.historySize = options.historySize ?? 50;
    this.messageLogSize = options.messageLogSize ?? 1000;
    this.messages = new SeqLog(this.messageLogSize);
  }

  get watching(): boolean {
    return this.watchers > 0;
  }

  watch(): () => void {
    if (this.watchers++ === 0) {
      this.system.trace = this.onTrace;
      // References only (snapshots are immutable): one pass over the cells, once per watch.
      const now = Date.now();
      for (const path of this.system.paths) {
        const cell = this.system.cell(path);
        const snapshot = cell?.actor?.getSnapshot();
        if (cell && snapshot !== undefined) this.origins.set(cell, new Step(cell.incarnation, undefined, snapshot, 'when watching began', now));
      }
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.watchers > 0) return;
      if (this.system.trace === this.onTrace) this.system.trace = undefined;
      // Nobody watches: let the snapshots and envelopes go.
      this.base += this.messages.total;
      this.messages = new SeqLog(this.messageLogSize);
      this.histories = new WeakMap();
      this.origins = new WeakMap();
      this.lastCell = undefined;
      this.lastLog = undefined;
    };
  }

  private readonly onTrace = (cell: ActorCell, envelope: Envelope, snapshot: unknown): void => {
    this.messages.push(envelope);
    const log = cell === this.lastCell ? this.lastLog! : this.logOf(cell);
    log.push(new Step(cell.incarnation, envelope, snapshot, undefined, envelope.timestamp));
  };

  private logOf(cell: ActorCell): SeqLog<Step> {
    let log = this.histories.get(cell);
    if (!log) this.histories.set(cell, (log = new SeqLog(this.historySize)));
    this.lastCell = cell;
    this.lastLog = log;
    return log;
  }

  /** A new incarnation started: its initial snapshot becomes a step too. */
  started(cell: ActorCell, marker: string): void {
    if (!this.watching || !cell.actor) return;
    this.logOf(cell).push(new Step(cell.incarnation, undefined, cell.actor.getSnapshot(), marker, Date.now()));
  }

  /** Oldest first; the last entry is always the actor's current snapshot. */
  history(cell: ActorCell): HistoryEntry[] {
    const log = this.histories.get(cell);
    const steps = log ? log.since(0) : [];
    const entries = steps.map(({ seq, item }) => entry(seq, item));
    const origin = this.origins.get(cell);
    // The origin is older than every step only while the ring has not wrapped.
    if (origin && (log?.total ?? 0) < this.historySize) entries.unshift(entry(0, origin));
    const current = cell.actor?.getSnapshot();
    const last = log?.last();
    // Timers and invoked actors move machines without a message: show where it is now.
    const newest = last ?? origin;
    if (current !== undefined && (newest === undefined || newest.snapshot !== current || newest.incarnation !== cell.incarnation)) {
      entries.push(entry((log?.total ?? 0) + 1, new Step(cell.incarnation, undefined, current, 'now', Date.now())));
    }
    return entries;
  }

  messagesSince(seq: number, node: string): MessageRecord[] {
    const local = Math.max(0, seq - this.base);
    return this.messages.since(local).map(({ seq: s, item: e }) => ({
      seq: this.base + s,
      at: e.timestamp,
      node,
      id: e.message_id,
      from: e.source_elder,
      to: e.target_elder,
      type: e.message_type,
      ...(e.correlation_id !== undefined ? { corr: e.correlation_id } : {}),
    }));
  }
}

function entry(seq: number, step: Step): HistoryEntry {
  const e = step.envelope;
  return {
    seq,
    at: step.at,
    incarnation: step.incarnation,
    ...(e
      ? {
          event: {
            type: e.message_type,
            from: e.source_elder,
            id: e.message_id,
            ...(e.correlation_id !== undefined ? { corr: e.correlation_id } : {}),
            payload: toPlain(e.payload, { depth: 4, nodes: 300 }),
          },
        }
      : {}),
    ...(step.marker !== undefined ? { marker: step.marker } : {}),
    snapshot: snapshotView(step.snapshot),
  };
}
