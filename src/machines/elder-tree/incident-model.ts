/**
 * The incident sage's knowledge as plain data and pure functions.
 *
 * Incidents: a crash, an escalation, a node going down or a burst of dead letters
 * opens one, keyed by actor path and error signature (the reason with numbers, ids
 * and quoted values blanked out, and numbered siblings like servant-3 folded into
 * servant-*). A recovery then shows up in the event stream: the supervisor restarted
 * the actor, the parent restarted the subtree, a standby took over, the council
 * quarantined it... The incident watches that action; quiet for `quietMs` afterwards
 * means it worked (resolved, one success for signature -> action), the same crash
 * again means it did not (one failure). The next incident with a known signature
 * carries the action that worked best as its proposal.
 *
 * Risk per actor path, in [0, 1], from trends:
 *   restarts  1 - exp(-R/2), R = sum of exp(-age/tau) over recent crashes (a decaying rate)
 *   mailbox   growth of the mailbox between samples (msgs/s) or its backlog
 *   latency   a fast moving average of task latency against a slow one
 *   score = min(1, 0.8 restarts + 0.5 mailbox + 0.4 latency)
 * An alert is raised when the score reaches `threshold` and cleared below `clearBelow`.
 */

export type IncidentKind = 'crash' | 'escalation' | 'node_down' | 'dead_letter_burst';

export interface Incident {
  id: string;
  kind: IncidentKind;
  signature: string;
  /** The actor (or for node_down, the node's name). */
  subject: string;
  node?: string;
  status: 'open' | 'recovering' | 'resolved';
  openedAt: number;
  updatedAt: number;
  occurrences: number;
  reason: string;
  /** The recovery being watched. */
  action?: string;
  actionAt?: number;
  resolvedAt?: number;
  resolvedBy?: string;
  /** What worked before for this signature, when the incident opened. */
  proposal?: Proposal;
}

export interface Proposal {
  action: string;
  successes: number;
  failures: number;
}

export type Learned = Record<string, Record<string, { successes: number; failures: number }>>;

export interface RiskSeries {
  crashes: number[];
  /** Mailbox samples per node (replicated actors share a path). */
  mailbox: Record<string, { at: number; size: number }[]>;
  latencyFast?: number;
  latencySlow?: number;
  score: number;
  alerted: boolean;
  lastEventAt: number;
}

export interface IncidentConfig {
  quietMs: number;
  tauMs: number;
  threshold: number;
  clearBelow: number;
  /** Dead letters of one reason to one target within a window that make a burst. */
  burstThreshold: number;
  maxIncidents: number;
}

export interface IncidentState {
  incidents: Record<string, Incident>;
  /** Incident ids in opening order (eviction of resolved ones). */
  order: string[];
  nextId: number;
  learned: Learned;
  risk: Record<string, RiskSeries>;
  /** Latest time seen (events and ticks): queries compute risk at this time. */
  clock: number;
}

export type Observation =
  | { kind: 'lifecycle'; type: string; path: string; node: string; incarnation: number; reason?: string; at: number }
  | { kind: 'node_down' | 'node_up'; node: string; reason: string; at: number }
  | { kind: 'dead_letters'; reason: string; target: string; count: number; detail?: string; at: number }
  | { kind: 'decision'; action: string; target?: string; at: number };

/** What the sage should say or do after a step. */
export type Notice =
  | { kind: 'opened'; incident: Incident }
  | { kind: 'resolved'; incident: Incident }
  | { kind: 'alert' | 'cleared'; path: string; score: number; components: RiskComponents }
  | { kind: 'propose'; incident: Incident; proposal: Proposal };

export interface RiskComponents {
  restarts: number;
  mailbox: number;
  latency: number;
}

export const emptyIncidentState = (): IncidentState => ({ incidents: {}, order: [], nextId: 1, learned: {}, risk: {}, clock: 0 });

export const DEFAULT_INCIDENT_CONFIG: IncidentConfig = {
  quietMs: 5_000,
  tauMs: 30_000,
  threshold: 0.6,
  clearBelow: 0.45,
  burstThreshold: 20,
  maxIncidents: 500,
};

// ---- signatures ----------------------------------------------------------------------

/** A reason without what differs between occurrences of the same fault. */
export function normalizeReason(reason: string): string {
  return reason
    .toLowerCase()
    .replace(/"[^"]*"|'[^']*'/g, '"…"')
    .replace(/0x[0-9a-f]+/g, '#')
    .replace(/\b[0-9a-f]{8,}\b/g, '#')
    .replace(/\d+(\.\d+)?/g, '#')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 160);
}

