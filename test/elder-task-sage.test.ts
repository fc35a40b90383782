import { describe, expect, it } from 'vitest';
import { taskSageMachine } from '../src/internals.js';
import { bare } from './elder-helpers.js';

const S1 = { node: 'n1', path: '/grand-elder/servants/servant-1', incarnation: 1 };
const S2 = { node: 'n1', path: '/grand-elder/servants/servant-2', incarnation: 1 };

function sage(input: Record<string, unknown> = {}) {
  const t = bare(taskSageMachine, { tickMs: 0, ...input });
  const submit = (title: string, priority?: number, extra: Record<string, unknown> = {}) => {
    t.send('sage.task.submit', { title, handler: 'hash', ...(priority === undefined ? {} : { priority }), ...extra });
    return t.replies()[0] as { ok: boolean; id: string; error?: string };
  };
  const ready = (servant = S1) => t.send('report.to_sage', { kind: 'ready', servant });
  const report = (kind: string, id: string, attempt: number, servant = S1, extra: Record<string, unknown> = {}) =>
    t.send('report.to_sage', { kind, id, attempt, servant, ...extra });
  const task = (id: string) => (t.context as { board: { tasks: Record<string, Record<string, unknown>> } }).board.tasks[id]!;
  return Object.assign(t, { submit, ready, report, task });
}

