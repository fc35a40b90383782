import type { ActorCell } from './cell.js';
import type { Envelope } from './envelope.js';

/**
 * What metrics and tracing see of the message path. The system holds one observer or
 * none (`system.observer`); with none, each hook costs one property check.
 */
export interface MessageObserver {
  /** A new envelope (tell, ask, reply) before it is routed: tracing stamps `traceparent` here. */
  sent(envelope: Envelope): void;
  /** Into a local mailbox. */
  enqueued(cell: ActorCell, envelope: Envelope): void;
  /** Processes one message: calls `cell.deliver(envelope)` exactly once, timing and tracing it. */
  process(cell: ActorCell, envelope: Envelope): void;
  /** An ask is about to be routed. */
  askStarted(envelope: Envelope): void;
  /** The ask ended: answered, refused (error reply) or timed out. */
  askEnded(correlationId: string, outcome: 'reply' | 'error' | 'timeout'): void;
}
