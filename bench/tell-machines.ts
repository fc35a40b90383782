/**
 * The machines of the local tell benchmarks (tell.ts, inspector.ts): a counter that
 * reports every BURST-th inc, and a pinger that tells it BURST incs per `burst`.
 */
import { runtimeOf } from 'eldertree';
import { assign, setup } from 'xstate';

export const BURST = 1000;

export interface Input {
  n: number;
  /** Called at every BURST-th inc (once per 1000 messages: cheap, and the same on both sides). */
  progress: (count: number) => void;
}

export const counter = setup({
  types: { context: {} as Input & { count: number }, input: {} as Input, events: {} as { type: 'inc' } },
}).createMachine({
  context: ({ input }) => ({ ...input, count: 0 }),
  initial: 'on',
  states: {
    on: {
      on: {
        inc: {
          actions: [
            assign({ count: ({ context }) => context.count + 1 }),
            ({ context }) => {
              if (context.count % BURST === 0) context.progress(context.count);
            },
          ],
        },
      },
    },
  },
});

export const pinger = setup({ types: { events: {} as { type: 'burst' } } }).createMachine({
  initial: 'on',
  states: {
    on: {
      on: {
        burst: {
          actions: ({ system }) => {
            const runtime = runtimeOf(system);
            for (let i = 0; i < BURST; i++) runtime.tell('/bench/counter', 'inc');
          },
        },
      },
    },
  },
});