describe('task sage (XState transitions, no node)', () => {
  it('answers bad submissions with a clear error and queues nothing', () => {
    const t = sage();
    expect(t.submit('')).toEqual({ ok: false, error: 'title must not be empty' });
    expect(t.submit('x', 12)).toEqual({ ok: false, error: 'priority must be from 0 to 9, got 12' });
    t.send('sage.task.submit', { title: 'no handler' });
    expect(t.replies()).toEqual([{ ok: false, error: 'handler is required (a non-empty string)' }]);
    t.send('sage.task.submit', { title: 'x', handler: 'hash', input: [1] });
    expect(t.replies()).toEqual([{ ok: false, error: 'input must be a map, got a list' }]);
    t.send('sage.task.submit', { title: 'x', handler: 'hash', input: { data: 'x'.repeat(10_000) } });
    expect(t.replies()[0]).toMatchObject({ ok: false, error: expect.stringContaining('input is larger than') });
    t.send('sage.task.status', { id: 7 });
    expect(t.replies()).toEqual([{ ok: false, error: 'status needs id, a task id string; got number 7' }]);
    t.send('task.status', { id: 'nope' });
    expect(t.replies()[0]).toMatchObject({ ok: false, error: expect.stringContaining('unknown task id "nope"') });
    t.send('report.to_sage', { kind: 'done' });
    expect(t.replies()[0]).toMatchObject({ ok: false, error: expect.stringContaining('needs servant') });
    t.send('report.to_sage', { kind: 'bogus', id: 'x', attempt: 1, servant: S1 });
    expect(t.replies()[0]).toEqual({ ok: false, error: 'unknown report kind the string "bogus"' });
    expect(t.actor.getSnapshot().status).toBe('active');
    expect(t.context.board.queue).toEqual([]);
  });

  it('hands out the highest priority first, FIFO among equals, to waiting servants', () => {
    const t = sage();
    const low = t.submit('low', 1).id;
    const hiA = t.submit('high a', 8).id;
    const mid = t.submit('mid', 5).id;
    const hiB = t.submit('high b', 8).id;
    expect(t.context.board.queue).toEqual([hiA, hiB, mid, low]);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      t.ready({ ...S1, incarnation: 1 });
      const answer = t.replies()[0] as { task: { id: string; attempt: number } };
      order.push(answer.task.id);
      t.report('started', answer.task.id, 1);
      t.replies();
      t.report('done', answer.task.id, 1, S1, { result: { digest: 'x' }, durationMs: 1 });
      t.replies();
    }
    expect(order).toEqual([hiA, hiB, mid, low]);
    expect(t.task(hiA).firstAssigned).toBe(1);
    expect(t.task(low).firstAssigned).toBe(4);
  });

  it('holds a ready ask until work comes (long poll), answers "no task" when it expires', () => {
    const t = sage({ pollMs: 1000 });
    t.ready();
    expect(t.replies()).toEqual([]);
    t.send('sage.task.submit', { title: 'work', handler: 'hash' });
    const [queued, assigned] = t.replies();
    expect(queued).toMatchObject({ ok: true, status: 'queued' });
    expect(assigned).toMatchObject({ ok: true, task: { id: queued!.id, attempt: 1, handler: 'hash' }, for: '/grand-elder/servants/servant-1#1@n1' });
    t.ready(S2);
    t.send('tick', { now: Date.now() + 1500 });
    expect(t.replies()).toEqual([{ ok: true, task: null }]);
    expect(t.context.board.waiters).toEqual([]);
  });

  it('runs an attempt only after the servant confirms it; the first done completes, a second is a duplicate', () => {
    const t = sage();
    const id = t.submit('once', 5).id;
    t.ready();
    t.replies();
    t.report('started', id, 2);
    expect(t.replies()).toEqual([{ ok: true, go: false, reason: `attempt 2 of ${id} is not current (task is assigned, attempt 1)` }]);
    t.report('started', id, 1, S2);
    expect(t.replies()[0]).toMatchObject({ go: false });
    t.report('started', id, 1);
    expect(t.replies()).toEqual([{ ok: true, go: true }]);
    expect(t.task(id).status).toBe('running');
    t.report('done', id, 1, S1, { result: { digest: 'abc' }, durationMs: 3 });
    expect(t.replies()).toEqual([{ ok: true, accepted: true }]);
    t.report('done', id, 1, S1, { result: { digest: 'abc' } });
    expect(t.replies()).toEqual([{ ok: true, accepted: false }]);
    expect(t.task(id)).toMatchObject({ status: 'completed', result: { digest: 'abc' }, durationMs: 3 });
    expect(t.context.board.stats).toMatchObject({ completed: 1, duplicates: 1 });
    const reports = t.tells('report.to_elder').map((e) => (e.payload as { event: string }).event);
    expect(reports).toEqual(['started', 'completed']);
    // A finished task is not started again.
    t.report('started', id, 1);
    expect(t.replies()[0]).toMatchObject({ go: false });
  });

  it('re-queues when the servant crashes (report, restart or bridge), fails for good after maxAttempts', () => {
    const t = sage({ maxAttempts: 3 });
    const id = t.submit('fragile', 5).id;
    // 1: the servant reports its own crash.
    t.ready();
    t.replies();
    t.report('started', id, 1);
    t.report('failed', id, 1, S1, { error: 'boom', crash: true, retryable: true });
    expect(t.task(id)).toMatchObject({ status: 'queued', attempts: 1 });
    // 2: a new incarnation of the servant asks for work: what the old one held goes back.
    t.ready(S2);
    t.replies();
    expect(t.task(id)).toMatchObject({ status: 'assigned', attempts: 2, servant: S2 });
    t.ready({ ...S2, incarnation: 2 });
    expect(t.task(id).status).toBe('assigned'); // re-queued and handed to the new incarnation at once
    expect(t.task(id)).toMatchObject({ attempts: 3, servant: { ...S2, incarnation: 2 } });
    // 3: the bridge says it crashed too: attempts are used up.
    t.replies();
    t.send('sage.task.servant_down', { ...S2, incarnation: 2, reason: 'crashed: boom' });
    expect(t.task(id)).toMatchObject({ status: 'failed', error: expect.stringContaining('gave up after 3 attempts') });
    expect(t.context.board.stats).toMatchObject({ crashes: 3, failed: 1 });
    expect(t.tells('report.to_elder').map((e) => (e.payload as { event: string }).event)).toContain('failed');
  });

  it('a node going down takes back its servants\' tasks and waits', () => {
    const t = sage();
    const onN2 = { ...S2, node: 'n2' };
    const id = t.submit('remote', 5).id;
    t.ready(onN2);
    t.ready({ ...S1, node: 'n2', path: '/grand-elder/servants/servant-1' });
    t.ready(S1);
    t.replies();
    expect(t.task(id).servant).toEqual(onN2);
    t.send('sage.task.node_down', { node: 'n2', reason: 'no heartbeat' });
    // Re-queued and handed to the one waiting servant left, on n1.
    expect(t.task(id)).toMatchObject({ status: 'assigned', servant: S1, attempts: 2 });
    expect(t.context.board.waiters).toEqual([]);
  });

  it('a non-retryable failure fails the task at once; a retryable one re-queues it', () => {
    const t = sage();
    const a = t.submit('a', 5).id;
    const b = t.submit('b', 5).id;
    t.ready();
    t.ready(S2);
    t.report('failed', a, 1, S1, { error: 'no handler "x"', retryable: false });
    t.report('failed', b, 1, S2, { error: 'flaky network', retryable: true });
    expect(t.task(a)).toMatchObject({ status: 'failed', error: 'no handler "x"' });
    expect(t.task(b)).toMatchObject({ status: 'queued' });
  });

  it('takes back attempts past their deadline on the clock', () => {
    const t = sage({ assignTimeoutMs: 100 });
    const id = t.submit('slow start', 5, { timeoutMs: 1000 }).id;
    t.ready();
    t.replies();
    const now = Date.now();
    t.send('tick', { now: now + 50 });
    expect(t.task(id).status).toBe('assigned');
    t.send('tick', { now: now + 200 });
    expect(t.task(id)).toMatchObject({ status: 'queued' });
    expect(t.context.board.stats.timeouts).toBe(1);
    expect((t.task(id).history as { what: string }[]).at(-1)!.what).toContain('timed out: the servant did not confirm the start');
  });

  it('a (re)start from a snapshot re-checks what was in flight; the attempt is given back', () => {
    const t = sage();
    const a = t.submit('assigned', 5).id;
    const b = t.submit('running', 5).id;
    t.ready();
    t.ready(S2);
    t.report('started', b, 1, S2);
    t.ready({ ...S1, path: '/grand-elder/servants/servant-3' });
    t.replies();
    t.send('tick', { boot: true });
    expect(t.replies()).toEqual([{ ok: true, task: null }]); // a restored wait is answered, to be asked again
    expect(t.task(a)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(t.task(b)).toMatchObject({ status: 'queued', attempts: 0 });
    // The servant that was running it reports: that completes it (its lock kept any copy from running).
    t.report('done', b, 1, S2, { result: { ok: 1 } });
    expect(t.task(b).status).toBe('completed');
    expect(t.context.board.queue).toEqual([a]);
  });

  it('a held lock sends the task back to wait until the holder lets go; the attempt is not counted', () => {
    const t = sage();
    const id = t.submit('locked', 5).id;
    t.ready();
    t.replies();
    t.report('lock_busy', id, 1, S1, { retryAfterMs: 300 });
    expect(t.task(id)).toMatchObject({ status: 'queued', attempts: 0 });
    t.ready(S2);
    expect(t.replies()).toEqual([{ ok: true }]); // the lock_busy ack; S2 keeps waiting
    t.send('tick', { now: Date.now() + 400 });
    expect(t.replies()[0]).toMatchObject({ task: { id, attempt: 1 } });
  });

  it('pause keeps tasks queued; resume hands them out', () => {
    const t = sage();
    t.send('sage.task.pause', { reason: 'emergency' });
    expect(t.replies()).toEqual([{ ok: true, paused: true }]);
    t.ready();
    const id = t.submit('wait', 9).id;
    expect(t.replies()).toEqual([]);
    expect(t.task(id).status).toBe('queued');
    t.send('sage.task.resume');
    expect(t.replies()).toEqual([{ ok: true, paused: false }, expect.objectContaining({ task: expect.objectContaining({ id }) })]);
  });

  it('refuses submissions past maxQueued (backpressure)', () => {
    const t = sage({ maxQueued: 2 });
    expect(t.submit('a').ok).toBe(true);
    expect(t.submit('b').ok).toBe(true);
    expect(t.submit('c')).toEqual({ ok: false, error: 'the queue is full (2 tasks waiting); try again later' });
  });

  it('lists tasks and refuses a bad filter', () => {
    const t = sage();
    t.submit('a', 1);
    t.submit('b', 2);
    t.send('sage.task.list', { status: 'queued' });
    expect(t.replies()[0]).toMatchObject({ ok: true, counts: { queued: 2 }, tasks: [{ title: 'a' }, { title: 'b' }] });
    t.send('sage.task.list', { status: 'sideways' });
    expect(t.replies()[0]).toMatchObject({ ok: false, error: expect.stringContaining('status must be one of') });
  });

  it('forgets the oldest finished tasks past maxFinished', () => {
    const t = sage({ maxFinished: 2 });
    const ids = ['a', 'b', 'c'].map((title) => t.submit(title, 5).id);
    for (const id of ids) {
      t.ready();
      t.report('started', id, 1);
      t.report('done', id, 1, S1, { result: {} });
    }
    expect(Object.keys(t.context.board.tasks)).toEqual([ids[1], ids[2]]);
  });

  it('votes on proposals from the queue: no to more servants than it can keep busy', () => {
    const t = sage({ maxServants: 8 });
    t.send('council.vote', { proposal: { kind: 'scale_servants', count: 20 } });
    t.send('council.vote', { proposal: { kind: 'scale_servants', count: 4 } });
    t.send('council.vote', { proposal: { kind: 'quarantine', target: 'servant-2' } });
    t.send('council.vote', { proposal: { kind: 'launch_rockets' } });
    expect(t.replies().map((r) => r.vote)).toEqual(['no', 'yes', 'yes', 'no']);
  });
});
