/**
 * A servant: asks the task sage for work, runs it under the task's lock, reports.
 *
 *   polling --task--> working --done/failed--> polling
 *                        \--handler asked for a crash--> crashing (throws: the supervisor restarts it)
 *
 * The lock (service 'locks': KV on NATS, memory on one node) makes sure two servants
 * never run the same task at once, even when the task sage has taken the task back
 * from a servant it believed lost. The sage must also confirm the start of the
 * attempt, so a task that completed meanwhile is not run again.
 *
 * Sends (role servant): report.to_sage {kind: ready|started|done|failed|lock_busy},
 * every one an ask: the answer to `ready` is the next task.
 * Takes: servant.crash {reason?} (operators' chaos hook: crash now, mid-task or not).
 */
import { assign, setup } from 'xstate';
import type { ActorRuntime } from '../../actors/effects.js';
import type { TaskLock, TaskLocks } from '../../cluster/task-locks.js';
import { builtinHandlers, PermanentTaskError, ServantCrash, type Handlers } from './handlers.js';
import { askElder, type Payload } from './messages.js';
import { fromRuntime } from './orphans.js';
import { ELDER_ADDRESSES } from './paths.js';
import type { Assignment, ElderAddress, PullAnswer, ServantEvent } from './protocol.js';

export type { Assignment, ServantEvent };

export interface ServantInput {
  taskSage?: ElderAddress<'task-sage'>;
  /** Extra handlers by name; they replace built-ins of the same name. */
  handlers?: Handlers;
  /** ms a servant waits for an answer to "ready" (the sage holds it up to its pollMs). */
  pollTimeoutMs?: number;
  /** Lock TTL in ms; renewed at a third of it while the handler runs. */
  lockTtlMs?: number;
  /** ms to wait after the task sage could not be reached. */
  restMs?: number;
  /** ms to keep trying to report an outcome the task sage does not answer (default 15000). */
  reportForMs?: number;
}

export type Outcome =
  | { outcome: 'done'; durationMs: number }
  | { outcome: 'failed'; error: string }
  | { outcome: 'crash'; error: string }
  | { outcome: 'lock_busy' | 'skipped' | 'aborted'; reason: string };

export interface ServantContext {
  taskSage: ElderAddress<'task-sage'>;
  handlers: Handlers;
  pollTimeoutMs: number;
  lockTtlMs: number;
  restMs: number;
  reportForMs: number;
  current: Assignment | undefined;
  completed: number;
  failed: number;
  lastOutcome: Outcome | undefined;
}

export interface ExecuteInput {
  task: Assignment;
  context: ServantContext;
}

/** The servant as the task sage knows it: paths repeat on every node, incarnations change. */
export function servantRef(runtime: ActorRuntime): { node: string; path: string; incarnation: number } {
  return { node: runtime.nodeId, path: runtime.path, incarnation: runtime.incarnation };
}

/** What an attempt reports when it ends. */
type ReportedOutcome =
  | { kind: 'done'; result: Payload; durationMs: number }
  | { kind: 'failed'; error: string; retryable: boolean; crash?: boolean }
  | { kind: 'lock_busy'; retryAfterMs: number; reason: string };

const lockKey = (id: string) => `elder-task/${id}`;

