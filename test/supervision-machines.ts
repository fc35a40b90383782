import { setup } from 'xstate';
import { reply, worker, type RestartType, type WorkerSpec } from '../src/index.js';

/**
 * Per path, how many of its next starts fail (throw while starting) or decline (reach a
 * final state at once: OTP's `ignore`). Tests set them before the starts they mean.
 */
export const failStarts = new Map<string, number>();
export const ignoreStarts = new Map<string, number>();

/** Uses up one planned start of `path`: true if one was planned. */
export function take(plan: Map<string, number>, path: string): boolean {
  const left = plan.get(path) ?? 0;
  if (left <= 0) return false;
  plan.set(path, left - 1);
  return true;
}

/**
 * A worker whose starts follow the plans above for its `key` (its path by convention):
 * it throws at start, declines, or runs. Running, it answers `ping`, crashes on `crash`
 * and ends normally on `finish`. (XState computes the initial state, guards included,
 * in createActor, and runs plain entry actions in start(): both are the cell's start.)
 */
export const plannedMachine = setup({
  types: { input: {} as { key: string }, context: {} as { key: string } },
  actions: {
    mayFail: ({ context }) => {
      if (take(failStarts, context.key)) throw new Error(`${context.key} cannot start`);
    },
  },
  guards: { declines: ({ context }) => take(ignoreStarts, context.key) },
}).createMachine({
  context: ({ input }) => ({ key: input.key }),
  entry: 'mayFail',
  initial: 'boot',
  states: {
    boot: { always: [{ guard: 'declines', target: 'declined' }, { target: 'up' }] },
    up: {
      on: {
        ping: { actions: reply({ pong: true }) },
        crash: {
          actions: () => {
            throw new Error('crash requested');
          },
        },
        finish: 'done',
      },
    },
    done: { type: 'final' },
    declined: { type: 'final' },
  },
});

/** A planned worker at `parent/id`, keyed by that path. */
export function planned(
  parent: string,
  id: string,
  options: { restart?: RestartType; significant?: boolean; backoff?: WorkerSpec['backoff']; shutdown?: WorkerSpec['shutdown'] } = {},
): WorkerSpec {
  return worker(id, plannedMachine, { ...options, input: { key: `${parent}/${id}` } });
}
