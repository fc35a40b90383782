import {
  context,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { ActorCell } from '../actors/cell.js';
import type { Envelope } from '../actors/envelope.js';
import { REPLY_TYPE, ERROR_REPLY_TYPE } from '../actors/envelope.js';
import { destinationTemplate, isEntityCell, supervisorOf } from './labels.js';

export const TRACER_NAME = 'eldertree';
const SYSTEM = 'eldertree';

/** True once the application registered an OpenTelemetry SDK (a tracer provider of its own). */
export function tracerProviderRegistered(): boolean {
  const provider = trace.getTracerProvider();
  // The global is a proxy; with no SDK its delegate is the API's no-op provider, the same
  // one a fresh proxy hands out.
  const delegate = provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return delegate !== new ProxyTracerProvider().getDelegate();
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** W3C trace context `traceparent` (version 00) of a span context. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The remote parent in a `traceparent`; undefined for a malformed or all-zero one (ignored, never refused). */
export function parseTraceparent(value: string): SpanContext | undefined {
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const sc: SpanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
  return isSpanContextValid(sc) ? sc : undefined;
}

export interface MessageTracerOptions {
  nodeId: string;
  /** The NATS queue group actor subjects are subscribed in (on a cluster). */
  queueGroup?: string;
}

/**
 * Spans after OpenTelemetry's messaging semantic conventions: `send <destination>`
 * (producer) for a tell or a reply, `ask <destination>` (client) from an ask to its
 * answer, `process <destination>` (consumer) once per processed message, its parent the
 * envelope's `traceparent`. Sends made while a message is processed are its children.
 */
export class MessageTracer {
  private readonly tracer = trace.getTracer(TRACER_NAME);
  /** The process span's context while a message is processed (processing is synchronous). */
  private current: Context | undefined;
  private readonly asks = new Map<string, Span>();

  constructor(private readonly options: MessageTracerOptions) {}

  private parent(): Context {
    return this.current ?? context.active();
  }

  private base(envelope: Envelope, operation: 'send' | 'process', name: string, template: string): Attributes {
    const a: Attributes = {
      'messaging.system': SYSTEM,
      'messaging.operation.type': operation,
      'messaging.operation.name': name,
      'messaging.destination.name': envelope.target_elder,
      'messaging.destination.template': template,
      'messaging.message.id': envelope.message_id,
      'eldertree.message.type': envelope.message_type,
      'eldertree.source': envelope.source_elder,
      'eldertree.node': this.options.nodeId,
    };
    if (envelope.correlation_id !== undefined) a['messaging.message.conversation_id'] = envelope.correlation_id;
    return a;
  }

  /**
   * A tell (`send <destination>`) or a reply (`reply`: its destination is the asker's
   * temporary inbox, no name worth a span name): a producer span, its context into the envelope.
   */
  sent(envelope: Envelope): void {
    const type = envelope.message_type;
    const isReply = type === REPLY_TYPE || type === ERROR_REPLY_TYPE;
    const template = destinationTemplate(envelope.target_elder);
    const attributes = this.base(envelope, 'send', isReply ? 'reply' : 'send', template);
    if (isReply) {
      delete attributes['messaging.destination.template'];
      attributes['messaging.destination.temporary'] = true;
    }
    const span = this.tracer.startSpan(isReply ? 'reply' : `send ${template}`, { kind: SpanKind.PRODUCER, attributes }, this.parent());
    stamp(envelope, span);
    span.end();
  }

  askStarted(envelope: Envelope): void {
    const template = destinationTemplate(envelope.target_elder);
    const span = this.tracer.startSpan(
      `ask ${template}`,
      { kind: SpanKind.CLIENT, attributes: this.base(envelope, 'send', 'ask', template) },
      this.parent(),
    );
    stamp(envelope, span);
    if (span.isRecording()) this.asks.set(envelope.correlation_id!, span);
    else span.end();
  }

  askEnded(correlationId: string, outcome: 'reply' | 'error' | 'timeout'): void {
    const span = this.asks.get(correlationId);
    if (span === undefined) return;
    this.asks.delete(correlationId);
    span.setAttribute('eldertree.ask.outcome', outcome);
    if (outcome !== 'reply') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome === 'timeout' ? 'ask timed out' : 'ask refused' });
    span.end();
  }

  /** One processed message: a consumer span with the machine's state before and after. */
  process(cell: ActorCell, envelope: Envelope, inner?: { process(cell: ActorCell, envelope: Envelope): void }): void {
    const remote = envelope.traceparent === undefined ? undefined : parseTraceparent(envelope.traceparent);
    const parentCtx = remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : this.parent();
    const template = isEntityCell(cell) ? supervisorOf(cell.path) : cell.path;
    const attributes = this.base(envelope, 'process', 'process', template);
    attributes['messaging.destination.name'] = cell.path;
    if (this.options.queueGroup !== undefined) attributes['messaging.consumer.group.name'] = this.options.queueGroup;
    const span = this.tracer.startSpan(`process ${template}`, { kind: SpanKind.CONSUMER, attributes }, parentCtx);
    const recording = span.isRecording();
    if (recording) span.setAttribute('eldertree.state.before', stateOf(cell));
    const processed = cell.processed;
    const ctx = trace.setSpan(parentCtx, span);
    const outer = this.current;
    this.current = ctx;
    try {
      context.with(ctx, run, undefined, cell, envelope, inner);
    } finally {
      this.current = outer;
      if (recording) {
        span.setAttribute('eldertree.state.after', stateOf(cell));
        span.setAttribute('eldertree.incarnation', cell.incarnation);
        if (cell.processed === processed) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: cell.actor === undefined ? 'the actor crashed' : 'not handled in this state' });
        }
      }
      span.end();
    }
  }
}

function run(cell: ActorCell, envelope: Envelope, inner: { process(cell: ActorCell, envelope: Envelope): void } | undefined): void {
  if (inner !== undefined) inner.process(cell, envelope);
  else cell.deliver(envelope);
}

function stamp(envelope: Envelope, span: Span): void {
  const sc = span.spanContext();
  if (isSpanContextValid(sc)) envelope.traceparent = formatTraceparent(sc);
}

/** The machine's state value as JSON (`"idle"`, `{"red":"walk"}`); `(down)` without an incarnation. */
function stateOf(cell: ActorCell): string {
  const actor = cell.actor;
  if (actor === undefined) return '(down)';
  try {
    return JSON.stringify((actor.getSnapshot() as { value?: unknown }).value ?? null);
  } catch {
    return '(unserialisable)';
  }
}
