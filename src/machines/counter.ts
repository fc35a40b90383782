import { assign, setup } from 'xstate';
import { reply } from '../actors/effects.js';

/** Counts `inc` messages; answers `get`; `crash` throws (for demos and tests). */
export const counterMachine = setup({
  types: {
    context: {} as { count: number },
    input: {} as { start?: number } | undefined,
    events: {} as { type: 'inc'; by?: number } | { type: 'get' } | { type: 'reset' } | { type: 'crash'; reason?: string },
  },
}).createMachine({
  id: 'counter',
  context: ({ input }) => ({ count: input?.start ?? 0 }),
  initial: 'counting',
  states: {
    counting: {
      on: {
        inc: { actions: assign({ count: ({ context, event }) => context.count + (event.by ?? 1) }) },
        get: { actions: reply(({ context }) => ({ count: context.count })) },
        reset: { actions: assign({ count: 0 }) },
        crash: {
          actions: ({ event }) => {
            throw new Error(event.reason ?? 'crash requested');
          },
        },
      },
    },
  },
});
