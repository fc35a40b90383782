import type { ActorView } from '../supervision/node.js';
import type { ActorDetail, EnvelopeSummary, MessageRecord } from './protocol.js';

/**
 * What the inspector reads and does, whatever it is attached to: one local Node
 * (embedded), or a cluster seen over NATS (standalone, or a node joined to one).
 * The server, the page and the API are the same for every source.
 */
export interface InspectorSource {
  readonly kind: 'node' | 'cluster';
  readonly label: string;
  /** Every node's actors now; a cluster source asks over NATS. */
  sample(): Promise<NodeSample[]>;
  /** Lifecycle events, dead letters, node up/down, as they come. */
  events(listener: (event: SourceEvent) => void): () => void;
  /**
   * Someone watches: start recording processed messages (and per-actor history) until
   * the returned function is called. Nobody pays for tracing while nobody watches.
   */
  watch(): () => void;
  /** Message records since `seq` (exclusive), oldest first. */
  messagesSince(seq: number): MessageRecord[];
  /** Statechart, snapshot, enabled events, history; undefined when no such actor. */
  detail(node: string, path: string): Promise<ActorDetail | undefined>;
  /** Debug actions; they throw ActionError for a refusal the caller should see. */
  send(node: string, path: string, type: string, payload: Record<string, unknown>): Promise<{ messageId: string }>;
  restart(node: string, path: string): Promise<{ incarnation: number }>;
  stop(node: string, path: string): Promise<void>;
  /** Readiness: the tree runs (embedded) or NATS is connected and a node answers. */
  ready(): { ok: boolean; reason: string };
  close(): Promise<void>;
}

export interface NodeSample {
  node: string;
  at: number;
  actors: ActorView[];
  /** Membership as this node sees it (cluster sources). */
  members?: { node: string; status: 'up' | 'down'; lastSeen: number }[];
  /** ms since this node's last heartbeat, when the source hears heartbeats itself. */
  heartbeatAgeMs?: number;
}

/** A lifecycle event, a dead letter, or a membership change, flattened for the wire. */
export interface SourceEvent {
  type: string;
  node: string;
  at: number;
  path?: string;
  incarnation?: number;
  kind?: 'worker' | 'supervisor';
  reason?: string;
  detail?: string;
  error?: string;
  restarts?: number;
  envelope?: EnvelopeSummary;
  /** node_up / node_down: the node that noticed. */
  observer?: string;
  /** dead_letter `overflow` from the wire: how many it sums (absent: 1). */
  count?: number;
}

/** A debug action the caller got wrong or that the runtime refused: an HTTP 4xx/5xx. */
export class ActionError extends Error {
  override name = 'ActionError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
