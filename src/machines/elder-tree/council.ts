/**
 * The elder council: runs proposals to a vote of the four sages, one at a time, in
 * the order they came. A majority of the votes cast decides; a tie goes to the grand
 * elder; an accepted decision is carried out on the servants (the pool agent of
 * /grand-elder/servants) before it is announced.
 *
 *   idle -> voting -> (tie) tieBreak -> executing -> concluding -> idle
 *                 \-> (majority no) ------------------/
 *
 * Messages:
 *   council.propose {kind: scale_servants, count} | {kind: quarantine|release, target}, reason?
 *       grand elder, operators, the demo -> answered with the decision once made
 *   sage.incident.propose {...same}   the incident sage (what worked before)
 *   council.status | council.decision {id}
 * It asks the sages `council.vote {id, proposal}`, the grand elder
 * `council.tie_break {id, proposal, ballots}`, the servants `council.scale |
 * quarantine | release`, and tells the grand elder and the incident sage
 * `council.decided {decision}`.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { Envelope } from '../../actors/envelope.js';
import { answer, answerLater, askElder, currentEnvelope, deliver, describe, ok, refuse, tellEffect, type Effect } from './messages.js';
import { fromRuntime } from './orphans.js';
import { ELDER_ADDRESSES, SAGE_ADDRESSES, SAGE_DOMAINS, type SageAddresses, type SageDomain } from './paths.js';
import { describeProposal, parseBallot, parseProposal, tally, type Ballot, type Proposal, type Tally } from './proposals.js';
import type { CouncilEvent, Decision, ElderAddress } from './protocol.js';

export type { CouncilEvent, Decision };

export interface CouncilInput {
  sages?: Partial<SageAddresses>;
  commander?: ElderAddress<'commander'>;
  servants?: ElderAddress<'servant-pool'>;
  incident?: ElderAddress<'incident-sage'>;
  voteTimeoutMs?: number;
  maxQueue?: number;
}

interface Pending {
  id: string;
  proposal: Proposal;
  proposer: string;
  reason?: string;
  envelope: Envelope | undefined;
}

export interface CouncilContext {
  sages: SageAddresses;
  commander: ElderAddress<'commander'>;
  servants: ElderAddress<'servant-pool'>;
  incident: ElderAddress<'incident-sage'>;
  voteTimeoutMs: number;
  maxQueue: number;
  queue: Pending[];
  current: Pending | undefined;
  ballots: Partial<Record<SageDomain, Ballot>>;
  tally: Tally | undefined;
  decidedBy: 'majority' | 'grand-elder';
  accepted: boolean;
  verdictReason: string | undefined;
  execution: { ok: boolean; detail: string } | undefined;
  decisions: Decision[];
  nextId: number;
}

const DECISIONS_KEPT = 50;

type VoteOutput = { ballots: Partial<Record<SageDomain, Ballot>> };
type TieOutput = { approve: boolean; reason: string };
type ExecOutput = { ok: boolean; detail: string };

const countOf = (event: unknown): Tally => tally(Object.values((event as { output: VoteOutput }).output.ballots));

function decisionOf(c: CouncilContext): Decision {
  const p = c.current!;
  const t = c.tally!;
  return {
    id: p.id,
    proposal: p.proposal,
    summary: describeProposal(p.proposal),
    proposer: p.proposer,
    ...(p.reason ? { reason: p.reason } : {}),
    ballots: c.ballots,
    tally: t,
    outcome: c.accepted ? 'accepted' : 'rejected',
    decidedBy: c.decidedBy,
    ...(c.verdictReason !== undefined ? { verdictReason: c.verdictReason } : {}),
    ...(c.execution ? { execution: c.execution } : {}),
    at: Date.now(),
  };
}

export const councilMachine = setup({
  types: {
    context: {} as CouncilContext,
    input: {} as CouncilInput | undefined,
    events: {} as CouncilEvent,
  },
  actors: {
    collectVotes: fromRuntime<VoteOutput, { id: string; proposal: Proposal; sages: SageAddresses; timeout: number }>('the council', async ({ input, runtime }) => {
      const ballots: Partial<Record<SageDomain, Ballot>> = {};
      await Promise.all(
        SAGE_DOMAINS.map(async (domain) => {
          try {
            const vote = { type: 'council.vote', id: input.id, proposal: input.proposal } as const;
            const sage = input.sages[domain];
            const answer = await askElder(runtime, sage, vote, { timeout: input.timeout });
            ballots[domain] = parseBallot(answer);
          } catch (err) {
            // A sage that cannot answer does not block the council: it abstains.
            ballots[domain] = { vote: 'abstain', reason: `no answer: ${(err as Error).message}` };
          }
        }),
      );
      return { ballots };
    }),
    askGrandElder: fromRuntime<TieOutput, { id: string; proposal: Proposal; ballots: Partial<Record<SageDomain, Ballot>>; commander: ElderAddress<'commander'>; timeout: number }>(
      'the council',
      async ({ input, runtime }) => {
        const answer = await askElder(runtime, input.commander, { type: 'council.tie_break', id: input.id, proposal: input.proposal, ballots: input.ballots }, { timeout: input.timeout });
        return { approve: answer.verdict === 'approve', reason: typeof answer.reason === 'string' ? answer.reason : String(answer.verdict ?? 'no reason') };
      },
    ),
    execute: fromRuntime<ExecOutput, { proposal: Proposal; servants: ElderAddress<'servant-pool'> }>('the council', async ({ input, runtime }) => {
      const p = input.proposal;
      const options = { timeout: 30_000 };
      const answer =
        p.kind === 'scale_servants'
          ? await askElder(runtime, input.servants, { type: 'council.scale', count: p.count }, options)
          : p.kind === 'quarantine'
            ? await askElder(runtime, input.servants, { type: 'council.quarantine', target: p.target }, options)
            : await askElder(runtime, input.servants, { type: 'council.release', target: p.target }, options);
      if (answer.ok !== true) return { ok: false, detail: typeof answer.error === 'string' ? answer.error : 'the servants refused' };
      return { ok: true, detail: `servants running: ${Array.isArray(answer.running) ? answer.running.join(', ') : '?'}` };
    }),
  },
  guards: {
    hasWork: ({ context }) => context.queue.length > 0,
    tie: ({ event }) => countOf(event).outcome === 'tie',
    majorityYes: ({ event }) => countOf(event).outcome === 'accepted',
    approved: ({ event }) => (event as unknown as { output: TieOutput }).output.approve,
  },
  actions: {
    deliver,
    count: assign(({ event }) => {
      const { ballots } = (event as unknown as { output: VoteOutput }).output;
      return { ballots, tally: tally(Object.values(ballots)) };
    }),
    propose: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'council.propose' && event.type !== 'sage.incident.propose') return;
      const env = currentEnvelope(system);
      const parsed = parseProposal(event);
      const reason = typeof event.reason === 'string' ? event.reason.slice(0, 500) : undefined;
      if (!parsed.ok) {
        enqueue({ type: 'deliver', params: { effects: [answer(event, env, refuse(parsed.error))] } });
        return;
      }
      if (context.queue.length >= context.maxQueue) {
        enqueue({ type: 'deliver', params: { effects: [answer(event, env, refuse(`the council has ${context.queue.length} proposals waiting; try later`))] } });
        return;
      }
      const proposer = env?.source_elder ?? (event.type === 'sage.incident.propose' ? context.sages.incident.path : 'unknown');
      const pending: Pending = { id: `d${context.nextId}`, proposal: parsed.value, proposer, ...(reason ? { reason } : {}), envelope: env };
      enqueue.assign({ queue: [...context.queue, pending], nextId: context.nextId + 1 });
    }),
    status: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      let effect: Effect;
      if (event.type === 'council.decision') {
        const id = event.id as unknown;
        const d = context.decisions.find((x) => x.id === id);
        effect = answer(event, env, d ? ok({ decision: d }) : refuse(`unknown decision ${describe(id)} (the last ${DECISIONS_KEPT} are kept)`));
      } else if (event.type === 'council.status') {
        effect = answer(
          event,
          env,
          ok({
            voting: context.current ? { id: context.current.id, summary: describeProposal(context.current.proposal) } : null,
            waiting: context.queue.map((q) => ({ id: q.id, summary: describeProposal(q.proposal) })),
            decisions: context.decisions.slice(-10),
          }),
        );
      } else return;
      enqueue({ type: 'deliver', params: { effects: [effect] } });
    }),
    conclude: enqueueActions(({ context, enqueue }) => {
      const decision = decisionOf(context);
      const effects: Effect[] = [
        answerLater<Extract<CouncilEvent, { type: 'council.propose' }>>(context.current!.envelope, ok({ decision })),
        tellEffect(context.commander, { type: 'council.decided', decision }),
        tellEffect(context.incident, { type: 'council.decided', decision }),
      ];
      const decisions = [...context.decisions.slice(1 - DECISIONS_KEPT), decision];
      enqueue.assign({ decisions, current: undefined, ballots: {}, tally: undefined, verdictReason: undefined, execution: undefined, decidedBy: 'majority', accepted: false });
      enqueue({ type: 'deliver', params: { effects } });
    }),
  },
}).createMachine({
  id: 'elder-council',
  context: ({ input }) => ({
    sages: { ...SAGE_ADDRESSES, ...input?.sages },
    commander: input?.commander ?? ELDER_ADDRESSES.commander,
    servants: input?.servants ?? ELDER_ADDRESSES.servants,
    incident: input?.incident ?? input?.sages?.incident ?? ELDER_ADDRESSES.incident,
    voteTimeoutMs: input?.voteTimeoutMs ?? 3000,
    maxQueue: input?.maxQueue ?? 20,
    queue: [],
    current: undefined,
    ballots: {},
    tally: undefined,
    decidedBy: 'majority',
    accepted: false,
    verdictReason: undefined,
    execution: undefined,
    decisions: [],
    nextId: 1,
  }),
  on: {
    'council.propose': { actions: 'propose' },
    'sage.incident.propose': { actions: 'propose' },
    'council.status': { actions: 'status' },
    'council.decision': { actions: 'status' },
  },
  initial: 'idle',
  states: {
    idle: { always: { guard: 'hasWork', target: 'voting' } },
    voting: {
      entry: assign(({ context }) => ({ current: context.queue[0], queue: context.queue.slice(1) })),
      invoke: {
        src: 'collectVotes',
        input: ({ context }) => ({ id: context.current!.id, proposal: context.current!.proposal, sages: context.sages, timeout: context.voteTimeoutMs }),
        onDone: [
          { guard: 'tie', target: 'tieBreak', actions: 'count' },
          { guard: 'majorityYes', target: 'executing', actions: ['count', assign({ accepted: true })] },
          { target: 'concluding', actions: 'count' },
        ],
        onError: {
          target: 'concluding',
          actions: assign(({ event }) => ({ tally: { yes: 0, no: 0, abstain: 0, outcome: 'rejected' as const }, verdictReason: `the vote failed: ${(event.error as Error)?.message}` })),
        },
      },
    },
    tieBreak: {
      invoke: {
        src: 'askGrandElder',
        input: ({ context }) => ({
          id: context.current!.id,
          proposal: context.current!.proposal,
          ballots: context.ballots,
          commander: context.commander,
          timeout: context.voteTimeoutMs,
        }),
        onDone: [
          { guard: 'approved', target: 'executing', actions: assign({ decidedBy: 'grand-elder', accepted: true, verdictReason: ({ event }) => event.output.reason }) },
          { target: 'concluding', actions: assign({ decidedBy: 'grand-elder', verdictReason: ({ event }) => event.output.reason }) },
        ],
        onError: {
          target: 'concluding',
          actions: assign({ decidedBy: 'grand-elder', verdictReason: ({ event }) => `the grand elder did not answer (${(event.error as Error)?.message}): rejected` }),
        },
      },
    },
    executing: {
      invoke: {
        src: 'execute',
        input: ({ context }) => ({ proposal: context.current!.proposal, servants: context.servants }),
        onDone: { target: 'concluding', actions: assign({ execution: ({ event }) => event.output }) },
        onError: { target: 'concluding', actions: assign({ execution: ({ event }) => ({ ok: false, detail: (event.error as Error)?.message ?? 'failed' }) }) },
      },
    },
    concluding: {
      entry: 'conclude',
      always: 'idle',
    },
  },
});
