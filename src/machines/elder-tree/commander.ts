/**
 * The grand elder: the top commander, and the agent of /grand-elder (mail to the
 * supervisor's path comes here).
 *
 *   commanding --elder.emergency_stop--> halted --elder.resume--> commanding
 *
 * Messages (the grand elder's own rights are `*`; who sends them):
 *   report.*                        the claude elder: task outcomes, incidents, alerts
 *   council.tie_break {proposal, ballots} -> {verdict: approve|reject, reason}   the council
 *   council.decided {decision}      the council
 *   elder.emergency_stop {reason?} | elder.resume | elder.status    operators
 *   development.* and task.status   forwarded to the claude elder, who answers the asker
 *   council.propose | council.status   forwarded to the council, which answers the asker
 */
import { enqueueActions, setup } from 'xstate';
import { currentEnvelope, deliver, keepLast, ok, replyEffect, tellEffect, type Payload } from './messages.js';
import { ELDER_PATHS } from './paths.js';
import { parseProposal, type Proposal } from './proposals.js';

export interface CommanderInput {
  claudeElder?: string;
  council?: string;
  /** The most servants the grand elder approves in a tie. */
  maxServants?: number;
}

export interface ReportRecord {
  type: string;
  at: number;
  from: string;
  payload: Payload;
}

export interface CommanderContext {
  claudeElder: string;
  council: string;
  maxServants: number;
  counts: Record<string, number>;
  reports: ReportRecord[];
  decisions: Payload[];
  haltReason: string | undefined;
}

type In<T extends string> = { type: T } & Payload;
type CommanderEvent =
  | In<`report.${string}`>
  | In<'council.tie_break'>
  | In<'council.decided'>
  | In<'council.propose'>
  | In<'council.status'>
  | In<'elder.emergency_stop'>
  | In<'elder.resume'>
  | In<'elder.status'>
  | In<`development.${string}`>
  | In<'task.status'>;

const REPORTS_KEPT = 50;

/** The grand elder's rule for a tie. */
export function breakTie(proposal: Proposal, halted: boolean, maxServants: number): { verdict: 'approve' | 'reject'; reason: string } {
  if (halted) return { verdict: 'reject', reason: 'development is halted: no changes until it resumes' };
  switch (proposal.kind) {
    case 'scale_servants':
      return proposal.count <= maxServants
        ? { verdict: 'approve', reason: `${proposal.count} servants is within the grand elder's limit of ${maxServants}` }
        : { verdict: 'reject', reason: `${proposal.count} servants is past the grand elder's limit of ${maxServants}` };
    case 'quarantine':
      return { verdict: 'reject', reason: 'without a majority, a servant stays in service' };
    case 'release':
      return { verdict: 'approve', reason: 'a released servant brings capacity back' };
  }
}

function summarize(payload: Payload): Payload {
  const { type: _type, ...rest } = payload;
  return rest;
}

