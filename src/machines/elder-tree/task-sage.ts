/**
 * The task sage: a priority queue of tasks handed to servants that ask for work.
 *
 * Servants pull (Akka's work-pulling pattern): each asks `report.to_sage {kind:'ready'}`
 * and the sage keeps the ask open until it has a task for it. Pulling, not pushing,
 * because servants run on every node under the same paths: a reply goes back to the
 * node that asked, where a push by path would always reach the local copy. Rules of
 * the queue are in task-board.ts.
 *
 * Messages (who may send them, by role):
 *   sage.task.submit  {title, description?, priority?, handler, input?, timeoutMs?}  claude elder, grand elder
 *   sage.task.status | task.status {id}           claude elder, grand elder   (answers carry `node`: where the sage runs)
 *   sage.task.list    {status?, limit?}           claude elder, grand elder
 *   development.task.status | development.task.list   forwarded by the claude elder (answers the asker)
 *   sage.task.pause | sage.task.resume            claude elder (the grand elder's emergency stop)
 *   sage.task.servant_down {node, path, incarnation, reason}   the node's event bridge
 *   sage.task.node_down {node, reason}                         the event bridge (cluster membership)
 *   report.to_sage    {kind: ready|started|done|failed|lock_busy, servant, ...}   servants
 *   council.vote      {proposal}                  elder council
 * It tells the claude elder `report.to_elder {kind:'task', event, task}` and the
 * incident sage `sage.task.metrics {samples}` (servant latency).
 */
import { enqueueActions, setup } from 'xstate';
import { clock, nowOf } from './clock.js';
import {
  currentEnvelope,
  deliver,
  describe,
  firstError,
  int,
  map,
  ok,
  refuse,
  answer,
  answerLater,
  runtimeIfAny,
  tellEffect,
  text,
  type Effect,
  type Payload,
} from './messages.js';
import { ELDER_ADDRESSES } from './paths.js';
import type { Assignment, BallotAnswer, ElderAddress, PullAnswer, TaskSageEvent } from './protocol.js';
import { ballot, parseProposal } from './proposals.js';
import * as board from './task-board.js';
import type { Board, BoardConfig, ServantRef, Task, TaskSpec } from './task-board.js';

export interface TaskSageInput {
  elder?: ElderAddress<'claude-elder'>;
  incident?: ElderAddress<'incident-sage'>;
  pollMs?: number;
  assignTimeoutMs?: number;
  graceMs?: number;
  maxAttempts?: number;
  maxFinished?: number;
  /** ms between deadline checks; 0 disables the clock (tests tick by hand). */
  tickMs?: number;
  /** Default handler timeout. */
  defaultTimeoutMs?: number;
  /** Votes no on scaling past this. */
  maxServants?: number;
  /** Tasks waiting at most (default 2000): past it, submissions are refused (backpressure). */
  maxQueued?: number;
}

export interface TaskSageContext {
  board: Board;
  config: BoardConfig & { tickMs: number; defaultTimeoutMs: number; maxServants: number; maxQueued: number };
  elder: ElderAddress<'claude-elder'>;
  incident: ElderAddress<'incident-sage'>;
  /** Latency samples waiting to go to the incident sage. */
  latencies: { path: string; node: string; latencyMs: number }[];
}

type Ready = Extract<TaskSageEvent, { type: 'report.to_sage'; kind: 'ready' }>;

export type { TaskSageEvent };

const STATUSES = ['queued', 'assigned', 'running', 'completed', 'failed'];
const MAX_INPUT_CHARS = 8_192;

export function parseTaskSpec(fields: Payload | object, defaultTimeoutMs: number): { ok: true; spec: TaskSpec } | { ok: false; error: string } {
  const p = fields as Payload;
  const title = text(p.title, 'title', { required: true, max: 200 });
  const description = text(p.description, 'description', { max: 5000 });
  const priority = int(p.priority, 'priority', 0, 9);
  const handler = text(p.handler, 'handler', { required: true, max: 64 });
  const input = map(p.input, 'input');
  const timeoutMs = int(p.timeoutMs, 'timeoutMs', 1, 600_000);
  if (!title.ok || !description.ok || !priority.ok || !handler.ok || !input.ok || !timeoutMs.ok) {
    return { ok: false, error: firstError(title, description, priority, handler, input, timeoutMs)! };
  }
  // The board is one snapshot: inputs are for parameters, not for bulk data.
  if (input.value !== undefined && JSON.stringify(input.value).length > MAX_INPUT_CHARS) {
    return { ok: false, error: `input is larger than ${MAX_INPUT_CHARS} characters as JSON; pass a reference to the data instead` };
  }
  return {
    ok: true,
    spec: {
      title: title.value!,
      description: description.value ?? '',
      priority: priority.value ?? 5,
      handler: handler.value!,
      input: input.value ?? {},
      timeoutMs: timeoutMs.value ?? defaultTimeoutMs,
    },
  };
}

