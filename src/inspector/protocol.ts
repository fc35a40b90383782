/**
 * The shapes the inspector's HTTP API and live stream carry. Types only: the page
 * (src/inspector/page, compiled for the browser) imports them too, and type imports
 * vanish at compile time, so no server code reaches the browser.
 */

/** What the page shows per actor; `restarting` covers the gap between a crash and the new incarnation. */
export type ActorStatus = 'running' | 'restarting' | 'down';

export interface NodeInfo {
  node: string;
  status: 'up' | 'down';
  /** ms since its last heartbeat (or its last answer); null when never heard. */
  heartbeatAgeMs: number | null;
  actors: number;
}

export interface IntensityInfo {
  /** Path of the supervisor that counts these restarts. */
  path: string;
  strategy: string;
  intensity: number;
  period: number;
  restartsInPeriod: number;
}

export interface ActorInfo {
  /** `node` + `path` of the copy shown. */
  key: string;
  /** The node whose copy the row shows: the owner of a singleton, the first of several copies. */
  node: string;
  /** Every node running a copy (replicas, children without placement). */
  nodes: string[];
  /** Nodes standing by to take a singleton over. */
  standbys: string[];
  path: string;
  /** Last path token. */
  name: string;
  /** Parent path; null for a root. */
  parent: string | null;
  depth: number;
  kind: 'worker' | 'supervisor';
  status: ActorStatus;
  /** The runtime's own status word (cell status, or supervisor state). */
  rawStatus: string;
  /** XState snapshot value. */
  state: unknown;
  incarnation: number;
  restarts: number;
  /** Its supervisor's restart intensity and use (null for a root). */
  supervisor: IntensityInfo | null;
  /** Supervisors: their own strategy and intensity. */
  own: IntensityInfo | null;
  mailbox: number;
  processed: number;
  /** Messages processed per second, smoothed. */
  rate: number;
  /** Entity regions: the kind, its shard count, active entities over the cluster and the shards each node owns. */
  entities?: { kind: string; shards: number; active: number; activations: number; passivations: number; owners: Record<string, number[]> };
}

export type Severity = 'info' | 'warning' | 'critical';

export interface Alert {
  key: string;
  severity: Severity;
  node?: string;
  path?: string;
  message: string;
  since: number;
}

export interface Incident {
  id: number;
  at: number;
  severity: Severity;
  node: string;
  path?: string;
  title: string;
  detail: string;
}

/** Lifecycle events, dead letters and node up/down, as one feed. */
export interface FeedEvent {
  id: number;
  at: number;
  type: string;
  node: string;
  path?: string;
  incarnation?: number;
  reason?: string;
  detail?: string;
  error?: string;
  envelope?: EnvelopeSummary;
}

export interface EnvelopeSummary {
  id: string;
  from: string;
  to: string;
  type: string;
  corr?: string;
}

/** One arrow of the sequence view: a processed message or a dead letter. */
export interface MessageRecord extends EnvelopeSummary {
  seq: number;
  at: number;
  /** Node that processed it (or recorded the dead letter). */
  node: string;
  /** Set for dead letters: why it was not processed. */
  deadLetter?: string;
}

export interface SeriesPoint {
  t: number;
  /** Messages processed per second over the interval. */
  messages: number;
  restarts: number;
  deadLetters: number;
}

export interface SourceInfo {
  kind: 'node' | 'cluster';
  label: string;
}

export interface TreeSnapshot {
  source: SourceInfo;
  at: number;
  nodes: NodeInfo[];
  /** Depth-first, in start order, merged across nodes. */
  actors: ActorInfo[];
  alerts: Alert[];
  /** Actors left out of the stream past the cap (the API has them all). */
  truncated: number;
}

/** The whole picture, as /api/state returns and the stream opens with. */
export interface FullState {
  tree: TreeSnapshot;
  feed: FeedEvent[];
  incidents: Incident[];
  messages: MessageRecord[];
  series: SeriesPoint[];
}

/** One live push: what changed since the last one. */
export interface LiveUpdate {
  tree?: TreeSnapshot;
  feed?: FeedEvent[];
  incidents?: Incident[];
  messages?: MessageRecord[];
  series?: SeriesPoint[];
}

// ---- statecharts ---------------------------------------------------------------------

export interface ChartTransition {
  event: string;
  /** Target state paths (dot-separated keys from the root, '' is the root). */
  targets: string[];
  guard?: string;
  /** Delayed (`after`) transitions: the delay as written. */
  delay?: string | number;
  actions: string[];
}

export interface ChartNode {
  key: string;
  /** Dot-separated keys from the root; '' for the root. */
  path: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child (compound states). */
  initial?: string;
  transitions: ChartTransition[];
  children: ChartNode[];
  entry: string[];
  exit: string[];
  invoke: string[];
  tags: string[];
}

export interface SnapshotView {
  value: unknown;
  status: string;
  context: unknown;
  /** Active state paths, as in ChartNode.path. */
  active: string[];
}

export interface HistoryEntry {
  seq: number;
  /** When the message was sent (or the incarnation started). */
  at: number;
  incarnation: number;
  /** The message processed; absent for a start/restart marker. */
  event?: { type: string; from: string; id: string; corr?: string; payload: unknown };
  marker?: string;
  snapshot: SnapshotView;
}

export interface ActorDetail {
  node: string;
  path: string;
  kind: 'worker' | 'supervisor';
  /** False when the statechart cannot be read from here (an actor on another node without an agent). */
  available: boolean;
  reason?: string;
  machineId?: string;
  chart?: ChartNode;
  /** Event types the machine takes at all (reserved ones left out). */
  events: string[];
  /** The subset with a transition enabled in the current state. */
  canTake: string[];
  /** True when the machine has a wildcard ('*') handler: any type may be sent. */
  wildcard: boolean;
  snapshot?: SnapshotView;
  history: HistoryEntry[];
  incarnation: number;
}

export interface ApiError {
  error: string;
  message: string;
}