export const commanderMachine = setup({
  types: {
    context: {} as CommanderContext,
    input: {} as CommanderInput | undefined,
    events: {} as CommanderEvent,
  },
  actions: {
    deliver,
    record: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      const record: ReportRecord = { type: event.type, at: Date.now(), from: env?.source_elder ?? 'unknown', payload: summarize(event as Payload) };
      enqueue.assign({
        counts: { ...context.counts, [event.type]: (context.counts[event.type] ?? 0) + 1 },
        reports: keepLast(context.reports, record, REPORTS_KEPT),
      });
      enqueue({ type: 'deliver', params: { effects: [replyEffect(env, ok())] } });
    }),
    decided: enqueueActions(({ context, event, system, enqueue }) => {
      const decision = (event as Payload).decision;
      if (decision && typeof decision === 'object') enqueue.assign({ decisions: keepLast(context.decisions, decision as Payload, 20) });
      enqueue({ type: 'deliver', params: { effects: [replyEffect(currentEnvelope(system), ok())] } });
    }),
    status: enqueueActions(({ context, system, self, enqueue }) => {
      const state = self.getSnapshot().matches('halted') ? 'halted' : 'commanding';
      const answer = ok({
        state,
        ...(context.haltReason ? { haltReason: context.haltReason } : {}),
        counts: context.counts,
        reports: context.reports.slice(-10) as unknown as Payload[],
        decisions: context.decisions.slice(-5),
      });
      enqueue({ type: 'deliver', params: { effects: [replyEffect(currentEnvelope(system), answer)] } });
    }),
    forward: enqueueActions(({ context, system, enqueue }) => {
      enqueue({ type: 'deliver', params: { effects: [{ kind: 'forward', envelope: currentEnvelope(system), to: context.claudeElder }] } });
    }),
    toCouncil: enqueueActions(({ context, system, enqueue }) => {
      enqueue({ type: 'deliver', params: { effects: [{ kind: 'forward', envelope: currentEnvelope(system), to: context.council }] } });
    }),
    tieBreak: enqueueActions(({ context, event, system, self, enqueue }) => {
      const env = currentEnvelope(system);
      // A targetless transition: the snapshot before it is the state it is taken in.
      const halted = self.getSnapshot().matches('halted');
      const parsed = parseProposal(((event as Payload).proposal ?? {}) as Payload);
      const answer = parsed.ok
        ? ok(breakTie(parsed.value, halted, context.maxServants))
        : ok({ verdict: 'reject', reason: `not a valid proposal: ${parsed.error}` });
      enqueue({ type: 'deliver', params: { effects: [replyEffect(env, answer)] } });
    }),
  },
}).createMachine({
  id: 'grand-elder',
  context: ({ input }) => ({
    claudeElder: input?.claudeElder ?? ELDER_PATHS.claudeElder,
    council: input?.council ?? ELDER_PATHS.council,
    maxServants: input?.maxServants ?? 8,
    counts: {},
    reports: [],
    decisions: [],
    haltReason: undefined,
  }),
  on: {
    'report.*': { actions: 'record' },
    'council.decided': { actions: 'decided' },
    'council.tie_break': { actions: 'tieBreak' },
    'elder.status': { actions: 'status' },
    'development.*': { actions: 'forward' },
    'task.status': { actions: 'forward' },
    'council.propose': { actions: 'toCouncil' },
    'council.status': { actions: 'toCouncil' },
  },
  initial: 'commanding',
  states: {
    commanding: {
      on: {
        'elder.emergency_stop': {
          target: 'halted',
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            const reason = typeof (event as Payload).reason === 'string' ? ((event as Payload).reason as string) : 'emergency stop ordered';
            enqueue.assign({ haltReason: reason });
            enqueue({
              type: 'deliver',
              params: { effects: [tellEffect(context.claudeElder, 'development.halt', { reason }), replyEffect(currentEnvelope(system), ok({ state: 'halted', reason }))] },
            });
          }),
        },
        // Orders are passed on even when they change nothing here: after a restart or a
        // failover, what the claude elder and the task sage hold may differ.
        'elder.resume': {
          actions: enqueueActions(({ context, system, enqueue }) =>
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.claudeElder, 'development.resume', {}), replyEffect(currentEnvelope(system), ok({ state: 'commanding' }))] } }),
          ),
        },
      },
    },
    halted: {
      on: {
        'elder.emergency_stop': {
          actions: enqueueActions(({ context, system, enqueue }) =>
            enqueue({
              type: 'deliver',
              params: { effects: [tellEffect(context.claudeElder, 'development.halt', { reason: context.haltReason ?? 'emergency stop ordered' }), replyEffect(currentEnvelope(system), ok({ state: 'halted', reason: context.haltReason }))] },
            }),
          ),
        },
        'elder.resume': {
          target: 'commanding',
          actions: enqueueActions(({ context, system, enqueue }) => {
            enqueue.assign({ haltReason: undefined });
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.claudeElder, 'development.resume', {}), replyEffect(currentEnvelope(system), ok({ state: 'commanding' }))] } });
          }),
        },
      },
    },
  },
});
