/**
 * The claude elder: takes development tasks, consults the knowledge and rag sages,
 * hands the task to the task sage, follows its progress and reports to the grand elder.
 *
 *   working --development.halt--> halted --development.resume--> working
 *
 * Each submission is planned by its own child actor (spawned fromPromise), so many
 * plans run at once and the elder keeps taking messages meanwhile; the child's done
 * event carries the asker's envelope back for the answer.
 *
 * Messages (senders by role):
 *   development.task.submit {title, description?, priority? 0..9, handler?, input?, timeoutMs?}
 *       -> {ok, id, status, handler, plan}          grand elder, operators, the demo
 *   development.task.status | task.status {id} | development.task.list   forwarded to the task sage
 *   development.status -> counts
 *   development.halt {reason?} | development.resume   the grand elder (emergency stop)
 *   report.to_elder {kind: task|incident|risk.alert|risk.cleared, ...}   the sages
 * It tells the grand elder report.task_completed | report.task_failed | report.incident
 * | report.alert, and the task sage sage.task.pause | sage.task.resume.
 */
import { enqueueActions, setup } from 'xstate';
import type { ActorRuntime } from '../../actors/effects.js';
import type { Envelope } from '../../actors/envelope.js';
import {
  answer,
  answerLater,
  askElder,
  currentEnvelope,
  deliver,
  firstError,
  forwardEffect,
  int,
  keepLast,
  map,
  ok,
  refuse,
  tellEffect,
  text,
  type Effect,
  type Payload,
} from './messages.js';
import { fromRuntime } from './orphans.js';
import { ELDER_ADDRESSES } from './paths.js';
import { type ClaudeElderEvent, type ElderAddress, type SubmitAnswer } from './protocol.js';

export type { ClaudeElderEvent };

export interface ClaudeElderInput {
  knowledge?: ElderAddress<'knowledge-sage'>;
  rag?: ElderAddress<'rag-sage'>;
  taskSage?: ElderAddress<'task-sage'>;
  commander?: ElderAddress<'commander'>;
  /** Used when neither the task nor the rag sage names one. */
  defaultHandler?: string;
}

export interface Submission {
  title: string;
  description: string;
  priority: number;
  handler?: string;
  input?: Payload;
  timeoutMs?: number;
}

export interface PlanInput {
  submission: Submission;
  envelope: Envelope | undefined;
  knowledge: ElderAddress<'knowledge-sage'>;
  rag: ElderAddress<'rag-sage'>;
  taskSage: ElderAddress<'task-sage'>;
  defaultHandler: string;
}

export type PlanOutput = { envelope: Envelope | undefined; answer: SubmitAnswer };

export interface ClaudeContext {
  knowledge: ElderAddress<'knowledge-sage'>;
  rag: ElderAddress<'rag-sage'>;
  taskSage: ElderAddress<'task-sage'>;
  commander: ElderAddress<'commander'>;
  defaultHandler: string;
  planning: number;
  nextPlan: number;
  counts: { submitted: number; rejected: number; started: number; completed: number; failed: number; requeued: number; incidents: number; alerts: number };
  recent: Payload[];
  haltReason: string | undefined;
}

// Exported: a declaration of the machine names it (the Ask<> brand cannot be named outside kind.ts).
export type ClaudeEvent = ClaudeElderEvent | { type: `xstate.done.actor.${string}`; output: PlanOutput };

export function parseSubmission(p: Payload): { ok: true; value: Submission } | { ok: false; error: string } {
  const title = text(p.title, 'title', { required: true, max: 200 });
  const description = text(p.description, 'description', { max: 5000 });
  const priority = int(p.priority, 'priority', 0, 9);
  const handler = text(p.handler, 'handler', { max: 64 });
  const input = map(p.input, 'input');
  const timeoutMs = int(p.timeoutMs, 'timeoutMs', 1, 600_000);
  if (!title.ok || !description.ok || !priority.ok || !handler.ok || !input.ok || !timeoutMs.ok) {
    return { ok: false, error: firstError(title, description, priority, handler, input, timeoutMs)! };
  }
  return {
    ok: true,
    value: {
      title: title.value!,
      description: description.value ?? '',
      priority: priority.value ?? 5,
      ...(handler.value ? { handler: handler.value } : {}),
      ...(input.value ? { input: input.value } : {}),
      ...(timeoutMs.value ? { timeoutMs: timeoutMs.value } : {}),
    },
  };
}

/** The handler the best `handler.<name>` knowledge hit names, if any. */
export function handlerFromHits(hits: unknown): string | undefined {
  if (!Array.isArray(hits)) return undefined;
  for (const h of hits as { id?: unknown; tags?: unknown }[]) {
    if (typeof h?.id === 'string' && h.id.startsWith('handler.') && Array.isArray(h.tags) && h.tags.includes('handler')) return h.id.slice('handler.'.length);
  }
  return undefined;
}