/** `/grand-elder/servants/servant-3` -> `/grand-elder/servants/servant-*`. */
export function pathPattern(path: string): string {
  return path
    .split('/')
    .map((t) => t.replace(/-\d+$/, '-*'))
    .join('/');
}

export function signatureOf(kind: IncidentKind, subject: string, reason: string): string {
  if (kind === 'node_down') return 'node_down:*';
  return `${kind}:${pathPattern(subject)}:${normalizeReason(reason)}`;
}

// ---- learning ------------------------------------------------------------------------

/** The action that worked best for a signature: more successes than failures, most net successes. */
export function bestAction(learned: Learned, signature: string): Proposal | undefined {
  const actions = learned[signature];
  if (!actions) return undefined;
  let best: Proposal | undefined;
  for (const [action, { successes, failures }] of Object.entries(actions)) {
    if (successes <= failures) continue;
    const candidate = { action, successes, failures };
    if (
      !best ||
      successes - failures > best.successes - best.failures ||
      (successes - failures === best.successes - best.failures && (successes > best.successes || (successes === best.successes && action < best.action)))
    ) {
      best = candidate;
    }
  }
  return best;
}

function learn(learned: Learned, signature: string, action: string, outcome: 'successes' | 'failures'): Learned {
  const forSig = learned[signature] ?? {};
  const stats = forSig[action] ?? { successes: 0, failures: 0 };
  return { ...learned, [signature]: { ...forSig, [action]: { ...stats, [outcome]: stats[outcome] + 1 } } };
}

// ---- incidents -----------------------------------------------------------------------

function put(state: IncidentState, incident: Incident): IncidentState {
  return { ...state, incidents: { ...state.incidents, [incident.id]: incident } };
}

function findOpen(state: IncidentState, pred: (i: Incident) => boolean): Incident | undefined {
  // Newest first: the most recent matching incident is the one a new event is about.
  for (let k = state.order.length - 1; k >= 0; k--) {
    const i = state.incidents[state.order[k]!];
    if (i && i.status !== 'resolved' && pred(i)) return i;
  }
  return undefined;
}

/** Opens an incident, or counts one more occurrence of the open one. A repeat during recovery means the action failed. */
function occur(
  state: IncidentState,
  kind: IncidentKind,
  subject: string,
  reason: string,
  at: number,
  node: string | undefined,
  notices: Notice[],
): IncidentState {
  const signature = signatureOf(kind, subject, reason);
  const open = findOpen(state, (i) => i.subject === subject && i.signature === signature);
  if (open) {
    let learned = state.learned;
    let incident: Incident = { ...open, occurrences: open.occurrences + 1, updatedAt: at, reason };
    if (open.status === 'recovering' && open.action) {
      learned = learn(learned, signature, open.action, 'failures');
      const { action: _a, actionAt: _t, ...rest } = incident;
      incident = { ...rest, status: 'open' };
    }
    return put({ ...state, learned }, incident);
  }
  const proposal = bestAction(state.learned, signature);
  const incident: Incident = {
    id: `i${state.nextId}`,
    kind,
    signature,
    subject,
    ...(node !== undefined ? { node } : {}),
    status: 'open',
    openedAt: at,
    updatedAt: at,
    occurrences: 1,
    reason,
    ...(proposal ? { proposal } : {}),
  };
  notices.push({ kind: 'opened', incident });
  if (proposal) notices.push({ kind: 'propose', incident, proposal });
  return put({ ...state, nextId: state.nextId + 1, order: [...state.order, incident.id] }, incident);
}

/**
 * An open incident (without an action yet) matching `pred` now watches `action`. A
 * deliberate decision (`override`: the council quarantined it) replaces an automatic
 * recovery already being watched.
 */
function recovering(state: IncidentState, pred: (i: Incident) => boolean, action: string, at: number, override = false): IncidentState {
  let next = state;
  for (const id of state.order) {
    const i = next.incidents[id]!;
    const free = i.status === 'open' && !i.action;
    if ((free || (override && i.status === 'recovering')) && pred(i)) next = put(next, { ...i, status: 'recovering', action, actionAt: at, updatedAt: at });
  }
  return next;
}

function resolve(state: IncidentState, id: string, action: string, at: number, notices: Notice[]): IncidentState {
  const i = state.incidents[id]!;
  const incident: Incident = { ...i, status: 'resolved', resolvedAt: at, resolvedBy: action, updatedAt: at };
  notices.push({ kind: 'resolved', incident });
  return put({ ...state, learned: learn(state.learned, i.signature, action, 'successes') }, incident);
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + '/');

// ---- risk ----------------------------------------------------------------------------