/** One attempt, start to report. Reports go out before the lock is released. */
export async function executeAttempt(runtime: ActorRuntime, { task, context }: ExecuteInput, signal: AbortSignal): Promise<Outcome> {
  const servant = servantRef(runtime);
  // A crashed servant's work is lost, as in Erlang: an attempt whose incarnation is
  // gone (XState leaves a failed actor's children running) reports nothing.
  const alive = () => !signal.aborted && runtime.incarnation === servant.incarnation;
  // An outcome is asked, not told, until the task sage answers: it then comes before
  // this servant's next ask for work (one ordered stream), and it survives the task
  // sage moving to another node meanwhile. The sage takes each report once; a repeat
  // changes nothing.
  const report = async (outcome: ReportedOutcome): Promise<void> => {
    const deadline = Date.now() + context.reportForMs;
    for (let wait = 100; alive(); wait = Math.min(wait * 2, 1000)) {
      try {
        await askElder(runtime, context.taskSage, { type: 'report.to_sage', ...outcome, id: task.id, attempt: task.attempt, servant }, { timeout: 2000 });
        return;
      } catch {
        // Not answered (moving, restarting): try again, until the sage's own deadline would take the task back anyway.
        if (Date.now() + wait > deadline) return;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  };
  const handler = context.handlers[task.handler];
  if (!handler) {
    const error = `no handler "${task.handler}" (this servant has: ${Object.keys(context.handlers).join(', ')})`;
    await report({ kind: 'failed', error, retryable: false });
    return { outcome: 'failed', error };
  }
  const locks = runtime.service<TaskLocks>('locks');
  const owner = `${servant.path}#${servant.incarnation}@${servant.node}`;
  const ttl = context.lockTtlMs;
  let lock: TaskLock | undefined = await locks.acquire(lockKey(task.id), owner, ttl);
  if (!lock) {
    const holder = await locks.holder(lockKey(task.id)).catch(() => undefined);
    const reason = `lock held by ${holder?.owner ?? 'another servant'}`;
    await report({ kind: 'lock_busy', retryAfterMs: holder ? Math.max(20, holder.expiresAt - Date.now()) : 100, reason });
    return { outcome: 'lock_busy', reason };
  }
  const work = new AbortController();
  const abortWork = () => work.abort();
  signal.addEventListener('abort', abortWork, { once: true });
  let renewal: NodeJS.Timeout | undefined;
  try {
    let go: { ok: boolean; go?: boolean; reason?: string };
    try {
      go = await askElder(runtime, context.taskSage, { type: 'report.to_sage', kind: 'started', id: task.id, attempt: task.attempt, servant });
    } catch (err) {
      // Not started: the sage's deadline takes the attempt back.
      return { outcome: 'skipped', reason: `the task sage did not confirm: ${(err as Error).message}` };
    }
    if (go.go !== true) return { outcome: 'skipped', reason: go.reason ?? 'the task sage said no' };
    if (!alive()) return { outcome: 'aborted', reason: 'servant stopped' };
    renewal = setInterval(() => {
      if (!alive()) return work.abort();
      if (!lock) return;
      locks.renew(lock).then(
        (renewed) => {
          lock = renewed;
          if (!renewed) work.abort();
        },
        () => undefined, // a failed renewal is retried at the next interval; expiry stops the work
      );
    }, Math.max(10, Math.floor(ttl / 3)));
    // The handler's last answer: a handler that fences its side effects has said
    // whether they went through.
    let answered: boolean | undefined;
    const holdsLock = () => (answered = alive() && !!lock && lock.isValid());
    const started = performance.now();
    const result = await withTimeout(
      Promise.resolve().then(() => handler(task.input, { taskId: task.id, attempt: task.attempt, signal: work.signal, holdsLock })),
      task.timeoutMs,
      work.signal,
    );
    if (!alive()) return { outcome: 'aborted', reason: 'servant stopped' };
    // A handler that asked holdsLock() and was told yes made its side effect under the
    // lock: it is done even if the lock lapsed since (the sage takes the first done),
    // where a 'failed' would have it run again. One told no was fenced off: run again.
    // One that never asked is done only if the lock still holds.
    if (!(answered ?? (!!lock && lock.isValid()))) {
      const error = 'lost its task lock while running';
      await report({ kind: 'failed', error, retryable: true });
      return { outcome: 'failed', error };
    }
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    await report({ kind: 'done', result: plain(result), durationMs });
    return { outcome: 'done', durationMs };
  } catch (err) {
    if (!alive()) return { outcome: 'aborted', reason: 'servant stopped' };
    const error = (err as Error)?.message ?? String(err);
    if (err instanceof ServantCrash) {
      await report({ kind: 'failed', error, retryable: true, crash: true });
      return { outcome: 'crash', error };
    }
    await report({ kind: 'failed', error, retryable: !(err instanceof PermanentTaskError) });
    return { outcome: 'failed', error };
  } finally {
    clearInterval(renewal);
    signal.removeEventListener('abort', abortWork);
    if (lock) await locks.release(lock).catch(() => false);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    const onAbort = () => reject(new Error('the task lock was lost'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}

/** Results travel as msgpack maps: keep them plain. */
function plain(value: unknown): Payload {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { value: value as never };
  return JSON.parse(JSON.stringify(value)) as Payload;
}

export const servantMachine = setup({
  types: {
    context: {} as ServantContext,
    input: {} as ServantInput | undefined,
    events: {} as ServantEvent,
  },
  actors: {
    pull: fromRuntime<PullAnswer, { taskSage: ElderAddress<'task-sage'>; timeout: number }>('a servant', ({ input, runtime }) =>
      askElder(runtime, input.taskSage, { type: 'report.to_sage', kind: 'ready', servant: servantRef(runtime) }, { timeout: input.timeout }),
    ),
    execute: fromRuntime<Outcome, ExecuteInput>('a servant', ({ input, runtime, signal }) => executeAttempt(runtime, input, signal)),
  },
  delays: { rest: ({ context }) => context.restMs },
  guards: {
    gotTask: ({ event }) => {
      const task = (event as unknown as { output?: { task?: unknown } }).output?.task;
      return task !== null && typeof task === 'object';
    },
    crashed: ({ event }) => (event as unknown as { output?: Outcome }).output?.outcome === 'crash',
  },
  actions: {
    crash: ({ context, event }) => {
      const reason = (event as { reason?: unknown }).reason;
      const last = context.lastOutcome;
      throw new Error(
        typeof reason === 'string' ? reason : last?.outcome === 'crash' ? last.error : 'servant crash requested',
      );
    },
  },
}).createMachine({
  id: 'servant',
  context: ({ input }) => ({
    taskSage: input?.taskSage ?? ELDER_ADDRESSES.task,
    handlers: { ...builtinHandlers, ...input?.handlers },
    pollTimeoutMs: input?.pollTimeoutMs ?? 8_000,
    lockTtlMs: input?.lockTtlMs ?? 3_000,
    restMs: input?.restMs ?? 500,
    reportForMs: input?.reportForMs ?? 15_000,
    current: undefined,
    completed: 0,
    failed: 0,
    lastOutcome: undefined,
  }),
  initial: 'polling',
  on: { 'servant.crash': { actions: 'crash' } },
  states: {
    polling: {
      invoke: {
        src: 'pull',
        input: ({ context }) => ({ taskSage: context.taskSage, timeout: context.pollTimeoutMs }),
        onDone: [
          { guard: 'gotTask', target: 'working', actions: assign({ current: ({ event }) => (event.output.ok ? (event.output.task ?? undefined) : undefined) }) },
          { target: 'polling', reenter: true },
        ],
        onError: 'resting',
      },
    },
    resting: { after: { rest: 'polling' } },
    working: {
      invoke: {
        src: 'execute',
        input: ({ context }) => ({ task: context.current!, context }),
        onDone: [
          { guard: 'crashed', target: 'crashing', actions: assign({ lastOutcome: ({ event }) => event.output }) },
          {
            target: 'polling',
            actions: assign({
              completed: ({ context, event }) => context.completed + (event.output.outcome === 'done' ? 1 : 0),
              failed: ({ context, event }) => context.failed + (event.output.outcome === 'failed' ? 1 : 0),
              lastOutcome: ({ event }) => event.output,
              current: undefined,
            }),
          },
        ],
        onError: { target: 'resting', actions: assign({ current: undefined }) },
      },
    },
    // Let it crash: the handler asked for it; the supervisor starts a fresh incarnation.
    crashing: { entry: 'crash' },
  },
});
