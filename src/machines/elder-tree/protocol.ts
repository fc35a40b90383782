/**
 * The Elder Tree's protocol: every elder's messages, declared once as zod schemas of
 * their fields, with the event types the machines take derived from them and the reply
 * of each ask declared with `Ask<...>`. The kinds (kinds.ts) carry these schemas, so a
 * message from the wire that does not fit is a `malformed` dead letter at the node
 * boundary; local senders are checked by the compiler instead.
 *
 * This module holds types and schemas only, and imports no machine: every machine
 * imports it, and an elder names another by kind name (`Address<'task-sage'>`), so no
 * machine's type depends on another's.
 *
 * What a schema checks is the shape (fields and their types). What it cannot see
 * (unknown ids, limits, lengths, a full queue) the elder still refuses itself, with a
 * `{ ok: false, error }` answer a person can read.
 */
import { z } from 'zod';
import type { Address, Ask } from '../../actors/kind.js';
import type { Hit } from './bm25.js';
import type { Incident, Learned, RiskComponents } from './incident-model.js';
import {
  decisionSchema,
  knowledgeEntrySchema,
  proposalFields,
  proposalSchema,
  servantRefSchema,
  type Assignment,
  type BallotAnswer,
  type Decision,
  type KnowledgeEntry,
} from './shapes.js';

export type { Assignment, Ballot, BallotAnswer, Decision, KnowledgeEntry, Proposal, Tally, Vote } from './shapes.js';

type Payload = Record<string, unknown>;
type Schemas = Record<string, z.ZodType>;

/** The event of type T whose fields the schema S[T] describes. */
export type Msg<S extends Schemas, T extends keyof S & string> = { type: T } & Fields<z.output<S[T]>>;
/** zod types `z.object({})` as `Record<string, never>`: an event without fields is `{ type }`. */
type Fields<O> = O extends Record<string, never> ? (Record<string, never> extends O ? unknown : O) : O;

/**
 * Ask<> for each member of a union of events (one per `kind` of a message): each stays a
 * named Ask<...>, which declarations of the machines can print.
 */
type AskEach<E extends { type: string }, R extends Record<string, unknown>> = E extends unknown ? Ask<E, R> : never;

/** A refusal: the ask resolves, with a reason a person can read. */
export type Refusal = { ok: false; error: string };
/** What an elder answers: `{ ok: true, ... }` or a refusal. */
export type Answer<T extends object = Record<never, never>> = ({ ok: true } & T) | Refusal;

const payload = z.record(z.string(), z.unknown());

const vote = { proposal: proposalSchema, id: z.string().optional() };

// ---- the grand elder (commander) -----------------------------------------------------

export const commanderSchemas = {
  'report.task_completed': z.object({ task: payload }),
  'report.task_failed': z.object({ task: payload }),
  'report.incident': z.object({ event: z.string(), incident: payload, proposal: payload.optional() }),
  // What the incident sage reported, handed on as it came.
  'report.alert': z.object({ kind: z.enum(['risk.alert', 'risk.cleared']), path: z.string(), score: z.number(), components: payload.optional() }),
  'council.tie_break': z.object({ id: z.string().optional(), proposal: payload, ballots: payload.optional() }),
  'council.decided': z.object({ decision: decisionSchema }),
  'elder.emergency_stop': z.object({ reason: z.string().optional() }),
  'elder.resume': z.object({}),
  'elder.status': z.object({}),
};
type CommanderMsg<T extends keyof typeof commanderSchemas> = Msg<typeof commanderSchemas, T>;

export type CommanderStatus = {
  state: 'commanding' | 'halted';
  haltReason?: string;
  counts: Record<string, number>;
  reports: { type: string; at: number; from: string; payload: Payload }[];
  decisions: Payload[];
};

