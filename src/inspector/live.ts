import type { Logger } from '../log.js';
import type {
  ActorInfo,
  ActorStatus,
  Alert,
  FeedEvent,
  FullState,
  Incident,
  IntensityInfo,
  LiveUpdate,
  MessageRecord,
  NodeInfo,
  SeriesPoint,
  TreeSnapshot,
} from './protocol.js';
import { SeqLog } from './seq-log.js';
import type { InspectorSource, NodeSample, SourceEvent } from './source.js';
import { treeAlerts } from './alerts.js';
import { isPlumbing, logicalTree } from './tree.js';

export interface LiveOptions {
  /** ms between pushes while someone watches (default 250): tree updates are coalesced to this. */
  pushMs?: number;
  /** ms between samples while nobody watches (default 1000), for charts, alerts and /metrics. */
  idleMs?: number;
  /** Actors per pushed tree (default 2000); /api/tree has them all. */
  streamActorCap?: number;
  logger?: Logger;
}


/** Dead-letter times kept for the 10 s alert, at most. */
const RECENT_DEAD_LETTERS = 20_000;
/** Per node and path: what the counters were at the previous sample, for rates. */
interface RateState {
  processed: number;
  at: number;
  rate: number;
}

const FEED_SIZE = 500;
const INCIDENT_SIZE = 200;
const MESSAGE_SIZE = 1000;
const SERIES_SIZE = 300;
/** How long a crash waits for its message's dead letter before it is recorded as one itself. */
const CRASH_MATCH_MS = 300;

/**
 * The inspector's memory of the cluster between samples: the merged tree with rates
 * and statuses, the event feed, incidents, alerts, message records and the time series.
 * While someone watches it samples every `pushMs` and hands each listener one update;
 * otherwise it samples at `idleMs` and traces nothing.
 */
export class LiveState {
  private readonly pushMs: number;
  private readonly idleMs: number;
  private readonly cap: number;
  private readonly logger: Logger | undefined;
  private readonly feed = new SeqLog<FeedEvent>(FEED_SIZE);
  private readonly incidents = new SeqLog<Incident>(INCIDENT_SIZE);
  private readonly messages = new SeqLog<MessageRecord>(MESSAGE_SIZE);
  private readonly series = new SeqLog<SeriesPoint>(SERIES_SIZE);
  private readonly rates = new Map<string, RateState>();
  /** Last lifecycle event type per node+path: tells `restarting` from `down`. */
  private readonly lastLifecycle = new Map<string, string>();
  private readonly alertSince = new Map<string, number>();
  /** Crashes not (yet) followed by the dead letter of the message that caused them. */
  private readonly unmatchedCrashes = new Map<string, { event: SourceEvent; seen: number }>();
  private readonly nodeEvents = new Map<string, { status: 'up' | 'down'; at: number }>();
  /** Dead letters by node and reason since the inspector started (for /metrics). */
  readonly deadLetters = new Map<string, number>();
  /** Restarts seen as events by node+path since the inspector started. */
  private restartsSinceTick = 0;
  private deadLettersSinceTick = 0;
  private recentDeadLetters: number[] = [];
  private sourceSeq = 0;
  private pendingDeadLetters: MessageRecord[] = [];
  private tree: TreeSnapshot | undefined;
  private samples: NodeSample[] = [];
  private sampling: Promise<TreeSnapshot> | undefined;
  private seriesFrom = { at: 0, processed: new Map<string, number>() };
  private readonly listeners = new Set<(update: string) => void>();
  private unwatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  private cursors = { feed: 0, incidents: 0, messages: 0, series: 0 };
  private closed = false;
  private lastError: string | undefined;

  constructor(
    readonly source: InspectorSource,
    options: LiveOptions = {},
  ) {
    this.pushMs = options.pushMs ?? 250;
    this.idleMs = options.idleMs ?? 1000;
    this.cap = options.streamActorCap ?? 2000;
    this.logger = options.logger;
    this.unsubscribe = source.events((e) => this.onEvent(e));
    this.schedule(true);
  }

