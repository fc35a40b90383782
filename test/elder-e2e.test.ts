import { afterEach, describe, expect, it } from 'vitest';
import { ServantCrash, type HandlerContext, type Payload } from '../src/internals.js';
import { draw } from '../src/machines/elder-tree/handlers.js';
import { seeded, sleep, startTree, until } from './elder-helpers.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let stop: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe('the Elder Tree end to end, on one node', () => {
  it('200 tasks with random priorities while servants crash at random: every task completes exactly once, higher priorities first', async () => {
    const N = 200;
    const random = seeded(20261121);
    // What the servants really ran: each task's successful runs, and any overlap.
    const running = new Set<string>();
    const overlaps: string[] = [];
    const runs = new Map<string, number>();
    const handlers = {
      work: async (input: Payload, ctx: HandlerContext): Promise<Payload> => {
        if (running.has(ctx.taskId)) overlaps.push(ctx.taskId);
        running.add(ctx.taskId);
        try {
          await sleep(input.ms as number);
          // About one attempt in six crashes its servant (drawn from task and attempt).
          if (draw(`${ctx.taskId}/${ctx.attempt}`) < 0.16) throw new ServantCrash('random servant crash');
          runs.set(ctx.taskId, (runs.get(ctx.taskId) ?? 0) + 1);
          return { n: input.n as number };
        } finally {
          running.delete(ctx.taskId);
        }
      },
    };
    const tree = await startTree({ servants: 6, handlers, taskSage: { maxAttempts: 25, maxFinished: 1000 } });
    stop = tree.stop;
    const { node } = tree;

    // The grand elder halts development so that the whole load is queued before any runs.
    expect(await node.ask('/grand-elder', 'elder.emergency_stop', { reason: 'queue the load first' })).toMatchObject({ ok: true, state: 'halted' });
    await node.settled();
    const t0 = performance.now();
    const submitted = await Promise.all(
      Array.from({ length: N }, (_, n) =>
        node.ask<Any>('/grand-elder/claude-elder', 'development.task.submit', {
          title: `task ${n}`,
          description: 'end to end',
          priority: Math.floor(random() * 10),
          handler: 'work',
          input: { n, ms: Math.floor(random() * 4) },
        }),
      ),
    );
    expect(submitted.every((s) => s.ok === true && typeof s.id === 'string')).toBe(true);
    const ids = submitted.map((s) => s.id as string);
    expect(new Set(ids).size).toBe(N);
    const queued = await node.ask<Any>('/grand-elder/claude-elder/task-sage', 'sage.task.list', { limit: 1000 });
    expect(queued.counts).toMatchObject({ queued: N, assigned: 0, running: 0 });

    expect(await node.ask('/grand-elder', 'elder.resume')).toMatchObject({ state: 'commanding' });
    // Chaos on top: servants crash from outside, mid-task or idle.
    let chaos = 0;
    const monkey = setInterval(() => {
      if (chaos >= 25) return;
      chaos++;
      node.tell(`/grand-elder/servants/servant-${1 + Math.floor(random() * 6)}`, 'servant.crash', { reason: 'chaos monkey' });
    }, 15);
    try {
      await until(
        `all ${N} tasks to complete`,
        async () => {
          const list = await node.ask<Any>('/grand-elder/claude-elder/task-sage', 'sage.task.list', { limit: 1000 });
          return list.counts.completed === N;
        },
        40_000,
      );
    } finally {
      clearInterval(monkey);
    }
    const elapsed = performance.now() - t0;
    await node.settled();

    const list = await node.ask<Any>('/grand-elder/claude-elder/task-sage', 'sage.task.list', { limit: 1000 });
    const tasks = list.tasks as Any[];
    expect(tasks).toHaveLength(N);
    // Exactly once: one completion each, as the sage, the claude elder and the grand elder saw it.
    expect(tasks.every((t) => t.status === 'completed' && typeof t.result?.n === 'number')).toBe(true);
    expect(list.stats).toMatchObject({ completed: N, failed: 0 });
    const elder = await node.ask<Any>('/grand-elder/claude-elder', 'development.status');
    expect(elder.counts).toMatchObject({ submitted: N, completed: N, failed: 0 });
    const commander = await node.ask<Any>('/grand-elder', 'elder.status');
    expect(commander.counts['report.task_completed']).toBe(N);
    // Never twice at once (the task lock), and every task did run.
    expect(overlaps).toEqual([]);
    expect(ids.every((id) => (runs.get(id) ?? 0) >= 1)).toBe(true);
    // Higher priorities were assigned first: in first-assignment order, priorities never rise.
    const byAssignment = tasks.slice().sort((a, b) => a.firstAssigned - b.firstAssigned);
    for (let k = 1; k < byAssignment.length; k++) {
      expect(byAssignment[k]!.priority, `assignment ${k}`).toBeLessThanOrEqual(byAssignment[k - 1]!.priority);
    }
    // The crashes really happened, and were recovered from.
    const crashes = tree.lifecycle('crashed').filter((e) => e.path.startsWith('/grand-elder/servants/')).length;
    expect(crashes).toBeGreaterThan(20);
    expect(list.stats.requeued).toBeGreaterThan(10);
    expect(tree.lifecycle('escalated')).toEqual([]);
    // Every message of the real flows passed the role table.
    expect(tree.deadLetters().filter((d) => d.reason === 'forbidden')).toEqual([]);
    const attempts = tasks.reduce((sum, t) => sum + t.attempts, 0);
    console.log(
      `e2e: ${N} tasks in ${Math.round(elapsed)} ms; ${crashes} servant crashes (${chaos} from outside), ${list.stats.requeued} re-queues, ${attempts} attempts, ${[...runs.values()].reduce((a, b) => a + b, 0)} successful runs`,
    );
  });

  it('a task flows through to completion as the grand elder orders it, and bad orders get clear answers', async () => {
    const tree = await startTree({ servants: 2 });
    stop = tree.stop;
    const { node } = tree;
    await until('the rag sage to sync', async () => ((await node.ask<Any>('/grand-elder/claude-elder/rag-sage', 'sage.rag.status')).synced as boolean));
    // To the grand elder's own path: the commander forwards development orders.
    const queued = await node.ask<Any>('/grand-elder', 'development.task.submit', { title: 'Fingerprint the release notes', description: 'checksum of the notes', priority: 6 });
    expect(queued).toMatchObject({ ok: true, status: 'queued', handler: 'hash', plan: { handlerChosenBy: 'the rag sage' } });
    expect(queued.plan.consulted[0]).toMatchObject({ id: 'handler.hash' });
    await until('completion', async () => (await node.ask<Any>('/grand-elder/claude-elder', 'task.status', { id: queued.id })).task.status === 'completed');
    const done = await node.ask<Any>('/grand-elder/claude-elder', 'development.task.status', { id: queued.id });
    expect(done.task).toMatchObject({ status: 'completed', attempts: 1, result: { algorithm: 'sha256', digest: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    expect(done.task.history.map((h: Any) => h.what.split(' ')[0])).toEqual(['queued', 'attempt', 'attempt', 'completed']);

    expect(await node.ask('/grand-elder/claude-elder', 'task.status', { id: 'no-such-task' })).toMatchObject({ ok: false, error: expect.stringContaining('unknown task id') });
    expect(await node.ask('/grand-elder/claude-elder', 'development.task.submit', { title: 'x', priority: 'high' })).toEqual({
      ok: false,
      error: 'priority must be a whole number, got the string "high"',
    });
    expect(await node.ask('/grand-elder/claude-elder', 'development.task.submit', { title: 'x', handler: 'teleport' })).toMatchObject({ ok: true });
    await until('the unknown handler to fail the task', async () => {
      const s = await node.ask<Any>('/grand-elder', 'elder.status');
      return (s.counts['report.task_failed'] ?? 0) === 1;
    });
    // A message nobody handles is a dead letter and a rejected ask, never a crash.
    await expect(node.ask('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.explode')).rejects.toThrow(/does not handle/);
    expect(tree.lifecycle('crashed').filter((e) => !e.path.includes('/servants/'))).toEqual([]);
  });

  it('the knowledge sage resumes its entries after a restart (persisted snapshot)', async () => {
    const { MemorySnapshotStore } = await import('../src/index.js');
    const snapshots = new MemorySnapshotStore();
    let tree = await startTree({ servants: 1, snapshots });
    const added = await tree.node.ask<Any>('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.add', { title: 'Lesson', content: 'persist me' });
    await tree.node.settled();
    await tree.stop();
    tree = await startTree({ servants: 1, snapshots });
    stop = tree.stop;
    expect(await tree.node.ask('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.get', { id: added.entry.id })).toMatchObject({ ok: true, entry: { content: 'persist me' } });
    // ...and the rag sage indexes it from the restored knowledge.
    await until('the rag sage to find it', async () => ((await tree.node.ask<Any>('/grand-elder/claude-elder/rag-sage', 'sage.rag.search', { query: 'persist' })).hits as Any[]).length > 0);
  });
});