export type CommanderEvent =
  | Ask<CommanderMsg<'report.task_completed'>, Answer>
  | Ask<CommanderMsg<'report.task_failed'>, Answer>
  | Ask<CommanderMsg<'report.incident'>, Answer>
  | Ask<CommanderMsg<'report.alert'>, Answer>
  // The proposal is checked by the grand elder (a bad one gets a reasoned rejection).
  | Ask<CommanderMsg<'council.tie_break'>, { ok: true; verdict: 'approve' | 'reject'; reason: string }>
  | Ask<CommanderMsg<'council.decided'>, Answer>
  | Ask<CommanderMsg<'elder.emergency_stop'>, { ok: true; state: 'halted'; reason?: string }>
  | Ask<CommanderMsg<'elder.resume'>, { ok: true; state: 'commanding' }>
  | Ask<CommanderMsg<'elder.status'>, { ok: true } & CommanderStatus>
  // Handed on unchanged: the claude elder or the council answers the asker.
  | Extract<ClaudeElderEvent, { type: `development.${string}` | 'task.status' }>
  | Extract<CouncilEvent, { type: 'council.propose' | 'council.status' }>;

// ---- the claude elder ----------------------------------------------------------------

const submission = {
  title: z.string(),
  description: z.string().optional(),
  priority: z.number().optional(),
  input: payload.optional(),
  timeoutMs: z.number().optional(),
};

export const claudeElderSchemas = {
  'development.task.submit': z.object({ ...submission, handler: z.string().optional() }),
  'development.task.status': z.object({ id: z.string() }),
  'development.task.list': z.object({ status: z.enum(['queued', 'assigned', 'running', 'completed', 'failed']).optional(), limit: z.number().optional() }),
  'task.status': z.object({ id: z.string() }),
  'development.status': z.object({}),
  'development.halt': z.object({ reason: z.string().optional() }),
  'development.resume': z.object({}),
  'report.to_elder': z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('task'), event: z.string(), task: payload }),
    z.object({ kind: z.literal('incident'), event: z.string(), incident: payload, proposal: payload.optional() }),
    z.object({ kind: z.enum(['risk.alert', 'risk.cleared']), path: z.string(), score: z.number(), components: payload.optional() }),
  ]),
};
type ClaudeMsg<T extends keyof typeof claudeElderSchemas> = Msg<typeof claudeElderSchemas, T>;

export type SubmitAnswer = Answer<{
  id: string;
  status: 'queued';
  handler: string;
  paused: boolean;
  plan: { guidelines: string[]; consulted: { id: string; title: string; score: number }[]; handlerChosenBy: 'the task' | 'the rag sage' | 'default' };
}>;

export type ClaudeElderEvent =
  | Ask<ClaudeMsg<'development.task.submit'>, SubmitAnswer>
  // Handed on to the task sage, which answers the asker.
  | Ask<ClaudeMsg<'development.task.status'>, TaskStatusAnswer>
  | Ask<ClaudeMsg<'development.task.list'>, TaskListAnswer>
  | Ask<ClaudeMsg<'task.status'>, TaskStatusAnswer>
  | Ask<ClaudeMsg<'development.status'>, { ok: true; state: 'working' | 'halted'; haltReason?: string; planning: number; counts: Record<string, number>; recent: Payload[] }>
  | Ask<ClaudeMsg<'development.halt'>, { ok: true; state: 'halted' }>
  | Ask<ClaudeMsg<'development.resume'>, { ok: true; state: 'working' }>
  | AskEach<ClaudeMsg<'report.to_elder'>, Answer>;

// ---- the knowledge sage --------------------------------------------------------------

export const knowledgeSageSchemas = {
  'sage.knowledge.add': z.object({ id: z.string().optional(), title: z.string(), content: z.string(), tags: z.array(z.string()).optional() }),
  'sage.knowledge.get': z.object({ id: z.string() }),
  'sage.knowledge.list': z.object({ tag: z.string().optional(), limit: z.number().optional() }),
  'sage.knowledge.update': z.object({ id: z.string(), title: z.string().optional(), content: z.string().optional(), tags: z.array(z.string()).optional() }),
  'sage.knowledge.query': z.object({ text: z.string().optional(), tag: z.string().optional(), limit: z.number().optional() }),
  'sage.rag.sync': z.object({}),
  'council.vote': z.object(vote),
};
type KnowledgeMsg<T extends keyof typeof knowledgeSageSchemas> = Msg<typeof knowledgeSageSchemas, T>;

