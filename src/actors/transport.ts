import type { ShardCount } from './entity-address.js';
import type { Envelope } from './envelope.js';
import type { DeadLetterReason } from './events.js';

/**
 * The seam between the actor system and the wire (DESIGN.md: swapping the transport is
 * a constructor argument). actors/ and supervision/ only ever see this interface; the
 * in-process and NATS implementations live in transport/.
 */
export interface Transport {
  /** Called once by the node before any actor starts. */
  start(host: TransportHost): Promise<void>;
  /** The queue group actor subscriptions use, if any (tracing: messaging.consumer.group.name). */
  readonly queueGroup?: string;
  /** Acked envelopes sent again so far (metrics: eldertree_acked_resends_total). */
  readonly resends?: number;
  /** Acked envelopes not acknowledged yet: on the wire, and waiting behind a send window (metrics: eldertree_acked_outbox). */
  readonly outboxCounts?: { readonly inFlight: number; readonly waiting: number };
  /** This node now hosts an actor at `path`: other nodes may route to it. */
  register(path: string): void;
  unregister(path: string): void;
  /** This node now owns a shard of an entity kind: mail to its entities comes here. */
  registerShard?(kind: string, shard: number, shards: ShardCount): void;
  unregisterShard?(kind: string, shard: number, shards: ShardCount): void;
  /**
   * Sends an envelope whose target is not hosted here (an actor path, or a node
   * address for replies). Must not throw: failures come back through
   * `host.undeliverable`.
   */
  send(envelope: Envelope): void;
  /**
   * An acked envelope that came in through this transport has met its fate here
   * (processed, or recorded as a dead letter): the transport may acknowledge it now.
   */
  settled?(envelope: Envelope): void;
  /**
   * An acked envelope that came in through this transport was refused (its target's
   * mailbox is full): it stays unacknowledged, and the transport must take its resend
   * as new. Returns false if it did not come in through this transport.
   */
  refused?(envelope: Envelope): boolean;
  /**
   * Mail left in an actor stopped here (it moved, or this node is leaving): send it on
   * to whoever hosts the path now. Returns false to let the node dead-letter it.
   */
  forward?(envelope: Envelope): boolean;
  /** Resolves once everything registered so far is live (e.g. the broker has the subscriptions). */
  flush?(): Promise<void>;
  stop(): Promise<void>;
}

/** What a transport may call on the node it serves. */
export interface TransportHost {
  readonly nodeId: string;
  /**
   * An inbound frame, decoded or not: the node validates it and never throws. `role` is
   * the sender's role as the transport could verify it (e.g. the broker checked it),
   * which authorization trusts over anything written in the envelope.
   */
  receive(frame: unknown, role?: string): void;
  /** A frame that did not even decode; `detail` says why. */
  malformed(detail: string, frame?: unknown): void;
  /** The transport could not deliver `envelope` (e.g. nobody hosts the target). */
  undeliverable(envelope: Envelope, reason: DeadLetterReason, detail: string, error?: Error): void;
}