function series(state: IncidentState, path: string, at: number): RiskSeries {
  return state.risk[path] ?? { crashes: [], mailbox: {}, score: 0, alerted: false, lastEventAt: at };
}

export function riskComponents(s: RiskSeries, now: number, config: IncidentConfig): RiskComponents {
  let rate = 0;
  for (const t of s.crashes) rate += Math.exp(-Math.max(0, now - t) / config.tauMs);
  const restarts = 1 - Math.exp(-rate / 2);
  let mailbox = 0;
  for (const samples of Object.values(s.mailbox)) {
    const last = samples[samples.length - 1];
    const first = samples[0];
    if (!last || !first) continue;
    const seconds = Math.max(1, (last.at - first.at) / 1000);
    const growth = Math.max(0, (last.size - first.size) / seconds) / 20;
    mailbox = Math.max(mailbox, Math.min(1, growth), Math.min(1, last.size / 500));
  }
  let latency = 0;
  if (s.latencyFast !== undefined && s.latencySlow !== undefined && s.latencyFast > 5) {
    latency = Math.min(1, Math.max(0, (s.latencyFast / Math.max(1, s.latencySlow) - 1.5) / 3));
  }
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { restarts: round(restarts), mailbox: round(mailbox), latency: round(latency) };
}

export function riskScore(c: RiskComponents): number {
  return Math.round(Math.min(1, 0.8 * c.restarts + 0.5 * c.mailbox + 0.4 * c.latency) * 1000) / 1000;
}

/** Recomputes one path's score at `now`; alerts past the threshold, clears below the lower one. */
function rescore(state: IncidentState, path: string, now: number, config: IncidentConfig, notices: Notice[]): IncidentState {
  const s = state.risk[path];
  if (!s) return state;
  const components = riskComponents(s, now, config);
  const score = riskScore(components);
  let alerted = s.alerted;
  if (!alerted && score >= config.threshold) {
    alerted = true;
    notices.push({ kind: 'alert', path, score, components });
  } else if (alerted && score < config.clearBelow) {
    alerted = false;
    notices.push({ kind: 'cleared', path, score, components });
  }
  if (score === s.score && alerted === s.alerted) return state;
  return { ...state, risk: { ...state.risk, [path]: { ...s, score, alerted } } };
}

function withSeries(state: IncidentState, path: string, s: RiskSeries): IncidentState {
  return { ...state, risk: { ...state.risk, [path]: s } };
}

// ---- steps ---------------------------------------------------------------------------

/** One observation from the event bridge (or a council decision). */
export function observe(state: IncidentState, obs: Observation, config: IncidentConfig): { state: IncidentState; notices: Notice[] } {
  const notices: Notice[] = [];
  let next: IncidentState = { ...state, clock: Math.max(state.clock, obs.at) };
  const at = obs.at;
  switch (obs.kind) {
    case 'lifecycle': {
      const { path, type } = obs;
      if (type === 'crashed') {
        const s = series(next, path, at);
        next = withSeries(next, path, { ...s, crashes: [...s.crashes.slice(-19), at], lastEventAt: at });
        next = occur(next, 'crash', path, obs.reason ?? 'crashed', at, obs.node, notices);
        next = rescore(next, path, next.clock, config, notices);
      } else if (type === 'escalated') {
        next = occur(next, 'escalation', path, obs.reason ?? 'escalated', at, obs.node, notices);
      } else if (type === 'restarted') {
        // The supervisor restarted it; for a supervisor, its parent restarted the whole subtree.
        next = recovering(next, (i) => i.subject === path && i.kind === 'crash', 'restart', at);
        next = recovering(next, (i) => i.subject === path && i.kind === 'escalation', 'restart_subtree', at);
      } else if (type === 'started') {
        // Started on another node while one is down: a standby took over.
        next = recovering(next, (i) => i.kind === 'node_down' && i.subject !== obs.node, 'failover', at);
        next = recovering(next, (i) => i.subject === path && i.kind !== 'node_down', 'restart', at);
      }
      break;
    }
    case 'node_down': {
      const open = findOpen(next, (i) => i.kind === 'node_down' && i.subject === obs.node);
      // Every survivor reports the same node: one incident, counted once per report.
      next = open ? put(next, { ...open, occurrences: open.occurrences + 1, updatedAt: at }) : occur(next, 'node_down', obs.node, obs.reason, at, obs.node, notices);
      break;
    }
    case 'node_up':
      next = recovering(next, (i) => i.kind === 'node_down' && i.subject === obs.node, 'node_rejoined', at);
      break;
    case 'dead_letters': {
      if (obs.count < config.burstThreshold) break;
      next = occur(next, 'dead_letter_burst', obs.target, obs.reason, at, undefined, notices);
      // Bursts are watched as they are: quiet afterwards means they subsided.
      next = recovering(next, (i) => i.kind === 'dead_letter_burst' && i.subject === obs.target, 'wait', at);
      break;
    }
    case 'decision': {
      const target = obs.target;
      if (target) next = recovering(next, (i) => under(i.subject, target) && i.kind !== 'node_down', obs.action, at, true);
      break;
    }
  }
  return { state: next, notices };
}

