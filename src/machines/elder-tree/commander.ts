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
import { answer, currentEnvelope, deliver, forwardEffect, keepLast, ok, tellEffect, type Payload } from './messages.js';
import { ELDER_ADDRESSES } from './paths.js';
import { parseProposal, type Proposal } from './proposals.js';
import { type CommanderEvent, type ElderAddress } from './protocol.js';

export type { CommanderEvent };

export interface CommanderInput {
  claudeElder?: ElderAddress<'claude-elder'>;
  council?: ElderAddress<'elder-council'>;
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
  claudeElder: ElderAddress<'claude-elder'>;
  council: ElderAddress<'elder-council'>;
  maxServants: number;
  counts: Record<string, number>;
  reports: ReportRecord[];
  decisions: Payload[];
  haltReason: string | undefined;
}

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

function summarize(event: CommanderEvent): Payload {
  const { type: _type, ...rest } = event;
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
      const record: ReportRecord = { type: event.type, at: Date.now(), from: env?.source_elder ?? 'unknown', payload: summarize(event) };
      enqueue.assign({
        counts: { ...context.counts, [event.type]: (context.counts[event.type] ?? 0) + 1 },
        reports: keepLast(context.reports, record, REPORTS_KEPT),
      });
      enqueue({ type: 'deliver', params: { effects: [answer(event, env, ok())] } });
    }),
    decided: enqueueActions(({ context, event, system, enqueue }) => {
      const decision = event.type === 'council.decided' ? (event.decision as unknown) : undefined;
      if (decision && typeof decision === 'object') enqueue.assign({ decisions: keepLast(context.decisions, decision as Payload, 20) });
      enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), ok())] } });
    }),
    status: enqueueActions(({ context, event, system, self, enqueue }) => {
      const state = self.getSnapshot().matches('halted') ? ('halted' as const) : ('commanding' as const);
      const status = ok({
        state,
        ...(context.haltReason ? { haltReason: context.haltReason } : {}),
        counts: context.counts,
        reports: context.reports.slice(-10),
        decisions: context.decisions.slice(-5),
      });
      enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), status)] } });
    }),
    forward: enqueueActions(({ context, system, enqueue }) => {
      enqueue({ type: 'deliver', params: { effects: [forwardEffect(currentEnvelope(system), context.claudeElder)] } });
    }),
    toCouncil: enqueueActions(({ context, system, enqueue }) => {
      enqueue({ type: 'deliver', params: { effects: [forwardEffect(currentEnvelope(system), context.council)] } });
    }),
    tieBreak: enqueueActions(({ context, event, system, self, enqueue }) => {
      if (event.type !== 'council.tie_break') return;
      const env = currentEnvelope(system);
      // A targetless transition: the snapshot before it is the state it is taken in.
      const halted = self.getSnapshot().matches('halted');
      const parsed = parseProposal(event.proposal ?? {});
      const verdict = parsed.ok
        ? ok(breakTie(parsed.value, halted, context.maxServants))
        : ok({ verdict: 'reject' as const, reason: `not a valid proposal: ${parsed.error}` });
      enqueue({ type: 'deliver', params: { effects: [answer(event, env, verdict)] } });
    }),
  },
}).createMachine({
  id: 'grand-elder',
  context: ({ input }) => ({
    claudeElder: input?.claudeElder ?? ELDER_ADDRESSES.claudeElder,
    council: input?.council ?? ELDER_ADDRESSES.council,
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
            const reason = typeof event.reason === 'string' ? event.reason : 'emergency stop ordered';
            enqueue.assign({ haltReason: reason });
            enqueue({
              type: 'deliver',
              params: { effects: [tellEffect(context.claudeElder, { type: 'development.halt', reason }), answer(event, currentEnvelope(system), ok({ state: 'halted', reason }))] },
            });
          }),
        },
        // Orders are passed on even when they change nothing here: after a restart or a
        // failover, what the claude elder and the task sage hold may differ.
        'elder.resume': {
          actions: enqueueActions(({ context, event, system, enqueue }) =>
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.claudeElder, { type: 'development.resume' }), answer(event, currentEnvelope(system), ok({ state: 'commanding' }))] } }),
          ),
        },
      },
    },
    halted: {
      on: {
        'elder.emergency_stop': {
          actions: enqueueActions(({ context, event, system, enqueue }) =>
            enqueue({
              type: 'deliver',
              params: {
                effects: [
                  tellEffect(context.claudeElder, { type: 'development.halt', reason: context.haltReason ?? 'emergency stop ordered' }),
                  answer(event, currentEnvelope(system), ok({ state: 'halted', reason: context.haltReason })),
                ],
              },
            }),
          ),
        },
        'elder.resume': {
          target: 'commanding',
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            enqueue.assign({ haltReason: undefined });
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.claudeElder, { type: 'development.resume' }), answer(event, currentEnvelope(system), ok({ state: 'commanding' }))] } });
          }),
        },
      },
    },
  },
});