function parseServant(value: unknown): ServantRef | undefined {
  const s = value as Partial<ServantRef> | undefined;
  if (!s || typeof s !== 'object' || typeof s.node !== 'string' || typeof s.path !== 'string' || !Number.isInteger(s.incarnation)) {
    return undefined;
  }
  return { node: s.node, path: s.path, incarnation: s.incarnation! };
}

/** What a servant gets for an assignment. */
function assignment(task: Task): PullAnswer {
  const given: Assignment = {
      id: task.id,
      attempt: task.attempts,
      title: task.title,
      priority: task.priority,
      handler: task.handler,
      input: task.input,
      timeoutMs: task.timeoutMs,
  };
  return { ok: true, task: given, for: task.servant ? board.servantName(task.servant) : undefined };
}

type Step = { board: Board; effects: Effect[]; latencies?: TaskSageContext['latencies'] };

function report(ctx: TaskSageContext, event: string, task: Task): Effect {
  return tellEffect(ctx.elder, { type: 'report.to_elder', kind: 'task', event, task: board.taskSummary(task) });
}

/** Hands out what can be handed out, then forgets old finished tasks. */
function settle(ctx: TaskSageContext, b: Board, now: number, effects: Effect[]): Step {
  const d = board.dispatch(b, now, ctx.config);
  for (const { waiter, task } of d.assignments) effects.push(answerLater<Ready>(waiter.envelope, assignment(task)));
  return { board: board.evict(d.board, ctx.config.maxFinished), effects };
}

function onReport(ctx: TaskSageContext, message: Extract<TaskSageEvent, { type: 'report.to_sage' }>, envelope: ReturnType<typeof currentEnvelope>, now: number): Step {
  // Read as data: local senders are not schema-checked.
  const event = message as Payload;
  const kind = event.kind;
  const servant = parseServant(event.servant);
  if (!servant) return { board: ctx.board, effects: [answer(message, envelope, refuse('report.to_sage needs servant {node, path, incarnation}'))] };
  // A servant speaks for itself only.
  if (envelope && envelope.source_elder !== servant.path) {
    return { board: ctx.board, effects: [answer(message, envelope, refuse(`${envelope.source_elder} cannot report for ${servant.path}`))] };
  }
  const effects: Effect[] = [];
  if (kind === 'ready') {
    const r = board.ready(ctx.board, { servant, envelope, since: now }, ctx.config);
    // An older ask of the same servant is answered, so that it does not time out on the asker's side.
    for (const w of r.dropped) effects.push(answerLater<Ready>(w.envelope, ok({ task: null })));
    for (const t of r.requeued) effects.push(report(ctx, t.status === 'failed' ? 'failed' : 'requeued', t));
    return settle(ctx, r.board, now, effects);
  }
  const id = event.id;
  const attempt = event.attempt;
  if (typeof id !== 'string' || !Number.isInteger(attempt)) {
    return { board: ctx.board, effects: [answer(message, envelope, refuse(`report ${describe(kind)} needs id (string) and attempt (whole number)`))] };
  }
  switch (kind) {
    case 'started': {
      const r = board.confirmStart(ctx.board, id, attempt as number, servant, now, ctx.config);
      effects.push(answer(message, envelope, r.answer.go ? ok({ go: true }) : ok({ go: false, reason: r.answer.reason })));
      if (r.answer.go) effects.push(report(ctx, 'started', r.answer.task));
      return { board: r.board, effects };
    }
    case 'done': {
      const result = event.result && typeof event.result === 'object' && !Array.isArray(event.result) ? (event.result as Payload) : {};
      const duration = typeof event.durationMs === 'number' ? event.durationMs : 0;
      const r = board.complete(ctx.board, id, result, duration, now);
      effects.push(answer(message, envelope, ok({ accepted: !!r.task && !r.duplicate })));
      if (r.task && !r.duplicate) effects.push(report(ctx, 'completed', r.task));
      const latencies = r.task && !r.duplicate ? [...ctx.latencies, { path: servant.path, node: servant.node, latencyMs: duration }].slice(-200) : ctx.latencies;
      return { ...settle(ctx, r.board, now, effects), latencies };
    }
    case 'failed': {
      const error = typeof event.error === 'string' ? event.error : 'unknown error';
      const r = board.failAttempt(ctx.board, id, attempt as number, error, event.retryable !== false, event.crash === true, now, ctx.config);
      effects.push(answer(message, envelope, ok({ accepted: !r.stale })));
      if (r.task && !r.stale) effects.push(report(ctx, r.task.status === 'failed' ? 'failed' : 'requeued', r.task));
      return settle(ctx, r.board, now, effects);
    }
    case 'lock_busy': {
      const retryAfter = typeof event.retryAfterMs === 'number' ? event.retryAfterMs : 100;
      const r = board.lockBusy(ctx.board, id, attempt as number, retryAfter, now, ctx.config);
      effects.push(answer(message, envelope, ok()));
      return settle(ctx, r.board, now, effects);
    }
    default:
      return { board: ctx.board, effects: [answer(message, envelope, refuse(`unknown report kind ${describe(kind)}`))] };
  }
}