/** A sensible input for a built-in handler from the task's words, when the task gives none. */
export function defaultInput(handler: string, s: Submission): Payload {
  const words = s.description || s.title;
  switch (handler) {
    case 'hash':
    case 'flaky':
      return { data: words };
    case 'transform':
      return { text: words, op: /\bslug\b/i.test(words) ? 'slug' : /\bcount\b|\bwords\b/i.test(words) ? 'words' : 'upper' };
    case 'sleep':
      return { ms: 100 };
    default:
      return {};
  }
}

/**
 * One submission: consult the sages (a sage that does not answer is skipped, it does
 * not block the task), choose a handler, queue the task. Never rejects: the answer
 * says what went wrong.
 */
export async function plan(runtime: ActorRuntime, input: PlanInput): Promise<PlanOutput> {
  const { submission: s, envelope } = input;
  try {
    const query = `${s.title} ${s.description}`;
    const [guidelines, search] = await Promise.all([
      askElder(runtime, input.knowledge, { type: 'sage.knowledge.query', tag: 'guideline', limit: 3 }, { timeout: 2000 }).catch(() => undefined),
      askElder(runtime, input.rag, { type: 'sage.rag.search', query, k: 3 }, { timeout: 2000 }).catch(() => undefined),
    ]);
    // A sage that refuses or does not answer is skipped.
    const hits = search?.ok === true && Array.isArray(search.hits) ? search.hits : [];
    const handler = s.handler ?? handlerFromHits(hits) ?? input.defaultHandler;
    const taskInput = s.input ?? defaultInput(handler, s);
    const queued = await askElder(runtime, input.taskSage, {
      type: 'sage.task.submit',
      title: s.title,
      description: s.description,
      priority: s.priority,
      handler,
      input: taskInput,
      ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
    });
    if (queued.ok !== true) return { envelope, answer: refuse(`the task sage refused the task: ${String(queued.error)}`) };
    const entries = guidelines?.ok === true && Array.isArray(guidelines.entries) ? guidelines.entries : [];
    return {
      envelope,
      answer: ok({
        id: queued.id,
        status: 'queued' as const,
        handler,
        paused: queued.paused === true,
        plan: {
          guidelines: entries.map((e) => e.title),
          consulted: hits.map((h) => ({ id: h.id, title: h.title, score: h.score })),
          handlerChosenBy: s.handler ? ('the task' as const) : handlerFromHits(hits) ? ('the rag sage' as const) : ('default' as const),
        },
      }),
    };
  } catch (err) {
    return { envelope, answer: refuse(`could not queue the task: ${(err as Error).message}`) };
  }
}