export type KnowledgeSageEvent =
  | Ask<KnowledgeMsg<'sage.knowledge.add'>, Answer<{ entry: KnowledgeEntry }>>
  | Ask<KnowledgeMsg<'sage.knowledge.get'>, Answer<{ entry: KnowledgeEntry }>>
  | Ask<KnowledgeMsg<'sage.knowledge.list'>, Answer<{ total: number; entries: KnowledgeEntry[] }>>
  | Ask<KnowledgeMsg<'sage.knowledge.update'>, Answer<{ entry: KnowledgeEntry }>>
  | Ask<KnowledgeMsg<'sage.knowledge.query'>, Answer<{ entries: KnowledgeEntry[] }>>
  | Ask<KnowledgeMsg<'sage.rag.sync'>, Answer<{ entries: KnowledgeEntry[] }>>
  | Ask<KnowledgeMsg<'council.vote'>, BallotAnswer>;

// ---- the task sage -------------------------------------------------------------------

const taskStatus = z.enum(['queued', 'assigned', 'running', 'completed', 'failed']);
const servant = { servant: servantRefSchema };
const attempt = { id: z.string(), attempt: z.number(), ...servant };

export const taskSageSchemas = {
  'sage.task.submit': z.object({ ...submission, handler: z.string() }),
  'sage.task.status': z.object({ id: z.string() }),
  'task.status': z.object({ id: z.string() }),
  'development.task.status': z.object({ id: z.string() }),
  'sage.task.list': z.object({ status: taskStatus.optional(), limit: z.number().optional() }),
  'development.task.list': z.object({ status: taskStatus.optional(), limit: z.number().optional() }),
  'sage.task.pause': z.object({ reason: z.string().optional() }),
  'sage.task.resume': z.object({}),
  'sage.task.servant_down': z.object({ node: z.string(), path: z.string(), incarnation: z.number(), reason: z.string().optional() }),
  'sage.task.node_down': z.object({ node: z.string(), reason: z.string().optional() }),
  'report.to_sage': z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('ready'), ...servant }),
    z.object({ kind: z.literal('started'), ...attempt }),
    z.object({ kind: z.literal('done'), ...attempt, result: payload, durationMs: z.number() }),
    z.object({ kind: z.literal('failed'), ...attempt, error: z.string(), retryable: z.boolean(), crash: z.boolean().optional() }),
    z.object({ kind: z.literal('lock_busy'), ...attempt, retryAfterMs: z.number(), reason: z.string() }),
  ]),
  'council.vote': z.object(vote),
  tick: z.object({ now: z.number().optional(), boot: z.boolean().optional() }),
};
type TaskMsg<T extends keyof typeof taskSageSchemas> = Msg<typeof taskSageSchemas, T>;
type Report<K extends string> = Extract<TaskMsg<'report.to_sage'>, { kind: K }>;

/** `node`: where the task sage answered (it is a singleton that moves on failover). */
export type TaskStatusAnswer = Answer<{ node?: string; task: Payload }>;
export type TaskListAnswer = Answer<{ node?: string; paused: boolean; counts: Record<string, number>; stats: Payload; waiting: number; tasks: Payload[] }>;
/** The answer to `ready`: a task, or none (ask again). */
export type PullAnswer = Answer<{ task: Assignment | null; for?: string }>;

