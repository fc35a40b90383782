import type { ActorCell } from '../actors/cell.js';
import type { Envelope } from '../actors/envelope.js';
import type { MessageObserver } from '../actors/observer.js';
import type { ActorSystem } from '../actors/system.js';
import type { Transport } from '../actors/transport.js';
import { NodeMetrics, type ResendCounter } from './metrics.js';
import { MessageTracer, tracerProviderRegistered } from './tracing.js';

export { NodeMetrics, type ResendCounter } from './metrics.js';
export { MessageTracer, tracerProviderRegistered, formatTraceparent, parseTraceparent, TRACER_NAME } from './tracing.js';
export { FastHistogram, HistogramSeries, LATENCY_BUCKETS } from './histogram.js';
export { supervisorOf, destinationTemplate } from './labels.js';

export interface TelemetryOptions {
  /** Latency histograms and counters in a prom-client Registry (default false: nothing is timed). */
  metrics?: boolean;
  /**
   * OpenTelemetry spans: 'auto' (default) when the application registered an SDK before
   * the node started, else off (no per-message cost at all).
   */
  tracing?: boolean | 'auto';
  /** The node's transport: its acked resends and queue group (Node.start passes it). */
  transport?: ResendCounter & Pick<Transport, 'queueGroup'>;
}

/**
 * A node's metrics and tracing: the system's one MessageObserver while either is on.
 * Off, the system has no observer and the message path checks one property.
 */
export class Telemetry implements MessageObserver {
  readonly metrics: NodeMetrics | undefined;
  readonly tracer: MessageTracer | undefined;

  private constructor(
    private readonly system: ActorSystem,
    options: TelemetryOptions,
  ) {
    const transport = options.transport;
    this.metrics = options.metrics ? new NodeMetrics(system, transport) : undefined;
    const queueGroup = transport?.queueGroup;
    const tracing = options.tracing ?? 'auto';
    this.tracer =
      tracing === true || (tracing === 'auto' && tracerProviderRegistered())
        ? new MessageTracer({ nodeId: system.nodeId, ...(queueGroup !== undefined ? { queueGroup } : {}) })
        : undefined;
  }

  /** Attaches to `system` when metrics or tracing is on; undefined (nothing attached) otherwise. */
  static attach(system: ActorSystem, options: TelemetryOptions = {}): Telemetry | undefined {
    const t = new Telemetry(system, options);
    if (!t.metrics && !t.tracer) return undefined;
    system.observer = t;
    return t;
  }

  detach(): void {
    if (this.system.observer === this) this.system.observer = undefined;
    this.metrics?.close();
  }

  sent(envelope: Envelope): void {
    this.tracer?.sent(envelope);
  }

  enqueued(_cell: ActorCell, envelope: Envelope): void {
    this.metrics?.enqueued(envelope);
  }

  process(cell: ActorCell, envelope: Envelope): void {
    if (this.tracer !== undefined) this.tracer.process(cell, envelope, this.metrics);
    else this.metrics!.process(cell, envelope);
  }

  askStarted(envelope: Envelope): void {
    this.metrics?.askStarted(envelope);
    this.tracer?.askStarted(envelope);
  }

  askEnded(correlationId: string, outcome: 'reply' | 'error' | 'timeout'): void {
    this.metrics?.askEnded(correlationId, outcome);
    this.tracer?.askEnded(correlationId, outcome);
  }
}