/** `node`: which node answered (the sage is a singleton that moves on failover); nothing when run bare. */
function answeredOn(system: object): { node?: string } {
  const runtime = runtimeIfAny(system);
  return runtime ? { node: runtime.nodeId } : {};
}

function vote(ctx: TaskSageContext, payload: Extract<TaskSageEvent, { type: 'council.vote' }>): BallotAnswer {
  const parsed = parseProposal(payload.proposal ?? {});
  if (!parsed.ok) return ballot('no', parsed.error);
  const p = parsed.value;
  const c = board.counts(ctx.board);
  const busy = c.assigned + c.running;
  if (p.kind === 'scale_servants') {
    if (p.count > ctx.config.maxServants) return ballot('no', `${p.count} servants is more than the ${ctx.config.maxServants} the queue can keep busy`);
    return ballot('yes', `${c.queued} queued, ${busy} in progress: ${p.count} servants can carry that`);
  }
  return ballot('yes', `${p.kind} is safe for the queue: tasks of a servant that goes away are re-queued`);
}

export const taskSageMachine = setup({
  types: {
    context: {} as TaskSageContext,
    input: {} as TaskSageInput | undefined,
    events: {} as TaskSageEvent,
  },
  actors: { clock },
  actions: {
    deliver,
    answerList: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'sage.task.list' && event.type !== 'development.task.list') return;
      const envelope = currentEnvelope(system);
      const status = event.status as unknown;
      const limit = int(event.limit, 'limit', 1, 1000);
      if ((status !== undefined && !STATUSES.includes(status as string)) || !limit.ok) {
        const error = !limit.ok ? limit.error : `status must be one of ${STATUSES.join(', ')}; got ${describe(status)}`;
        enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, refuse(error))] } });
        return;
      }
      const b = context.board;
      const tasks = Object.values(b.tasks)
        .filter((t) => status === undefined || t.status === status)
        .sort((x, y) => x.seq - y.seq)
        .slice(0, limit.value ?? 100)
        .map(board.taskView);
      const payload = ok({ ...answeredOn(system), paused: b.paused, counts: board.counts(b), stats: b.stats as unknown as Payload, waiting: b.waiters.length, tasks });
      enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, payload)] } });
    }),
    answerStatus: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'sage.task.status' && event.type !== 'task.status' && event.type !== 'development.task.status') return;
      const envelope = currentEnvelope(system);
      const id = event.id as unknown;
      const task = typeof id === 'string' ? context.board.tasks[id] : undefined;
      const payload =
        typeof id !== 'string'
          ? refuse(`status needs id, a task id string; got ${describe(id)}`)
          : task
            ? ok({ ...answeredOn(system), task: board.taskView(task) })
            : refuse(`unknown task id ${JSON.stringify(id)} (finished tasks are kept for the last ${context.config.maxFinished})`);
      enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, payload)] } });
    }),
  },
}).createMachine({
  id: 'task-sage',
  context: ({ input }) => ({
    board: board.emptyBoard(),
    config: {
      pollMs: input?.pollMs ?? 5_000,
      assignTimeoutMs: input?.assignTimeoutMs ?? 5_000,
      graceMs: input?.graceMs ?? 2_000,
      maxAttempts: input?.maxAttempts ?? 5,
      maxFinished: input?.maxFinished ?? 200,
      tickMs: input?.tickMs ?? 250,
      defaultTimeoutMs: input?.defaultTimeoutMs ?? 30_000,
      maxServants: input?.maxServants ?? 16,
      maxQueued: input?.maxQueued ?? 2_000,
    },
    elder: input?.elder ?? ELDER_ADDRESSES.elder,
    incident: input?.incident ?? ELDER_ADDRESSES.incident,
    latencies: [],
  }),
  invoke: { src: 'clock', input: ({ context }) => ({ every: context.config.tickMs, boot: true }) },
  initial: 'serving',
  states: {
    serving: {
      on: {
        'sage.task.submit': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            const envelope = currentEnvelope(system);
            const parsed = parseTaskSpec(event, context.config.defaultTimeoutMs);
            if (!parsed.ok) {
              enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, refuse(parsed.error))] } });
              return;
            }
            if (context.board.queue.length >= context.config.maxQueued) {
              const error = `the queue is full (${context.config.maxQueued} tasks waiting); try again later`;
              enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, refuse(error))] } });
              return;
            }
            const now = Date.now();
            const { board: b, task } = board.submit(context.board, parsed.spec, now);
            const effects: Effect[] = [];
            const position = b.queue.indexOf(task.id);
            effects.push(answer(event, envelope, ok({ id: task.id, status: 'queued' as const, position, paused: b.paused })));
            const step = settle(context, b, now, effects);
            enqueue.assign({ board: step.board });
            enqueue({ type: 'deliver', params: { effects: step.effects } });
          }),
        },
        'sage.task.status': { actions: 'answerStatus' },
        'task.status': { actions: 'answerStatus' },
        // Forwarded by the claude elder unchanged: the asker gets the answer directly.
        'development.task.status': { actions: 'answerStatus' },
        'development.task.list': { actions: 'answerList' },
        'sage.task.list': { actions: 'answerList' },
        'sage.task.pause': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            enqueue.assign({ board: { ...context.board, paused: true } });
            enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), ok({ paused: true }))] } });
          }),
        },
        'sage.task.resume': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            const step = settle(context, { ...context.board, paused: false }, Date.now(), [answer(event, currentEnvelope(system), ok({ paused: false }))]);
            enqueue.assign({ board: step.board });
            enqueue({ type: 'deliver', params: { effects: step.effects } });
          }),
        },
        'sage.task.servant_down': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            // Read as data: local senders are not schema-checked.
            const servant = parseServant(event);
            const envelope = currentEnvelope(system);
            if (!servant) {
              enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, refuse('servant_down needs node, path and incarnation'))] } });
              return;
            }
            const now = Date.now();
            const why = typeof event.reason === 'string' ? event.reason : 'went down';
            const r = board.servantDown(context.board, servant, now, why, context.config);
            const effects: Effect[] = [answer(event, envelope, ok({ requeued: r.requeued.map((t) => t.id) }))];
            for (const w of r.dropped) effects.push(answerLater<Ready>(w.envelope, ok({ task: null })));
            for (const t of r.requeued) effects.push(report(context, t.status === 'failed' ? 'failed' : 'requeued', t));
            const step = settle(context, r.board, now, effects);
            enqueue.assign({ board: step.board });
            enqueue({ type: 'deliver', params: { effects: step.effects } });
          }),
        },
        'sage.task.node_down': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            const envelope = currentEnvelope(system);
            if (typeof event.node !== 'string' || event.node === '') {
              enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, refuse('node_down needs node'))] } });
              return;
            }
            const now = Date.now();
            const r = board.nodeDown(context.board, event.node, now, typeof event.reason === 'string' ? event.reason : 'down', context.config);
            const effects: Effect[] = [answer(event, envelope, ok({ requeued: r.requeued.map((t) => t.id) }))];
            for (const t of r.requeued) effects.push(report(context, t.status === 'failed' ? 'failed' : 'requeued', t));
            const step = settle(context, r.board, now, effects);
            enqueue.assign({ board: step.board });
            enqueue({ type: 'deliver', params: { effects: step.effects } });
          }),
        },
        'report.to_sage': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            const step = onReport(context, event, currentEnvelope(system), Date.now());
            enqueue.assign({ board: step.board, ...(step.latencies ? { latencies: step.latencies } : {}) });
            enqueue({ type: 'deliver', params: { effects: step.effects } });
          }),
        },
        'council.vote': {
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), vote(context, event))] } });
          }),
        },
        tick: {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const now = nowOf(event);
            const effects: Effect[] = [];
            let b = context.board;
            if (event.boot) {
              const r = board.recheckInFlight(b, now, context.config);
              for (const t of r.requeued) effects.push(report(context, 'requeued', t));
              // Waits restored from a snapshot may belong to servants long gone: answer
              // them all; the living ones ask again at once.
              for (const w of r.board.waiters) effects.push(answerLater<Ready>(w.envelope, ok({ task: null })));
              b = { ...r.board, waiters: [] };
            }
            const e = board.expire(b, now, context.config);
            effects.push(...e.expired.map((w) => answerLater<Ready>(w.envelope, ok({ task: null }))));
            for (const t of e.timedOut) effects.push(report(context, t.status === 'failed' ? 'failed' : 'requeued', t));
            if (context.latencies.length > 0) {
              effects.push(tellEffect(context.incident, { type: 'sage.task.metrics', samples: context.latencies, at: now }));
            }
            const step = settle(context, e.board, now, effects);
            // Nothing changed: keep the snapshot as it is (no save, no trace).
            if (step.board === context.board && step.effects.length === 0) return;
            enqueue.assign({ board: step.board, latencies: [] });
            if (step.effects.length > 0) enqueue({ type: 'deliver', params: { effects: step.effects } });
          }),
        },
      },
    },
  },
});
