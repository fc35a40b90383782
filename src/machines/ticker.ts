import { assign, setup } from 'xstate';
import { runtimeOf } from '../actors/effects.js';

export interface TickerInput {
  /** ms between ticks. */
  every: number;
  /** Told `inc` on every tick. */
  target: string;
  /** Every n-th tick, `crash` is told to this path instead (keeps a demo visibly alive). */
  crashEvery?: number;
  crashTarget?: string;
}

/** Ticks on a timer and tells its target; an example of a machine driving others. */
export const tickerMachine = setup({
  types: { context: {} as TickerInput & { ticks: number }, input: {} as TickerInput },
  delays: { every: ({ context }) => context.every },
  actions: {
    tick: ({ context, system }) => {
      const runtime = runtimeOf(system);
      const n = context.ticks;
      if (context.crashEvery && context.crashTarget && n % context.crashEvery === 0) {
        runtime.tell(context.crashTarget, 'crash', { reason: `demo crash at tick ${n}` });
      } else {
        runtime.tell(context.target, 'inc');
      }
    },
  },
}).createMachine({
  id: 'ticker',
  context: ({ input }) => ({ ...input, ticks: 0 }),
  initial: 'waiting',
  states: {
    waiting: {
      after: {
        every: { target: 'waiting', reenter: true, actions: [assign({ ticks: ({ context }) => context.ticks + 1 }), 'tick'] },
      },
    },
  },
});
