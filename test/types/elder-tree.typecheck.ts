/**
 * Compile-time guards of the Elder Tree's typed protocol: each @ts-expect-error line must
 * stay an error (tsc fails on an unused one), so a change that loosens an elder's types
 * fails `npm test`. Nothing here runs.
 */
import { enqueueActions, setup } from 'xstate';
import type { ActorRuntime } from '../../src/actors/effects.js';
import type { ClusterClient, Node } from '../../src/index.js';
import {
  ELDER_ADDRESSES,
  ELDER_PATHS,
  elderTree,
  KnowledgeSage,
  TaskSage,
  Council,
  type ElderTreePaths,
  type TaskSageEvent,
} from '../../src/machines/elder-tree/index.js';
import { answer, askElder, currentEnvelope, forwardEffect, ok, refuse, tellEffect, type Effect } from '../../src/machines/elder-tree/messages.js';

export async function fromOutside(node: Node<ElderTreePaths>, client: ClusterClient) {
  const taskSage = node.ref('/grand-elder/claude-elder/task-sage');
  const queued = await taskSage.ask({ type: 'sage.task.submit', title: 'Hash it', handler: 'hash' });
  if (queued.ok) void (queued.id satisfies string);
  // @ts-expect-error a wrong task payload field: priority is a number
  taskSage.tell({ type: 'sage.task.submit', title: 'Hash it', handler: 'hash', priority: 'high' });
  // @ts-expect-error a task without its required handler
  void taskSage.ask({ type: 'sage.task.submit', title: 'Hash it' });
  // @ts-expect-error a field the task sage's submit does not have
  taskSage.tell({ type: 'sage.task.submit', title: 'Hash it', handler: 'hash', owner: 'me' });
  // @ts-expect-error a refusal has no id: the answer must be checked first
  void taskSage.ask({ type: 'sage.task.submit', title: 'x', handler: 'hash' }).then((r) => r.id);
  // @ts-expect-error a wrong kind for an elder path (the knowledge sage lives there)
  node.ref(TaskSage, '/grand-elder/claude-elder/knowledge-sage');
  // @ts-expect-error a path the Elder Tree does not have
  node.ref('/grand-elder/claude-elder/wisdom-sage');
  // @ts-expect-error from outside: an address of another kind
  client.ref(TaskSage, KnowledgeSage.at(ELDER_PATHS.knowledge));
  // @ts-expect-error from outside: the council takes no task
  client.ref(Council, ELDER_PATHS.council).tell({ type: 'sage.task.submit', title: 'x', handler: 'hash' });
  // @ts-expect-error a proposal's kind is one of scale_servants, quarantine, release
  client.ref(Council, ELDER_PATHS.council).tell({ type: 'council.propose', kind: 'disband' });
}

export async function betweenElders(runtime: ActorRuntime, effects: Effect[]) {
  effects.push(tellEffect(ELDER_ADDRESSES.task, { type: 'sage.task.pause', reason: 'halted' }));
  // @ts-expect-error an effect's event must be one the addressed elder takes
  effects.push(tellEffect(ELDER_ADDRESSES.knowledge, { type: 'sage.task.pause' }));
  // @ts-expect-error a wrong payload field type in an effect
  effects.push(tellEffect(ELDER_ADDRESSES.commander, { type: 'elder.emergency_stop', reason: 7 }));
  // @ts-expect-error forward takes an elder's address, not a bare path
  effects.push(forwardEffect(undefined, '/grand-elder/claude-elder'));
  const pulled = await askElder(runtime, ELDER_ADDRESSES.task, { type: 'report.to_sage', kind: 'ready', servant: { node: 'n1', path: '/p', incarnation: 1 } });
  if (pulled.ok) void pulled.task;
  // @ts-expect-error an ask of an event that is a tell (no reply declared)
  void askElder(runtime, ELDER_ADDRESSES.task, { type: 'tick' });
  // @ts-expect-error a field the ask does not have
  void askElder(runtime, ELDER_ADDRESSES.rag, { type: 'sage.rag.search', query: 'digest', top: 3 });
  // @ts-expect-error the reply of a vote is a ballot, not an entry
  void askElder(runtime, ELDER_ADDRESSES.knowledge, { type: 'council.vote', proposal: { kind: 'scale_servants', count: 3 } }).then((b) => b.entry);
}

// Inside an elder: answers are checked against the handled event's Ask<...>.
export const elder = setup({
  types: { events: {} as TaskSageEvent },
  actions: {
    deliver: (_: unknown, _params: { effects: Effect[] }) => undefined,
  },
}).createMachine({
  on: {
    'sage.task.pause': {
      actions: enqueueActions(({ event, system, enqueue }) => {
        enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), ok({ paused: true }))] } });
        // @ts-expect-error reply misuse: pause answers { ok: true, paused: true }
        enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), ok({ paused: 'yes' }))] } });
        // @ts-expect-error reply misuse: pause is never refused
        enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), refuse('no'))] } });
      }),
    },
    tick: {
      actions: enqueueActions(({ event, system, enqueue }) => {
        // @ts-expect-error reply misuse: a tick is not an ask, there is nothing to answer
        enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), ok())] } });
      }),
    },
  },
});

// @ts-expect-error an elder's input takes the address of the right kind
elderTree({ claudeElder: { taskSage: KnowledgeSage.at(ELDER_PATHS.knowledge) } });
elderTree({ claudeElder: { taskSage: TaskSage.at(ELDER_PATHS.task) } });

export function servants(node: Node<ElderTreePaths>) {
  node.ref('/grand-elder/servants/servant-3').tell({ type: 'servant.crash', reason: 'chaos' });
  // @ts-expect-error a servant takes servant.crash only
  node.ref('/grand-elder/servants/servant-3').tell({ type: 'council.scale', count: 3 });
}