  // ---- watchers ----------------------------------------------------------------------

  /** A live client: gets one JSON update per push. Returns the way to leave. */
  attach(listener: (update: string) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) {
      this.unwatch = this.source.watch();
      this.schedule(true);
    }
    return () => {
      if (!this.listeners.delete(listener)) return;
      if (this.listeners.size === 0) {
        this.unwatch?.();
        this.unwatch = undefined;
      }
    };
  }

  get watchers(): number {
    return this.listeners.size;
  }

  private schedule(now = false): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const delay = now ? 0 : this.listeners.size > 0 ? this.pushMs : this.idleMs;
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      this.crashesAsDeadLetters();
      await this.refresh();
      if (this.listeners.size > 0) this.push();
      this.lastError = undefined;
    } catch (err) {
      // Once per distinct failure, not once per tick.
      const message = (err as Error).message;
      if (message !== this.lastError) this.logger?.warn({ err }, `inspector sample failed: ${message}`);
      this.lastError = message;
    } finally {
      this.schedule();
    }
  }

  private push(): void {
    const update: LiveUpdate = { tree: this.streamTree() };
    const take = <T>(log: SeqLog<T>, key: keyof typeof this.cursors): T[] | undefined => {
      const items = log.since(this.cursors[key]);
      this.cursors[key] = log.total;
      return items.length ? items.map((i) => i.item) : undefined;
    };
    const feed = take(this.feed, 'feed');
    const incidents = take(this.incidents, 'incidents');
    const messages = take(this.messages, 'messages');
    const series = take(this.series, 'series');
    if (feed) update.feed = feed;
    if (incidents) update.incidents = incidents;
    if (messages) update.messages = messages;
    if (series) update.series = series;
    // Serialised once for every client.
    const json = JSON.stringify(update);
    for (const listener of this.listeners) listener(json);
  }

  /**
   * Everything held. A stream client gets it up to the last push, so the next push
   * carries exactly what it has not seen.
   */
  full(forStream = true): FullState {
    const upTo = <T>(log: SeqLog<T>, cursor: number) =>
      log
        .since(0)
        .filter((i) => !forStream || i.seq <= cursor)
        .map((i) => i.item);
    return {
      tree: this.streamTree(),
      feed: upTo(this.feed, this.cursors.feed),
      incidents: upTo(this.incidents, this.cursors.incidents),
      messages: upTo(this.messages, this.cursors.messages),
      series: upTo(this.series, this.cursors.series),
    };
  }

  private streamTree(): TreeSnapshot {
    const tree = this.tree ?? emptyTree(this.source);
    if (tree.actors.length <= this.cap) return tree;
    return { ...tree, actors: tree.actors.slice(0, this.cap), truncated: tree.actors.length - this.cap };
  }

  // ---- sampling ----------------------------------------------------------------------

  /** The tree now: a fresh sample unless the last one is younger than `maxAgeMs`. */
  async snapshot(maxAgeMs = this.pushMs): Promise<TreeSnapshot> {
    if (this.tree && Date.now() - this.tree.at <= maxAgeMs) return this.tree;
    return this.refresh();
  }

  /** The next snapshot() samples afresh (after a debug action changed the tree). */
  invalidate(): void {
    if (this.tree) this.tree = { ...this.tree, at: 0 };
  }

  /** The raw samples behind the last tree (for /metrics). */
  get lastSamples(): NodeSample[] {
    return this.samples;
  }

  private refresh(): Promise<TreeSnapshot> {
    this.sampling ??= (async () => {
      try {
        const samples = await this.source.sample();
        this.pullMessages();
        return this.build(samples);
      } finally {
        this.sampling = undefined;
      }
    })();
    return this.sampling;
  }

  /** Traced messages and dead letters since the last sample, in time order. */
  private pullMessages(): void {
    const batch = this.source.messagesSince(this.sourceSeq);
    if (batch.length) this.sourceSeq = batch[batch.length - 1]!.seq;
    const merged = batch.concat(this.pendingDeadLetters).sort((a, b) => a.at - b.at);
    this.pendingDeadLetters = [];
    for (const m of merged) this.messages.push({ ...m, seq: this.messages.total + 1 });
  }

  private build(samples: NodeSample[]): TreeSnapshot {
    const now = Date.now();
    this.samples = samples;
    // The user's tree: one row per actor, no placement guards or heralds (tree.ts).
    const placed = logicalTree(samples);
    const byKey = new Map(placed.map((a) => [key(a.node, a.path), a]));
    const seen = new Set<string>();
    const actors: ActorInfo[] = placed.map((a) => {
      const k = key(a.node, a.path);
      seen.add(k);
      const parent = a.parent === null ? undefined : byKey.get(key(a.node, a.parent));
      return {
        key: k,
        node: a.node,
        nodes: a.nodes,
        standbys: a.standbys,
        path: a.path,
        name: a.path.slice(a.path.lastIndexOf('/') + 1),
        parent: a.parent,
        depth: a.depth,
        kind: a.kind,
        status: this.status(k, a.kind, a.status),
        rawStatus: a.status,
        state: a.state,
        incarnation: a.incarnation,
        restarts: a.restarts,
        supervisor: parent ? intensityOf(parent) : null,
        own: a.kind === 'supervisor' ? intensityOf(a) : null,
        mailbox: a.mailbox,
        processed: a.processed,
        rate: this.rate(k, a.processed, now),
        ...(a.entities && a.cluster ? { entities: { kind: a.entities.kind, shards: a.entities.shards, ...a.cluster } } : {}),
      };
    });
    for (const k of this.rates.keys()) if (!seen.has(k)) this.rates.delete(k);
    // Actors gone for good (deleted children, a node that left) take their memory with them.
    for (const k of this.lastLifecycle.keys()) if (!seen.has(k)) this.lastLifecycle.delete(k);
    const nodes = this.nodes(samples, now);
    this.closeSeriesPoint(samples, now);
    const tree: TreeSnapshot = {
      source: { kind: this.source.kind, label: this.source.label },
      at: now,
      nodes,
      actors,
      alerts: this.alerts(nodes, actors, now),
      truncated: 0,
    };
    this.tree = tree;
    return tree;
  }

  private status(k: string, kind: string, raw: string): ActorStatus {
    if (raw === 'running') return 'running';
    if (kind === 'supervisor') return raw === 'starting' || raw === 'restarting' ? 'restarting' : 'down';
    if (raw === 'stopping') return 'down';
    // A cell without an incarnation after a crash waits for its restart (maybe a backoff).
    return raw === 'down' && this.lastLifecycle.get(k) === 'crashed' ? 'restarting' : 'down';
  }

  private rate(k: string, processed: number, now: number): number {
    const prev = this.rates.get(k);
    if (!prev) {
      this.rates.set(k, { processed, at: now, rate: 0 });
      return 0;
    }
    const dt = now - prev.at;
    // Pushes are 250 ms apart: rate over at least half a second, smoothed, so it reads steadily.
    if (dt < 500) return prev.rate;
    const instant = (Math.max(0, processed - prev.processed) * 1000) / dt;
    prev.rate = prev.rate === 0 ? instant : prev.rate * 0.4 + instant * 0.6;
    if (prev.rate < 0.05) prev.rate = 0;
    prev.processed = processed;
    prev.at = now;
    return Math.round(prev.rate * 10) / 10;
  }

  private nodes(samples: NodeSample[], now: number): NodeInfo[] {
    const nodes = new Map<string, NodeInfo>();
    for (const s of samples) {
      for (const m of s.members ?? []) {
        const age = Math.max(0, now - m.lastSeen);
        const known = nodes.get(m.node);
        if (!known || (known.heartbeatAgeMs ?? Infinity) > age) nodes.set(m.node, { node: m.node, status: m.status, heartbeatAgeMs: age, actors: 0 });
      }
    }
    for (const s of samples) {
      const age = s.heartbeatAgeMs ?? Math.max(0, now - s.at);
      nodes.set(s.node, { node: s.node, status: 'up', heartbeatAgeMs: age, actors: s.actors.filter((a) => !isPlumbing(a.path)).length });
    }
    // Node events are newer than the last sample when they come after it.
    for (const [node, e] of this.nodeEvents) {
      const known = nodes.get(node);
      if (!known) nodes.set(node, { node, status: e.status, heartbeatAgeMs: null, actors: 0 });
      else if (e.status === 'down' && !samples.some((s) => s.node === node && s.at > e.at)) known.status = 'down';
    }
    return [...nodes.values()].sort((a, b) => a.node.localeCompare(b.node));
  }

  private alerts(nodes: NodeInfo[], actors: ActorInfo[], now: number): Alert[] {
    const alerts: Omit<Alert, 'since'>[] = [];
    alerts.push(...treeAlerts(nodes, actors));
    this.recentDeadLetters = this.recentDeadLetters.filter((t) => now - t < 10_000);
    if (this.recentDeadLetters.length > 0) {
      const n = this.recentDeadLetters.length;
      alerts.push({ key: 'dead-letters', severity: 'info', message: `${n >= RECENT_DEAD_LETTERS / 2 ? 'at least ' : ''}${n} dead letters in the last 10 s` });
    }
    const live = new Set(alerts.map((a) => a.key));
    for (const k of this.alertSince.keys()) if (!live.has(k)) this.alertSince.delete(k);
    return alerts.map((a) => {
      if (!this.alertSince.has(a.key)) this.alertSince.set(a.key, now);
      return { ...a, since: this.alertSince.get(a.key)! };
    });
  }

  /** One chart point per second at most: processed/s, restarts and dead letters in the interval. */
  private closeSeriesPoint(samples: NodeSample[], now: number): void {
    const from = this.seriesFrom;
    if (now - from.at < 1000) return;
    const processed = new Map<string, number>();
    let delta = 0;
    for (const s of samples) {
      for (const a of s.actors) {
        const k = key(s.node, a.path);
        processed.set(k, a.processed);
        const before = from.processed.get(k);
        if (before !== undefined) delta += Math.max(0, a.processed - before);
      }
    }
    if (from.at > 0) {
      this.series.push({
        t: now,
        messages: Math.round((delta * 1000) / (now - from.at)),
        restarts: this.restartsSinceTick,
        deadLetters: this.deadLettersSinceTick,
      });
    }
    this.restartsSinceTick = 0;
    this.deadLettersSinceTick = 0;
    this.seriesFrom = { at: now, processed };
  }

  // ---- events ------------------------------------------------------------------------

  private onEvent(e: SourceEvent): void {
    // The lifecycle of placement guards and heralds is plumbing too (tree.ts isPlumbing).
    if (e.type !== 'dead_letter' && e.path !== undefined && isPlumbing(e.path)) return;
    const id = this.feed.total + 1;
    const feed: FeedEvent = {
      id,
      at: e.at,
      type: e.type,
      node: e.node,
      ...(e.path !== undefined ? { path: e.path } : {}),
      ...(e.incarnation !== undefined ? { incarnation: e.incarnation } : {}),
      ...(e.reason !== undefined ? { reason: e.reason } : {}),
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.envelope !== undefined ? { envelope: e.envelope } : {}),
    };
    this.feed.push(feed);
    if (e.path !== undefined) this.lastLifecycle.set(key(e.node, e.path), e.type);
    switch (e.type) {
      case 'dead_letter': {
        if (e.reason === 'crashed' && e.envelope) this.unmatchedCrashes.delete(key(e.node, e.envelope.to));
        const count = e.count ?? 1;
        this.deadLettersSinceTick += count;
        // Bounded (a flood of overflow dead letters with nobody watching): old times go first.
        if (this.recentDeadLetters.length >= RECENT_DEAD_LETTERS) this.recentDeadLetters = this.recentDeadLetters.filter((t) => e.at - t < 10_000).slice(-RECENT_DEAD_LETTERS / 2);
        this.recentDeadLetters.push(e.at);
        const k = `${e.node}\u0000${e.reason ?? 'unknown'}`;
        this.deadLetters.set(k, (this.deadLetters.get(k) ?? 0) + count);
        // Waits for the next sample, to be merged in time order with the traced messages.
        if (e.envelope && this.pendingDeadLetters.length < MESSAGE_SIZE) {
          this.pendingDeadLetters.push({ ...e.envelope, seq: 0, at: e.at, node: e.node, deadLetter: e.reason ?? 'unknown' });
        }
        break;
      }
      case 'restarted':
        this.restartsSinceTick++;
        break;
      case 'crashed':
        this.incident(e, 'warning', `${e.path} crashed`, e.reason ?? e.error ?? 'error');
        if (e.path !== undefined) this.unmatchedCrashes.set(key(e.node, e.path), { event: e, seen: Date.now() });
        break;
      case 'escalated':
        this.incident(e, 'critical', `${e.path} gave up`, e.reason ?? 'reached max restart intensity');
        break;
      case 'node_down':
        this.nodeEvents.set(e.node, { status: 'down', at: e.at });
        if (this.incidents.last()?.title !== `node ${e.node} down`) {
          this.incident(e, 'critical', `node ${e.node} down`, `${e.reason ?? ''}${e.observer ? ` (seen by ${e.observer})` : ''}`);
        }
        break;
      case 'node_up':
        if (this.nodeEvents.get(e.node)?.status === 'down') this.incident(e, 'info', `node ${e.node} up again`, e.reason ?? '');
        this.nodeEvents.set(e.node, { status: 'up', at: e.at });
        break;
    }
  }

  /**
   * Every crash is a dead letter. One while processing a message comes with that
   * message's dead letter (the runtime sends it right after the crash); one on an
   * internal event (a timer, an invoked actor's result, as the demo's servants do) has
   * no message to dead-letter, so the inspector records the internal event as one.
   */
  private crashesAsDeadLetters(): void {
    const now = Date.now();
    for (const [k, { event: e, seen }] of this.unmatchedCrashes) {
      if (now - seen < CRASH_MATCH_MS) continue;
      this.unmatchedCrashes.delete(k);
      this.onEvent({
        type: 'dead_letter',
        node: e.node,
        at: e.at,
        path: e.path!,
        reason: 'crashed',
        detail: `${e.path} crashed on an internal event (a timer or an invoked actor's result), not on a message: ${e.reason ?? e.error ?? 'error'}`,
        ...(e.error !== undefined ? { error: e.error } : {}),
        envelope: { id: `crash:${e.node}:${e.path}#${e.incarnation ?? 0}`, from: e.path!, to: e.path!, type: '(internal event)' },
      });
    }
  }

  private incident(e: SourceEvent, severity: Incident['severity'], title: string, detail: string): void {
    this.incidents.push({
      id: this.incidents.total + 1,
      at: e.at,
      severity,
      node: e.node,
      ...(e.path !== undefined ? { path: e.path } : {}),
      title,
      detail,
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.unsubscribe();
    this.unwatch?.();
    this.listeners.clear();
    await this.sampling?.catch(() => undefined);
  }
}

function key(node: string, path: string): string {
  return `${node}${path}`;
}

function intensityOf(a: { path: string; strategy?: string; intensity?: number; period?: number; restartsInPeriod?: number }): IntensityInfo | null {
  if (a.intensity === undefined) return null;
  return {
    path: a.path,
    strategy: a.strategy ?? 'one_for_one',
    intensity: a.intensity,
    period: a.period ?? 0,
    restartsInPeriod: a.restartsInPeriod ?? 0,
  };
}

function emptyTree(source: InspectorSource): TreeSnapshot {
  return { source: { kind: source.kind, label: source.label }, at: 0, nodes: [], actors: [], alerts: [], truncated: 0 };
}
