import { assign, setup } from 'xstate';
import {
  Node,
  reply,
  type LifecycleEvent,
  type NodeOptions,
  type SupervisorSpec,
  type SystemEvent,
  type DeadLetterEvent,
} from '../src/index.js';

/**
 * The test worker: counts `inc`, answers `get` and `ping`, throws on `crash`, ends
 * normally on `finish`, and can refuse `fail_on_start` input by throwing at start.
 */
export const testMachine = setup({
  types: {
    context: {} as { count: number },
    input: {} as { failOnStart?: boolean; gracefulMs?: number } | undefined,
    events: {} as
      | { type: 'inc' }
      | { type: 'get' }
      | { type: 'ping' }
      | { type: 'crash' }
      | { type: 'finish' },
  },
  actions: {
    maybeFail: ({ context }) => {
      if ((context as { failOnStart?: boolean }).failOnStart) throw new Error('refused to start');
    },
  },
}).createMachine({
  context: ({ input }) => ({ count: 0, ...(input?.failOnStart ? { failOnStart: true } : {}) }),
  entry: 'maybeFail',
  initial: 'up',
  states: {
    up: {
      on: {
        inc: { actions: assign({ count: ({ context }) => context.count + 1 }) },
        get: { actions: reply(({ context }) => ({ count: context.count })) },
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
  },
});

/** A worker that shuts down gracefully: on eldertree.shutdown it waits `ms`, then ends. */
export const gracefulMachine = setup({
  types: { input: {} as { ms: number }, context: {} as { ms: number } },
  delays: { linger: ({ context }) => context.ms },
}).createMachine({
  context: ({ input }) => ({ ms: input.ms }),
  initial: 'up',
  states: {
    up: { on: { 'eldertree.shutdown': 'draining' } },
    draining: { after: { linger: 'done' } },
    done: { type: 'final' },
  },
});

export interface Recorder {
  events: SystemEvent[];
  lifecycle(filter?: (e: LifecycleEvent) => boolean): string[];
  deadLetters(): DeadLetterEvent[];
  clear(): void;
}

/** Starts a node with a silent logger and records its events from the very start. */
export async function startNode(
  tree: SupervisorSpec,
  options: Partial<NodeOptions> = {},
): Promise<{ node: Node; rec: Recorder }> {
  const events: SystemEvent[] = [];
  const rec: Recorder = {
    events,
    lifecycle: (filter) =>
      events
        .filter((e): e is LifecycleEvent => e.type !== 'dead_letter')
        .filter((e) => (filter ? filter(e) : true))
        .map((e) => `${e.type} ${e.path}#${e.incarnation}`),
    deadLetters: () => events.filter((e): e is DeadLetterEvent => e.type === 'dead_letter'),
    clear: () => void events.splice(0),
  };
  const node = await Node.start({ ...options, tree, onEvent: (e) => events.push(e) });
  return { node, rec };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds or `ms` pass; returns whether it held. */
export async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(2);
  }
  return check();
}

/** Records the `i` of each `work` in order; each costs ~costMs of CPU (a slow actor). */
export const slow = setup({
  types: { context: {} as { seen: number[]; costMs: number }, input: {} as { costMs: number } | undefined },
}).createMachine({
  context: ({ input }) => ({ seen: [], costMs: input?.costMs ?? 0 }),
  on: {
    get: { actions: reply(({ context }) => ({ n: context.seen.length })) },
    work: {
      actions: assign({
        seen: ({ context, event }) => {
          const end = performance.now() + context.costMs;
          while (performance.now() < end);
          context.seen.push((event as unknown as { i: number }).i);
          return context.seen;
        },
      }),
    },
  },
});

/** The `i`s a slow actor at `path` has recorded so far. */
export function seenOf(node: { system: { cell(path: string): { actor?: { getSnapshot(): { context: { seen: number[] } } } } | undefined } }, path: string): number[] {
  return node.system.cell(path)?.actor?.getSnapshot().context.seen ?? [];
}