export const claudeElderMachine = setup({
  types: {
    context: {} as ClaudeContext,
    input: {} as ClaudeElderInput | undefined,
    events: {} as ClaudeEvent,
  },
  actors: {
    plan: fromRuntime<PlanOutput, PlanInput>('the claude elder', ({ input, runtime }) => plan(runtime, input)),
  },
  actions: {
    deliver,
    submit: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'development.task.submit') return;
      const env = currentEnvelope(system);
      // Local senders are not schema-checked, and limits are the elder's to say.
      const parsed = parseSubmission(event);
      if (!parsed.ok) {
        enqueue.assign({ counts: { ...context.counts, rejected: context.counts.rejected + 1 } });
        enqueue({ type: 'deliver', params: { effects: [answer(event, env, refuse(parsed.error))] } });
        return;
      }
      enqueue.spawnChild('plan', {
        id: `plan-${context.nextPlan}`,
        input: {
          submission: parsed.value,
          envelope: env,
          knowledge: context.knowledge,
          rag: context.rag,
          taskSage: context.taskSage,
          defaultHandler: context.defaultHandler,
        },
      });
      enqueue.assign({ nextPlan: context.nextPlan + 1, planning: context.planning + 1 });
    }),
    planned: enqueueActions(({ context, event, enqueue }) => {
      const { output, actorId } = event as unknown as { output: PlanOutput; actorId: string };
      const { envelope, answer } = output;
      // XState keeps a finished spawned child in the snapshot until it is stopped.
      enqueue.stopChild(actorId);
      const queued = answer.ok === true;
      enqueue.assign({
        planning: Math.max(0, context.planning - 1),
        counts: { ...context.counts, submitted: context.counts.submitted + (queued ? 1 : 0), rejected: context.counts.rejected + (queued ? 0 : 1) },
      });
      enqueue({ type: 'deliver', params: { effects: [answerLater<Extract<ClaudeElderEvent, { type: 'development.task.submit' }>>(envelope, answer)] } });
    }),
    toTaskSage: enqueueActions(({ context, system, enqueue }) => {
      enqueue({ type: 'deliver', params: { effects: [forwardEffect(currentEnvelope(system), context.taskSage)] } });
    }),
    status: enqueueActions(({ context, event, system, self, enqueue }) => {
      if (event.type !== 'development.status') return;
      const status = ok({
        state: self.getSnapshot().matches('halted') ? ('halted' as const) : ('working' as const),
        ...(context.haltReason ? { haltReason: context.haltReason } : {}),
        planning: context.planning,
        counts: context.counts,
        recent: context.recent.slice(-10),
      });
      enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), status)] } });
    }),
    report: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'report.to_elder') return;
      const env = currentEnvelope(system);
      // Read as data: a local sender may have sent anything under this type.
      const p = event as Payload;
      const effects: Effect[] = [answer(event, env, ok())];
      const counts = { ...context.counts };
      let recent = context.recent;
      if (p.kind === 'task') {
        const ev = p.event;
        if (ev === 'started' || ev === 'completed' || ev === 'failed' || ev === 'requeued') counts[ev]++;
        if (ev === 'completed' || ev === 'failed') {
          effects.push(tellEffect(context.commander, { type: ev === 'completed' ? 'report.task_completed' : 'report.task_failed', task: p.task as Payload }));
          recent = keepLast(recent, { event: ev, task: p.task as Payload, at: Date.now() }, 20);
        }
      } else if (p.kind === 'incident') {
        if (p.event === 'opened') counts.incidents++;
        effects.push(tellEffect(context.commander, { type: 'report.incident', event: p.event as string, incident: p.incident as Payload, ...(p.proposal ? { proposal: p.proposal as Payload } : {}) }));
      } else if (p.kind === 'risk.alert' || p.kind === 'risk.cleared') {
        if (p.kind === 'risk.alert') counts.alerts++;
        const { type: _t, ...rest } = p;
        effects.push(tellEffect(context.commander, { ...(rest as { path: string; score: number }), type: 'report.alert', kind: p.kind }));
      } else {
        effects[0] = answer(event, env, refuse(`report.to_elder kind must be task, incident, risk.alert or risk.cleared; got ${JSON.stringify(p.kind)}`));
      }
      enqueue.assign({ counts, recent });
      enqueue({ type: 'deliver', params: { effects } });
    }),
  },
}).createMachine({
  id: 'claude-elder',
  context: ({ input }) => ({
    knowledge: input?.knowledge ?? ELDER_ADDRESSES.knowledge,
    rag: input?.rag ?? ELDER_ADDRESSES.rag,
    taskSage: input?.taskSage ?? ELDER_ADDRESSES.task,
    commander: input?.commander ?? ELDER_ADDRESSES.commander,
    defaultHandler: input?.defaultHandler ?? 'transform',
    planning: 0,
    nextPlan: 1,
    counts: { submitted: 0, rejected: 0, started: 0, completed: 0, failed: 0, requeued: 0, incidents: 0, alerts: 0 },
    recent: [],
    haltReason: undefined,
  }),
  on: {
    'development.task.submit': { actions: 'submit' },
    'xstate.done.actor.*': { actions: 'planned' },
    'development.task.status': { actions: 'toTaskSage' },
    'development.task.list': { actions: 'toTaskSage' },
    'task.status': { actions: 'toTaskSage' },
    'development.status': { actions: 'status' },
    'report.to_elder': { actions: 'report' },
  },
  initial: 'working',
  states: {
    working: {
      on: {
        'development.halt': {
          target: 'halted',
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            const reason = typeof event.reason === 'string' ? event.reason : 'halted by the grand elder';
            enqueue.assign({ haltReason: reason });
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.taskSage, { type: 'sage.task.pause', reason }), answer(event, currentEnvelope(system), ok({ state: 'halted' }))] } });
          }),
        },
        // Passed on even when nothing changes here: the task sage (persistent) may still be paused.
        'development.resume': {
          actions: enqueueActions(({ context, event, system, enqueue }) =>
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.taskSage, { type: 'sage.task.resume' }), answer(event, currentEnvelope(system), ok({ state: 'working' }))] } }),
          ),
        },
      },
    },
    halted: {
      on: {
        'development.halt': {
          actions: enqueueActions(({ context, event, system, enqueue }) =>
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.taskSage, { type: 'sage.task.pause' }), answer(event, currentEnvelope(system), ok({ state: 'halted' }))] } }),
          ),
        },
        'development.resume': {
          target: 'working',
          actions: enqueueActions(({ context, event, system, enqueue }) => {
            enqueue.assign({ haltReason: undefined });
            enqueue({ type: 'deliver', params: { effects: [tellEffect(context.taskSage, { type: 'sage.task.resume' }), answer(event, currentEnvelope(system), ok({ state: 'working' }))] } });
          }),
        },
      },
    },
  },
});
