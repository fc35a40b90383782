import { afterEach, describe, expect, it } from 'vitest';
import { startTree, until } from './elder-helpers.js';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let stop: (() => Promise<unknown>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

const servantIds = (node: { whichChildren(path: string): { id: string; status: string }[] }) =>
  node
    .whichChildren('/grand-elder/servants')
    .filter((c) => c.id.startsWith('servant-'))
    .map((c) => `${c.id}:${c.status}`);

describe('the elder council on a running Elder Tree', () => {
  it('a majority decision is carried out: the servants really scale, and the new ones take work', async () => {
    const tree = await startTree({ servants: 2 });
    stop = tree.stop;
    const { node } = tree;
    await until('the rag sage to sync', async () => (await node.ask<Any>('/grand-elder/claude-elder/rag-sage', 'sage.rag.status')).synced === true);
    const up = await node.ask<Any>('/grand-elder/elder-council', 'council.propose', { kind: 'scale_servants', count: 5, reason: 'the queue grows' });
    expect(up.decision).toMatchObject({
      outcome: 'accepted',
      decidedBy: 'majority',
      ballots: { task: { vote: 'yes' }, incident: { vote: 'yes' }, rag: { vote: 'yes' }, knowledge: { vote: 'abstain' } },
      execution: { ok: true },
    });
    expect(servantIds(node)).toEqual(['servant-1:running', 'servant-2:running', 'servant-3:running', 'servant-4:running', 'servant-5:running']);

    // All five pull work: five slow tasks run side by side.
    const ids: string[] = [];
    for (let k = 0; k < 5; k++) {
      ids.push((await node.ask<Any>('/grand-elder/claude-elder', 'development.task.submit', { title: `slow ${k}`, handler: 'sleep', input: { ms: 300 } })).id);
    }
    await until('five tasks running at once', async () => (await node.ask<Any>('/grand-elder/claude-elder/task-sage', 'sage.task.list', { status: 'running' })).tasks.length === 5);
    const running = (await node.ask<Any>('/grand-elder/claude-elder/task-sage', 'sage.task.list', { status: 'running' })).tasks as Any[];
    expect(new Set(running.map((t) => t.servant.path)).size).toBe(5);

    const down = await node.ask<Any>('/grand-elder', 'council.propose', { kind: 'scale_servants', count: 1 });
    expect(down.decision).toMatchObject({ outcome: 'accepted', execution: { ok: true } });
    expect(servantIds(node)).toEqual(['servant-1:running']);
    // The tasks of the servants that went away are re-queued and still complete.
    await until('all five to complete', async () => (await node.ask<Any>('/grand-elder/claude-elder/task-sage', 'sage.task.list', { status: 'completed' })).tasks.length === 5);
    const status = await node.ask<Any>('/grand-elder', 'elder.status');
    expect(status.decisions.map((d: Any) => d.summary)).toEqual(['scale servants to 5', 'scale servants to 1']);
    expect(tree.deadLetters().filter((d) => d.reason === 'forbidden')).toEqual([]);
  });

  it('a tie goes to the grand elder: approved within its limit and carried out, rejected past it', async () => {
    const tree = await startTree({ servants: 2 });
    stop = tree.stop;
    const { node } = tree;
    const sage = (type: string, payload: Any) => node.ask<Any>('/grand-elder/claude-elder/knowledge-sage', type, payload);
    // The knowledge and rag sages turn against scaling: two against two.
    expect(await sage('sage.knowledge.add', { id: 'policy.scale_servants', title: 'Scaling policy', content: 'reject: scaling needs the grand elder' })).toMatchObject({ ok: true });
    expect(await sage('sage.knowledge.update', { id: 'lesson.scaling', tags: ['lesson', 'council', 'caution'] })).toMatchObject({ ok: true });
    await until('the rag sage to learn the change', async () => {
      const vote = await node.ask<Any>('/grand-elder/claude-elder/rag-sage', 'council.vote', { proposal: { kind: 'scale_servants', count: 3 } });
      return vote.vote === 'no';
    });

    const approved = await node.ask<Any>('/grand-elder/elder-council', 'council.propose', { kind: 'scale_servants', count: 3 });
    expect(approved.decision).toMatchObject({
      tally: { yes: 2, no: 2, outcome: 'tie' },
      outcome: 'accepted',
      decidedBy: 'grand-elder',
      verdictReason: "3 servants is within the grand elder's limit of 8",
      execution: { ok: true },
    });
    expect(servantIds(node)).toHaveLength(3);

    const rejected = await node.ask<Any>('/grand-elder/elder-council', 'council.propose', { kind: 'scale_servants', count: 12 });
    expect(rejected.decision).toMatchObject({ tally: { outcome: 'tie' }, outcome: 'rejected', decidedBy: 'grand-elder', verdictReason: "12 servants is past the grand elder's limit of 8" });
    expect(rejected.decision.execution).toBeUndefined();
    expect(servantIds(node)).toHaveLength(3);

    // A quarantine with a tie: the grand elder keeps the servant in service.
    await sage('sage.knowledge.add', { id: 'policy.quarantine', title: 'Quarantine policy', content: 'approve quarantines' });
    const q = await node.ask<Any>('/grand-elder/elder-council', 'council.propose', { kind: 'quarantine', target: 'servant-2' });
    expect(q.decision).toMatchObject({
      ballots: { knowledge: { vote: 'yes' }, task: { vote: 'yes' }, incident: { vote: 'no' }, rag: { vote: 'no' } },
      outcome: 'rejected',
      decidedBy: 'grand-elder',
    });
    expect(servantIds(node)).toContain('servant-2:running');
  });

  it('an emergency stop halts the work and votes; resume lets both go on', async () => {
    const tree = await startTree({ servants: 2 });
    stop = tree.stop;
    const { node } = tree;
    await node.ask('/grand-elder', 'elder.emergency_stop', { reason: 'audit' });
    await node.settled();
    const queued = await node.ask<Any>('/grand-elder', 'development.task.submit', { title: 'waits', handler: 'hash' });
    expect(queued).toMatchObject({ ok: true, paused: true });
    await node.settled();
    expect((await node.ask<Any>('/grand-elder', 'task.status', { id: queued.id })).task.status).toBe('queued');
    expect(await node.ask<Any>('/grand-elder/claude-elder', 'development.status')).toMatchObject({ state: 'halted', haltReason: 'audit' });
    await node.ask('/grand-elder', 'elder.resume');
    await until('the task to complete', async () => (await node.ask<Any>('/grand-elder', 'task.status', { id: queued.id })).task.status === 'completed');
  });
});
