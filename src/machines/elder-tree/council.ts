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
import { currentEnvelope, deliver, describe, ok, refuse, replyEffect, tellEffect, type Effect, type Payload } from './messages.js';
import { fromRuntime } from './orphans.js';
import { ELDER_PATHS, SAGE_DOMAINS, SAGE_PATHS, type SageDomain, type SagePaths } from './paths.js';
import { describeProposal, parseBallot, parseProposal, tally, type Ballot, type Proposal, type Tally } from './proposals.js';

export interface CouncilInput {
  sages?: Partial<SagePaths>;
  commander?: string;
  servants?: string;
  incident?: string;
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

export interface Decision {
  id: string;
  proposal: Proposal;
  summary: string;
  proposer: string;
  reason?: string;
  ballots: Partial<Record<SageDomain, Ballot>>;
  tally: Tally;
  outcome: 'accepted' | 'rejected';
  decidedBy: 'majority' | 'grand-elder';
  verdictReason?: string;
  execution?: { ok: boolean; detail: string };
  at: number;
}

export interface CouncilContext {
  sages: SagePaths;
  commander: string;
  servants: string;
  incident: string;
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

type In<T extends string> = { type: T } & Payload;
type CouncilEvent = In<'council.propose'> | In<'sage.incident.propose'> | In<'council.status'> | In<'council.decision'>;

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
    collectVotes: fromRuntime<VoteOutput, { id: string; proposal: Proposal; sages: SagePaths; timeout: number }>('the council', async ({ input, runtime }) => {
      const ballots: Partial<Record<SageDomain, Ballot>> = {};
      await Promise.all(
        SAGE_DOMAINS.map(async (domain) => {
          try {
            const answer = await runtime.ask(input.sages[domain], 'council.vote', { id: input.id, proposal: input.proposal as unknown as Payload }, { timeout: input.timeout });
            ballots[domain] = parseBallot(answer);
          } catch (err) {
            // A sage that cannot answer does not block the council: it abstains.
            ballots[domain] = { vote: 'abstain', reason: `no answer: ${(err as Error).message}` };
          }
        }),
      );
      return { ballots };
    }),
    askGrandElder: fromRuntime<TieOutput, { id: string; proposal: Proposal; ballots: Payload; commander: string; timeout: number }>('the council', async ({ input, runtime }) => {
      const answer = await runtime.ask(input.commander, 'council.tie_break', { id: input.id, proposal: input.proposal as unknown as Payload, ballots: input.ballots }, { timeout: input.timeout });
      return { approve: answer.verdict === 'approve', reason: typeof answer.reason === 'string' ? answer.reason : String(answer.verdict ?? 'no reason') };
    }),
    execute: fromRuntime<ExecOutput, { proposal: Proposal; servants: string }>('the council', async ({ input, runtime }) => {
      const p = input.proposal;
      const [type, payload] =
        p.kind === 'scale_servants' ? ['council.scale', { count: p.count }] : [p.kind === 'quarantine' ? 'council.quarantine' : 'council.release', { target: p.target }];
      const answer = await runtime.ask(input.servants, type, payload, { timeout: 30_000 });
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
      const env = currentEnvelope(system);
      const p = event as Payload;
      const parsed = parseProposal(p);
      const reason = typeof p.reason === 'string' ? p.reason.slice(0, 500) : undefined;
      if (!parsed.ok) {
        enqueue({ type: 'deliver', params: { effects: [replyEffect(env, refuse(parsed.error))] } });
        return;
      }
      if (context.queue.length >= context.maxQueue) {
        enqueue({ type: 'deliver', params: { effects: [replyEffect(env, refuse(`the council has ${context.queue.length} proposals waiting; try later`))] } });
        return;
      }
      const proposer = env?.source_elder ?? (event.type === 'sage.incident.propose' ? context.sages.incident : 'unknown');
      const pending: Pending = { id: `d${context.nextId}`, proposal: parsed.value, proposer, ...(reason ? { reason } : {}), envelope: env };
      enqueue.assign({ queue: [...context.queue, pending], nextId: context.nextId + 1 });
    }),
    status: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      let answer: Payload;
      if (event.type === 'council.decision') {
        const id = (event as Payload).id;
        const d = context.decisions.find((x) => x.id === id);
        answer = d ? ok({ decision: d as unknown as Payload }) : refuse(`unknown decision ${describe(id)} (the last ${DECISIONS_KEPT} are kept)`);
      } else {
        answer = ok({
          voting: context.current ? { id: context.current.id, summary: describeProposal(context.current.proposal) } : null,
          waiting: context.queue.map((q) => ({ id: q.id, summary: describeProposal(q.proposal) })),
          decisions: context.decisions.slice(-10) as unknown as Payload[],
        });
      }
      enqueue({ type: 'deliver', params: { effects: [replyEffect(env, answer)] } });
    }),
    conclude: enqueueActions(({ context, enqueue }) => {
      const decision = decisionOf(context);
      const payload = { decision: decision as unknown as Payload };
      const effects: Effect[] = [
        replyEffect(context.current!.envelope, ok(payload)),
        tellEffect(context.commander, 'council.decided', payload),
        tellEffect(context.incident, 'council.decided', payload),
      ];
      const decisions = [...context.decisions.slice(1 - DECISIONS_KEPT), decision];
      enqueue.assign({ decisions, current: undefined, ballots: {}, tally: undefined, verdictReason: undefined, execution: undefined, decidedBy: 'majority', accepted: false });
      enqueue({ type: 'deliver', params: { effects } });
    }),
  },
}).createMachine({
  id: 'elder-council',
  context: ({ input }) => ({
    sages: { ...SAGE_PATHS, ...input?.sages },
    commander: input?.commander ?? ELDER_PATHS.commander,
    servants: input?.servants ?? ELDER_PATHS.servants,
    incident: input?.incident ?? input?.sages?.incident ?? ELDER_PATHS.incident,
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
          ballots: context.ballots as unknown as Payload,
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
