import { assign, setup } from 'xstate';
import { reply, runtimeOf } from '../actors/effects.js';
import type { Strategy } from './spec.js';

export type SupervisorStatus = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ChildInfo {
  id: string;
  path: string;
  type: 'worker' | 'supervisor';
  restart: string;
  status: string;
  incarnation: number;
  restarts: number;
}

export interface SupervisorInput {
  strategy: Strategy;
  intensity: number;
  period: number;
  /** Reads the live child list (OTP's which_children). */
  describe: () => ChildInfo[];
  /** Path of the child that takes the supervisor's own mail, if any. */
  agent?: string;
}

/**
 * The supervisor as an XState actor, so the inspector and `ask` see it like any elder.
 * The runtime drives its status with `eldertree.sup.*` events (a reserved prefix that
 * no outside sender can use); users may ask it `supervisor.which_children`.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorInput & { restarts: number },
    input: {} as SupervisorInput,
    events: {} as
      | { type: 'eldertree.sup.starting' }
      | { type: 'eldertree.sup.running' }
      | { type: 'eldertree.sup.restarting'; restarts: number }
      | { type: 'eldertree.sup.stopping' }
      | { type: 'eldertree.sup.stopped' }
      | { type: 'eldertree.sup.failed'; restarts: number }
      | { type: 'supervisor.which_children' }
      | { type: 'supervisor.count_children' },
  },
  guards: { hasAgent: ({ context }) => context.agent !== undefined },
  actions: {
    // The envelope goes on unchanged (same id, reply_to, correlation): the agent
    // answers the original asker.
    forward: ({ context, system }) => {
      const runtime = runtimeOf(system);
      runtime.forward(runtime.current, context.agent!);
    },
  },
}).createMachine({
  id: 'supervisor',
  initial: 'starting',
  context: ({ input }) => ({ ...input, restarts: 0 }),
  on: {
    'eldertree.sup.starting': '.starting',
    'eldertree.sup.running': '.running',
    'eldertree.sup.restarting': {
      target: '.restarting',
      actions: assign({ restarts: ({ event }) => event.restarts }),
    },
    'eldertree.sup.stopping': '.stopping',
    'eldertree.sup.stopped': '.stopped',
    'eldertree.sup.failed': { target: '.failed', actions: assign({ restarts: ({ event }) => event.restarts }) },
    'supervisor.which_children': { actions: reply(({ context }) => ({ children: context.describe() })) },
    '*': { guard: 'hasAgent', actions: 'forward' },
    'supervisor.count_children': {
      actions: reply(({ context }) => {
        const children: ChildInfo[] = context.describe();
        return {
          specs: children.length,
          active: children.filter((c) => c.status === 'running').length,
          supervisors: children.filter((c) => c.type === 'supervisor').length,
          workers: children.filter((c) => c.type === 'worker').length,
        };
      }),
    },
  },
  states: {
    starting: {},
    running: {},
    restarting: {},
    stopping: {},
    stopped: {},
    failed: {},
  },
});