/** Mailbox sizes from one node's view. */
export function sampleMailboxes(state: IncidentState, node: string, at: number, samples: { path: string; mailbox: number }[], config: IncidentConfig): { state: IncidentState; notices: Notice[] } {
  const notices: Notice[] = [];
  let next: IncidentState = { ...state, clock: Math.max(state.clock, at) };
  for (const { path, mailbox } of samples) {
    const known = next.risk[path];
    // Idle actors with empty mailboxes are not worth a series.
    if (!known && mailbox === 0) continue;
    const s = series(next, path, at);
    const mine = [...(s.mailbox[node] ?? []).slice(-5), { at, size: mailbox }];
    next = withSeries(next, path, { ...s, mailbox: { ...s.mailbox, [node]: mine }, lastEventAt: mailbox > 0 ? at : s.lastEventAt });
    next = rescore(next, path, next.clock, config, notices);
  }
  return { state: next, notices };
}

/** Task latencies per servant path from the task sage. */
export function sampleLatency(state: IncidentState, at: number, samples: { path: string; latencyMs: number }[], config: IncidentConfig): { state: IncidentState; notices: Notice[] } {
  const notices: Notice[] = [];
  let next: IncidentState = { ...state, clock: Math.max(state.clock, at) };
  for (const { path, latencyMs } of samples) {
    const s = series(next, path, at);
    const fast = s.latencyFast === undefined ? latencyMs : 0.3 * latencyMs + 0.7 * s.latencyFast;
    const slow = s.latencySlow === undefined ? latencyMs : 0.05 * latencyMs + 0.95 * s.latencySlow;
    next = withSeries(next, path, { ...s, latencyFast: fast, latencySlow: slow, lastEventAt: at });
    next = rescore(next, path, next.clock, config, notices);
  }
  return { state: next, notices };
}

/** The clock: watched recoveries quiet long enough are resolved; every score decays. */
export function tick(state: IncidentState, now: number, config: IncidentConfig): { state: IncidentState; notices: Notice[] } {
  const notices: Notice[] = [];
  let next: IncidentState = { ...state, clock: Math.max(state.clock, now) };
  for (const id of next.order) {
    const i = next.incidents[id]!;
    if (i.status === 'recovering' && i.action && i.actionAt !== undefined && now - i.actionAt >= config.quietMs) {
      next = resolve(next, id, i.action, now, notices);
    }
  }
  for (const path of Object.keys(next.risk)) {
    next = rescore(next, path, next.clock, config, notices);
    const s = next.risk[path]!;
    // Forget actors quiet for a long time once their score has decayed.
    if (!s.alerted && s.score < 0.01 && next.clock - s.lastEventAt > 10 * config.tauMs) {
      const risk = { ...next.risk };
      delete risk[path];
      next = { ...next, risk };
    }
  }
  return { state: evictIncidents(next, config.maxIncidents), notices };
}

/** A person (or another tool) says how an incident was resolved: that is learned too. */
export function resolveManually(state: IncidentState, id: string, action: string, at: number): { state: IncidentState; notices: Notice[] } | undefined {
  const i = state.incidents[id];
  if (!i || i.status === 'resolved') return undefined;
  const notices: Notice[] = [];
  return { state: resolve({ ...state, clock: Math.max(state.clock, at) }, id, action, at, notices), notices };
}

function evictIncidents(state: IncidentState, max: number): IncidentState {
  if (state.order.length <= max) return state;
  const incidents = { ...state.incidents };
  const order = state.order.slice();
  for (let k = 0; k < order.length && order.length > max; ) {
    if (incidents[order[k]!]!.status === 'resolved') {
      delete incidents[order[k]!];
      order.splice(k, 1);
    } else k++;
  }
  return { ...state, incidents, order };
}

/** Scores at the sage's clock, highest first. */
export function riskTable(state: IncidentState, config: IncidentConfig): { path: string; score: number; alerted: boolean; components: RiskComponents }[] {
  return Object.entries(state.risk)
    .map(([path, s]) => {
      const components = riskComponents(s, state.clock, config);
      return { path, score: riskScore(components), alerted: s.alerted, components };
    })
    .sort((a, b) => b.score - a.score || a.path.localeCompare(b.path));
}
