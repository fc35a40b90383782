import { setup } from 'xstate';
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
  /** One child's entry, if there is such a child. */
  child: (id: string) => ChildInfo | undefined;
  /** OTP's get_childspec, defaults filled in, as plain data (the machine named by its id). */
  childspec: (id: string) => Record<string, unknown> | undefined;
  /** OTP's count_children. */
  count: () => ChildCounts;
  /** Path of the child that takes the supervisor's own mail, if any. */
  agent?: string;
}

/** OTP's count_children: specs (a simple_one_for_one supervisor has one, its template), running children, and children by type. */
export type ChildCounts = {
  specs: number;
  active: number;
  supervisors: number;
  workers: number;
};

function notFound(id: unknown) {
  return { error: { code: 'not_found', message: `no child ${String(id)}` } };
}

/**
 * The supervisor as an XState actor, so the inspector and `ask` see it like any elder.
 * The runtime drives its status with `eldertree.sup.*` events (a reserved prefix that
 * no outside sender can use); users may ask it `supervisor.which_children`,
 * `supervisor.count_children`, `supervisor.which_child` and `supervisor.get_childspec`
 * (`{ id }`; an unknown id is answered `{ error: { code: 'not_found', message } }`).
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorInput,
    input: {} as SupervisorInput,
    events: {} as
      | { type: 'eldertree.sup.starting' }
      | { type: 'eldertree.sup.running' }
      | { type: 'eldertree.sup.restarting' }
      | { type: 'eldertree.sup.stopping' }
      | { type: 'eldertree.sup.stopped' }
      | { type: 'eldertree.sup.failed' }
      | { type: 'supervisor.which_children' }
      | { type: 'supervisor.which_child'; id: string }
      | { type: 'supervisor.get_childspec'; id: string }
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
  context: ({ input }) => input,
  on: {
    'eldertree.sup.starting': '.starting',
    'eldertree.sup.running': '.running',
    'eldertree.sup.restarting': '.restarting',
    'eldertree.sup.stopping': '.stopping',
    'eldertree.sup.stopped': '.stopped',
    'eldertree.sup.failed': '.failed',
    'supervisor.which_children': { actions: reply(({ context }) => ({ children: context.describe() })) },
    'supervisor.which_child': {
      actions: reply(({ context, event }) => {
        const child = context.child(String(event.id));
        return child ? { child } : notFound(event.id);
      }),
    },
    'supervisor.get_childspec': {
      actions: reply(({ context, event }) => {
        const spec = context.childspec(String(event.id));
        return spec ? { spec } : notFound(event.id);
      }),
    },
    '*': { guard: 'hasAgent', actions: 'forward' },
    'supervisor.count_children': { actions: reply(({ context }) => context.count()) },
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
