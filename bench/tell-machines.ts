/**
 * The machines of the local tell benchmarks (tell.ts, inspector.ts): a counter that
 * reports every BURST-th inc, and a pinger that tells it BURST incs per `burst`.
 */
import { kind, runtimeOf, type Ref } from 'eldertree';
import { assign, setup } from 'xstate';

export const BURST = 1000;

export interface Input {
  n: number;
  /** Called at every BURST-th inc (once per 1000 messages: cheap, and the same on both sides). */
  progress: (count: number) => void;
}

export const counter = setup({
  // `by` is never read: the typed-tell case sends it to price a payload field, the same work on every side.
  types: { context: {} as Input & { count: number }, input: {} as Input, events: {} as { type: 'inc'; by?: number } },
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

export const Counter = kind('counter', counter);


/** How a burst tells the counter: the string API or a typed reference, with or without a payload field. */
export type TellStyle = 'string' | 'typed' | 'string-field' | 'typed-field';

/** A pinger whose bursts tell in the given style (the typed-tell benchmark). */
export function stylePinger(style: TellStyle) {
  let ref: Ref<typeof Counter> | undefined;
  return setup({ types: { events: {} as { type: 'burst' } } }).createMachine({
    initial: 'on',
    states: {
      on: {
        on: {
          burst: {
            actions: ({ system }) => {
              const runtime = runtimeOf(system);
              ref ??= runtime.ref(Counter, '/bench/counter');
              if (style === 'string') for (let i = 0; i < BURST; i++) runtime.tell('/bench/counter', 'inc');
              else if (style === 'typed') for (let i = 0; i < BURST; i++) ref.tell({ type: 'inc' });
              else if (style === 'string-field') for (let i = 0; i < BURST; i++) runtime.tell('/bench/counter', 'inc', { by: 1 });
              else for (let i = 0; i < BURST; i++) ref.tell({ type: 'inc', by: 1 });
            },
          },
        },
      },
    },
  });
}

/** The pinger of the tell benchmarks: string tells, no payload. */
export const pinger = stylePinger('string');