export type TaskSageEvent =
  | Ask<TaskMsg<'sage.task.submit'>, Answer<{ id: string; status: 'queued'; position: number; paused: boolean }>>
  | Ask<TaskMsg<'sage.task.status'>, TaskStatusAnswer>
  | Ask<TaskMsg<'task.status'>, TaskStatusAnswer>
  | Ask<TaskMsg<'development.task.status'>, TaskStatusAnswer>
  | Ask<TaskMsg<'sage.task.list'>, TaskListAnswer>
  | Ask<TaskMsg<'development.task.list'>, TaskListAnswer>
  | Ask<TaskMsg<'sage.task.pause'>, { ok: true; paused: true }>
  | Ask<TaskMsg<'sage.task.resume'>, { ok: true; paused: false }>
  | Ask<TaskMsg<'sage.task.servant_down'>, Answer<{ requeued: string[] }>>
  | Ask<TaskMsg<'sage.task.node_down'>, Answer<{ requeued: string[] }>>
  | Ask<Report<'ready'>, PullAnswer>
  | Ask<Report<'started'>, Answer<{ go: boolean; reason?: string }>>
  | Ask<Report<'done'>, Answer<{ accepted: boolean }>>
  | Ask<Report<'failed'>, Answer<{ accepted: boolean }>>
  | Ask<Report<'lock_busy'>, Answer>
  | Ask<TaskMsg<'council.vote'>, BallotAnswer>
  | TaskMsg<'tick'>;

// ---- the incident sage ---------------------------------------------------------------

const at = { at: z.number().optional() };

export const incidentSageSchemas = {
  'sage.incident.observe': z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('lifecycle'), event: z.string(), path: z.string(), node: z.string().optional(), incarnation: z.number().optional(), reason: z.string().optional(), ...at }),
    z.object({ kind: z.enum(['node_down', 'node_up']), node: z.string(), reason: z.string().optional(), ...at }),
    z.object({ kind: z.literal('dead_letters'), reason: z.string(), target: z.string(), count: z.number(), detail: z.string().optional(), ...at }),
  ]),
  'sage.incident.metrics': z.object({ node: z.string(), samples: z.array(z.object({ path: z.string(), mailbox: z.number() })), ...at }),
  'sage.task.metrics': z.object({ samples: z.array(z.object({ path: z.string(), node: z.string().optional(), latencyMs: z.number() })), ...at }),
  'sage.incident.list': z.object({ status: z.enum(['open', 'recovering', 'resolved']).optional(), limit: z.number().optional() }),
  'sage.incident.get': z.object({ id: z.string() }),
  'sage.incident.risk': z.object({ path: z.string().optional() }),
  'sage.incident.patterns': z.object({}),
  'sage.incident.resolve': z.object({ id: z.string(), action: z.string() }),
  'council.vote': z.object(vote),
  'council.decided': z.object({ decision: decisionSchema }),
  tick: z.object({ now: z.number().optional() }),
};
type IncidentMsg<T extends keyof typeof incidentSageSchemas> = Msg<typeof incidentSageSchemas, T>;

export type RiskRow = { path: string; score: number; alerted: boolean; components?: RiskComponents };

export type IncidentSageEvent =
  | AskEach<IncidentMsg<'sage.incident.observe'>, Answer>
  | Ask<IncidentMsg<'sage.incident.metrics'>, Answer>
  | Ask<IncidentMsg<'sage.task.metrics'>, Answer>
  | Ask<IncidentMsg<'sage.incident.list'>, Answer<{ total: number; incidents: Incident[] }>>
  | Ask<IncidentMsg<'sage.incident.get'>, Answer<{ incident: Incident }>>
  | Ask<IncidentMsg<'sage.incident.risk'>, Answer<RiskRow | { threshold: number; actors: RiskRow[] }>>
  | Ask<IncidentMsg<'sage.incident.patterns'>, Answer<{ learned: Learned }>>
  | Ask<IncidentMsg<'sage.incident.resolve'>, Answer<{ incident: Incident }>>
  | Ask<IncidentMsg<'council.vote'>, BallotAnswer>
  | Ask<IncidentMsg<'council.decided'>, Answer>
  | IncidentMsg<'tick'>;

// ---- the rag sage --------------------------------------------------------------------

export const ragSageSchemas = {
  'sage.rag.search': z.object({ query: z.string(), k: z.number().optional() }),
  'sage.rag.status': z.object({}),
  'sage.knowledge.changed': z.object({ entry: knowledgeEntrySchema }),
  'council.vote': z.object(vote),
};
type RagMsg<T extends keyof typeof ragSageSchemas> = Msg<typeof ragSageSchemas, T>;

