import type { Envelope } from './envelope.js';

/** Why a message was not processed. Every loss has one of these on record. */
export type DeadLetterReason =
  | 'unhandled' // the machine's current state takes no such event
  | 'unknown_target' // no actor at that path (locally or on any transport)
  | 'stopped' // the actor was stopped for good; its mailbox is flushed here
  | 'crashed' // this message made the actor throw
  | 'ask_timeout' // nobody replied in time
  | 'malformed' // a frame that does not decode or validate
  | 'forbidden' // the sender's role may not send this type
  | 'no_reply_target' // reply() outside of an ask
  | 'overflow' // the target's mailbox was at its capacity (a plain tell; an ask is rejected with it)
  | 'undelivered'; // an acked message was never acknowledged within the give-up time

export type LifecycleType = 'started' | 'crashed' | 'exited' | 'restarted' | 'stopped' | 'escalated';

export interface LifecycleEvent {
  type: LifecycleType;
  node: string;
  path: string;
  incarnation: number;
  /** `supervisor` or `worker`. */
  kind: 'worker' | 'supervisor';
  /** crashed: the error message; stopped: shutdown | killed | timeout; escalated: why. */
  reason?: string;
  error?: Error;
  /** restarted/escalated: restarts counted in the supervisor's current period. */
  restarts?: number;
  at: number;
}

export interface DeadLetterEvent {
  type: 'dead_letter';
  node: string;
  reason: DeadLetterReason;
  /** Human sentence naming what was wrong. */
  detail: string;
  /** Absent only when a frame did not even decode. */
  envelope?: Envelope;
  error?: Error;
  at: number;
}

export type SystemEvent = LifecycleEvent | DeadLetterEvent;

export type SystemEventListener = (event: SystemEvent) => void;

/** XState's shape for subscriptions. */
export interface Subscription {
  unsubscribe(): void;
}
