/**
 * The built-in demo load, so that a tree started with `npm start` is visibly alive:
 * a development task every `everyMs` with a random priority, every `crashEvery`-th
 * one a task whose handler crashes its servant once (the task is re-queued and
 * completes on its second attempt), and now and then a proposal to the council to
 * scale the servants. Runs as role `demo`: it may submit and follow tasks and propose.
 */
import { assign, setup } from 'xstate';
import { askElder, tellElder, type Payload } from './messages.js';
import { fromRuntime } from './orphans.js';
import { ELDER_ADDRESSES } from './paths.js';
import type { ClaudeElderEvent, ElderAddress } from './protocol.js';

/** A development task, as the claude elder takes it. */
type Submission = Omit<Extract<ClaudeElderEvent, { type: 'development.task.submit' }>, 'type'>;

export interface DemoInput {
  everyMs?: number;
  /** Every n-th task crashes its servant once; 0 = never. */
  crashEvery?: number;
  /** ms between scaling proposals; 0 = never. */
  proposeEveryMs?: number;
  claudeElder?: ElderAddress<'claude-elder'>;
  council?: ElderAddress<'elder-council'>;
}

export interface DemoContext {
  everyMs: number;
  crashEvery: number;
  proposeEveryMs: number;
  claudeElder: ElderAddress<'claude-elder'>;
  council: ElderAddress<'elder-council'>;
  submitted: number;
  lastProposalAt: number;
  lastAnswer: Payload | undefined;
}

const WORK: { title: string; description: string }[] = [
  { title: 'Fingerprint the release notes', description: 'checksum of the release notes for the changelog' },
  { title: 'Slug for the new guide', description: 'make a url slug: Getting Started With Elder Trees' },
  { title: 'Count the words of the design', description: 'count words in: every elder is a working state machine under supervision' },
  { title: 'Hash the nightly payload', description: 'digest of payload nightly-build-artifacts' },
  { title: 'Shout the motto', description: 'upper case: let it crash, then learn' },
  { title: 'Pause between batches', description: 'sleep and wait for the batch window' },
];

/** The n-th demo submission. */
export function demoTask(n: number, crashEvery: number, random: () => number = Math.random): Submission {
  if (crashEvery > 0 && n % crashEvery === 0) {
    return { title: `Unstable job #${n} (injected crash)`, description: 'a handler that crashes its servant once', priority: 7, handler: 'crash', input: { times: 1 } };
  }
  const work = WORK[Math.floor(random() * WORK.length)]!;
  return { ...work, title: `${work.title} #${n}`, priority: Math.floor(random() * 10) };
}

export const demoLoadMachine = setup({
  types: { context: {} as DemoContext, input: {} as DemoInput | undefined },
  actors: {
    submit: fromRuntime<{ answer: Payload; proposed: boolean }, { context: DemoContext }>('the demo', async ({ input, runtime }) => {
      const c = input.context;
      const n = c.submitted + 1;
      const proposed = c.proposeEveryMs > 0 && Date.now() - c.lastProposalAt >= c.proposeEveryMs;
      if (proposed) {
        // Alternate between 3 and 5 servants: the council votes, the pool scales.
        tellElder(runtime, c.council, { type: 'council.propose', kind: 'scale_servants', count: n % 2 === 0 ? 5 : 3, reason: 'demo load: resize the pool' });
      }
      const answer = await askElder(runtime, c.claudeElder, { type: 'development.task.submit', ...demoTask(n, c.crashEvery) }, { timeout: 5000 });
      return { answer, proposed };
    }),
  },
  delays: { every: ({ context }) => context.everyMs },
}).createMachine({
  id: 'demo-load',
  context: ({ input }) => ({
    everyMs: input?.everyMs ?? 1500,
    crashEvery: input?.crashEvery ?? 7,
    proposeEveryMs: input?.proposeEveryMs ?? 60_000,
    claudeElder: input?.claudeElder ?? ELDER_ADDRESSES.claudeElder,
    council: input?.council ?? ELDER_ADDRESSES.council,
    submitted: 0,
    lastProposalAt: Date.now(),
    lastAnswer: undefined,
  }),
  initial: 'waiting',
  states: {
    waiting: { after: { every: 'submitting' } },
    submitting: {
      invoke: {
        src: 'submit',
        input: ({ context }) => ({ context }),
        onDone: {
          target: 'waiting',
          actions: assign(({ context, event }) => ({
            submitted: context.submitted + 1,
            lastAnswer: event.output.answer,
            lastProposalAt: event.output.proposed ? Date.now() : context.lastProposalAt,
          })),
        },
        // The elders may be restarting or moving: try again at the next tick.
        onError: { target: 'waiting', actions: assign({ submitted: ({ context }) => context.submitted + 1 }) },
      },
    },
  },
});