export type RagSageEvent =
  | Ask<RagMsg<'sage.rag.search'>, Answer<{ hits: Hit[]; synced: boolean }>>
  | Ask<RagMsg<'sage.rag.status'>, Answer<{ synced: boolean; docs: number; terms: number; syncError?: string }>>
  | Ask<RagMsg<'sage.knowledge.changed'>, Answer>
  | Ask<RagMsg<'council.vote'>, BallotAnswer>;

// ---- the council ---------------------------------------------------------------------

export const councilSchemas = {
  'council.propose': z.object(proposalFields),
  'sage.incident.propose': z.object(proposalFields),
  'council.status': z.object({}),
  'council.decision': z.object({ id: z.string() }),
};
type CouncilMsg<T extends keyof typeof councilSchemas> = Msg<typeof councilSchemas, T>;

export type CouncilEvent =
  // Answered once the council has decided.
  | Ask<CouncilMsg<'council.propose'>, Answer<{ decision: Decision }>>
  | Ask<CouncilMsg<'sage.incident.propose'>, Answer<{ decision: Decision }>>
  | Ask<
      CouncilMsg<'council.status'>,
      { ok: true; voting: { id: string; summary: string } | null; waiting: { id: string; summary: string }[]; decisions: Decision[] }
    >
  | Ask<CouncilMsg<'council.decision'>, Answer<{ decision: Decision }>>;

// ---- the servants --------------------------------------------------------------------

export const servantPoolSchemas = {
  'council.scale': z.object({ count: z.number() }),
  'council.quarantine': z.object({ target: z.string() }),
  'council.release': z.object({ target: z.string() }),
  'pool.status': z.object({}),
  tick: z.object({}),
};
type PoolMsg<T extends keyof typeof servantPoolSchemas> = Msg<typeof servantPoolSchemas, T>;

export type PoolStatus = Answer<{ desired: number; quarantined: string[]; running: string[]; rev: number; lastError?: string }>;

export type ServantPoolEvent =
  | Ask<PoolMsg<'council.scale'>, PoolStatus>
  | Ask<PoolMsg<'council.quarantine'>, PoolStatus>
  | Ask<PoolMsg<'council.release'>, PoolStatus>
  | Ask<PoolMsg<'pool.status'>, PoolStatus>
  | PoolMsg<'tick'>;

export const servantSchemas = {
  'servant.crash': z.object({ reason: z.string().optional() }),
};
export type ServantEvent = Msg<typeof servantSchemas, 'servant.crash'>;

// ---- names -----------------------------------------------------------------------------

/**
 * Each elder's kind name and the events it takes. The kinds (kinds.ts) bind the names
 * to the machines; effects and asks between elders are typed by name through this map,
 * so that no machine imports another.
 */
export interface ElderProtocols {
  commander: CommanderEvent;
  /** The herald hands every order on to the grand elder: it takes what the grand elder takes. */
  herald: CommanderEvent;
  'claude-elder': ClaudeElderEvent;
  'knowledge-sage': KnowledgeSageEvent;
  'task-sage': TaskSageEvent;
  'incident-sage': IncidentSageEvent;
  'rag-sage': RagSageEvent;
  'elder-council': CouncilEvent;
  'servant-pool': ServantPoolEvent;
  servant: ServantEvent;
}

export type ElderName = keyof ElderProtocols;

/**
 * The address of an elder, by its kind name: plain data `{ path, kind }`. Structural, so
 * that `TaskSage.at(path)` (an `Address<typeof TaskSage>`) and an `Address<'task-sage'>`
 * both fit, and an address of another kind does not.
 */
export type ElderAddress<N extends ElderName> = Pick<Address<N>, 'path' | 'kind'>;

/** An elder's address from its kind name and path. */
export const elderAt = <N extends ElderName>(kind: N, path: string): ElderAddress<N> => ({ path, kind }) as ElderAddress<N>;
