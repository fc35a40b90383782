import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { ActorCell } from '../actors/cell.js';
import type { Envelope } from '../actors/envelope.js';
import { isEntityTarget } from '../actors/entity-address.js';
import type { ActorSystem } from '../actors/system.js';
import type { Transport } from '../actors/transport.js';
import { FastHistogram, type HistogramSeries } from './histogram.js';
import { supervisorOf } from './labels.js';

/** What a transport may count for us (NatsTransport: acked frames sent again, and its outbox). */
export type ResendCounter = Pick<Transport, 'resends' | 'outboxCounts'>;

/**
 * Symbol-keyed slots, set only while metrics are on: the codec and JSON skip symbol keys,
 * so nothing reaches the wire, and unlike a WeakMap entry a slot allocates nothing.
 */
const ENQUEUED_AT = Symbol('eldertree.enqueuedAt');
const SERIES = Symbol('eldertree.series');
type Stamped = Envelope & { [ENQUEUED_AT]?: number };
type Labelled = ActorCell & { [SERIES]?: CellSeries };

interface CellSeries {
  owner: NodeMetrics;
  processing: HistogramSeries;
  mailbox: HistogramSeries;
  processed: { n: number };
}

/**
 * One node's Prometheus metrics in a prom-client Registry: latency histograms recorded on
 * the message path (performance.now, only while metrics are on), counters and gauges read
 * from the system when scraped. Labels are bounded: the node, and a supervisor path (an
 * entity region for entities), a dead-letter reason or an ask's destination kind.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly processing = new FastHistogram(
    'eldertree_message_processing_seconds',
    'Time an actor takes to process one message (the XState transition and its actions).',
  );
  private readonly mailboxWait = new FastHistogram('eldertree_mailbox_wait_seconds', 'Time a message waits in the mailbox before processing starts.');
  private readonly askLatency = new FastHistogram('eldertree_ask_duration_seconds', 'Time from an ask to its reply, refusal or timeout.');
  private readonly asks = new Map<string, { at: number; destination: string }>();
  private readonly deadLetters = new Map<string, number>();
  private readonly processedBy = new Map<string, { n: number }>();
  private restarts = new Map<string, number>();
  private askTimeouts = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly system: ActorSystem,
    private readonly transport?: ResendCounter,
  ) {
    const node = system.nodeId;
    this.registry.setDefaultLabels({ node });
    for (const h of [this.processing, this.mailboxWait, this.askLatency]) this.registry.registerMetric(h as unknown as Metric);
    const sub = system.subscribe((event) => {
      if (event.type === 'dead_letter') {
        this.deadLetters.set(event.reason, (this.deadLetters.get(event.reason) ?? 0) + 1);
      } else if (event.type === 'restarted') {
        const sup = supervisorOf(event.path);
        this.restarts.set(sup, (this.restarts.get(sup) ?? 0) + 1);
      }
    });
    this.unsubscribe = () => sub.unsubscribe();
    const self = this;
    const counter = (name: string, help: string, labelNames: string[], read: () => Iterable<[Record<string, string>, number]>) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [labels, v] of read()) this.inc(labels, v);
        },
      });
    counter('eldertree_node_messages_sent_total', 'Envelopes this node made (tells, asks, replies).', [], () => [[{}, self.system.counters.sent]]);
    counter('eldertree_node_messages_processed_total', 'Messages processed, by supervisor (entities by region).', ['supervisor'], () =>
      [...self.processedBy].map(([supervisor, c]) => [{ supervisor }, c.n]),
    );
    counter('eldertree_node_dead_letters_total', 'Dead letters on this node, by reason.', ['reason'], () =>
      [...self.deadLetters].map(([reason, n]) => [{ reason }, n]),
    );
    counter('eldertree_ask_timeouts_total', 'Asks from this node that got no reply in time.', [], () => [[{}, self.askTimeouts]]);
    counter('eldertree_node_restarts_total', 'Restarts of actors, by supervisor.', ['supervisor'], () =>
      [...self.restarts].map(([supervisor, n]) => [{ supervisor }, n]),
    );
    counter('eldertree_acked_resends_total', 'Acknowledged frames sent again because no ack came in time.', [], () => [[{}, self.transport?.resends ?? 0]]);
    new Gauge({
      name: 'eldertree_acked_outbox',
      help: 'Acked messages sent and not acknowledged yet: on the wire (in_flight) or waiting behind their send window (waiting).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const counts = self.transport?.outboxCounts;
        this.set({ state: 'in_flight' }, counts?.inFlight ?? 0);
        this.set({ state: 'waiting' }, counts?.waiting ?? 0);
      },
    });
    const gauge = (name: string, help: string, pick: (cell: ActorCell) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['supervisor'],
        registers: [this.registry],
        collect() {
          this.reset();
          const sums = new Map<string, number>();
          for (const path of self.system.paths) {
            const cell = self.system.cell(path)!;
            const sup = supervisorOf(path);
            sums.set(sup, (sums.get(sup) ?? 0) + pick(cell));
          }
          for (const [supervisor, v] of sums) this.set({ supervisor }, v);
        },
      });
    gauge('eldertree_node_mailbox_depth', 'Messages waiting in mailboxes, by supervisor.', (c) => c.mailbox.size);
    gauge('eldertree_live_actors', 'Actors with a running incarnation, by supervisor.', (c) => (c.status === 'running' ? 1 : 0));
  }

  close(): void {
    this.unsubscribe();
  }

  enqueued(envelope: Envelope): void {
    (envelope as Stamped)[ENQUEUED_AT] = performance.now();
  }

  /** Processes one message (cell.deliver), timing it and its wait in the mailbox. */
  process(cell: ActorCell, envelope: Envelope): void {
    const start = performance.now();
    let series = (cell as Labelled)[SERIES];
    if (series === undefined || series.owner !== this) series = this.seriesOf(cell);
    const queued = (envelope as Stamped)[ENQUEUED_AT];
    if (queued !== undefined) series.mailbox.observe((start - queued) / 1000);
    const processedBefore = cell.processed;
    try {
      cell.deliver(envelope);
    } finally {
      series.processing.observe((performance.now() - start) / 1000);
      if (cell.processed !== processedBefore) series.processed.n++;
    }
  }

  askStarted(envelope: Envelope): void {
    const target = envelope.target_elder;
    const destination = isEntityTarget(target) ? target.slice(0, target.indexOf('/')) : supervisorOf(target);
    this.asks.set(envelope.message_id, { at: performance.now(), destination });
  }

  askEnded(correlationId: string, outcome: 'reply' | 'error' | 'timeout'): void {
    if (outcome === 'timeout') this.askTimeouts++;
    const ask = this.asks.get(correlationId);
    if (ask === undefined) return;
    this.asks.delete(correlationId);
    this.askLatency.of({ destination: ask.destination }).observe((performance.now() - ask.at) / 1000);
  }

  private seriesOf(cell: ActorCell): CellSeries {
    const labels = { supervisor: supervisorOf(cell.path) };
    let processed = this.processedBy.get(labels.supervisor);
    if (processed === undefined) this.processedBy.set(labels.supervisor, (processed = { n: 0 }));
    const s = { owner: this, processing: this.processing.of(labels), mailbox: this.mailboxWait.of(labels), processed };
    (cell as Labelled)[SERIES] = s;
    return s;
  }
}
