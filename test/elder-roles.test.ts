import { afterEach, describe, expect, it } from 'vitest';
import { AskRejectedError, type Envelope } from '../src/index.js';
import { createAuthorizer, matchesPattern, mayRoleSend, permissionsOf, roleOf, toNatsSubjectPattern } from '../src/security/roles.js';
import { ELDER_PATHS } from '../src/machines/elder-tree/paths.js';
import { startTree, until } from './elder-helpers.js';

const envelope = (from: string, type: string): Envelope => ({
  message_id: 'm-1',
  source_elder: from,
  target_elder: '/grand-elder/claude-elder',
  message_type: type,
  payload: {},
  priority: 5,
  timestamp: 0,
  requires_ack: false,
  seq: 1,
});

describe('roles (the seed\'s ProcessPermissions)', () => {
  it('patterns: * is everything, a.* is everything under a., else exact', () => {
    expect(matchesPattern('*', 'anything.at.all')).toBe(true);
    expect(matchesPattern('sage.*', 'sage.knowledge.query')).toBe(true);
    expect(matchesPattern('sage.*', 'sage')).toBe(false);
    expect(matchesPattern('sage.*', 'sages.x')).toBe(false);
    expect(matchesPattern('report.to_sage', 'report.to_sage')).toBe(true);
    expect(matchesPattern('report.to_sage', 'report.to_sage.x')).toBe(false);
    expect(toNatsSubjectPattern('sage.knowledge.*')).toBe('sage.knowledge.>');
    expect(toNatsSubjectPattern('*')).toBe('>');
  });

  it('every path of the tree has its role; senders outside the tree are operators', () => {
    expect(roleOf('/grand-elder')).toEqual({ name: 'grand_elder' });
    expect(roleOf(ELDER_PATHS.commander)).toEqual({ name: 'grand_elder' });
    expect(roleOf(ELDER_PATHS.claudeElder)).toEqual({ name: 'claude_elder' });
    expect(roleOf(ELDER_PATHS.elder)).toEqual({ name: 'claude_elder' });
    for (const domain of ['knowledge', 'task', 'incident', 'rag']) expect(roleOf(`/grand-elder/claude-elder/${domain}-sage`)).toEqual({ name: 'sage', domain });
    expect(roleOf(ELDER_PATHS.council)).toEqual({ name: 'council' });
    expect(roleOf('/grand-elder/servants/servant-7')).toEqual({ name: 'servant' });
    expect(roleOf(ELDER_PATHS.pool)).toEqual({ name: 'servant' });
    expect(roleOf(ELDER_PATHS.demo)).toEqual({ name: 'demo' });
    expect(roleOf('@client-42')).toEqual({ name: 'operator' });
    expect(roleOf('/somewhere/else')).toBeUndefined();
    expect(permissionsOf({ name: 'sage', domain: 'rag' })).toEqual(['sage.rag.*', 'report.to_elder']);
  });

  it('what each role may send', () => {
    const sage = (domain: string) => ({ name: 'sage' as const, domain });
    expect(mayRoleSend({ name: 'grand_elder' }, 'anything')).toBe(true);
    expect(mayRoleSend({ name: 'claude_elder' }, 'sage.task.submit')).toBe(true);
    expect(mayRoleSend({ name: 'claude_elder' }, 'report.task_completed')).toBe(true);
    expect(mayRoleSend({ name: 'claude_elder' }, 'council.propose')).toBe(false);
    expect(mayRoleSend(sage('knowledge'), 'sage.knowledge.changed')).toBe(true);
    expect(mayRoleSend(sage('knowledge'), 'sage.task.submit')).toBe(false);
    expect(mayRoleSend(sage('task'), 'report.to_elder')).toBe(true);
    expect(mayRoleSend(sage('task'), 'report.task_completed')).toBe(false);
    expect(mayRoleSend({ name: 'servant' }, 'report.to_sage')).toBe(true);
    expect(mayRoleSend({ name: 'servant' }, 'task.execute')).toBe(true);
    expect(mayRoleSend({ name: 'servant' }, 'development.task.submit')).toBe(false);
    expect(mayRoleSend({ name: 'council' }, 'council.vote')).toBe(true);
    expect(mayRoleSend({ name: 'council' }, 'sage.task.submit')).toBe(false);
    expect(mayRoleSend({ name: 'demo' }, 'development.task.submit')).toBe(true);
    expect(mayRoleSend({ name: 'demo' }, 'elder.emergency_stop')).toBe(false);
    expect(mayRoleSend({ name: 'operator' }, 'elder.emergency_stop')).toBe(true);
  });

  it('authorize() names the sender, its role and what it may send', () => {
    const authorize = createAuthorizer();
    expect(authorize(envelope('/grand-elder/claude-elder/elder', 'sage.task.submit'))).toBeUndefined();
    expect(authorize(envelope('/grand-elder/servants/servant-1', 'development.task.submit'))).toBe(
      'role servant of /grand-elder/servants/servant-1 may not send development.task.submit (allowed: task.execute, report.to_sage)',
    );
    expect(authorize(envelope('/grand-elder/claude-elder/rag-sage', 'sage.knowledge.add'))).toBe(
      'role sage (rag) of /grand-elder/claude-elder/rag-sage may not send sage.knowledge.add (allowed: sage.rag.*, report.to_elder)',
    );
    expect(authorize(envelope('/intruder', 'elder.status'))).toBe('/intruder has no role in the Elder Tree, so it may not send elder.status');
  });
});

describe('roles checked on every message of a running Elder Tree', () => {
  let stop: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('a servant sending development.task.submit is a dead letter "forbidden" (and its ask is refused)', async () => {
    const tree = await startTree({ servants: 1 });
    stop = tree.stop;
    const { node } = tree;
    node.tell('/grand-elder/claude-elder', 'development.task.submit', { title: 'sneaky' }, { from: '/grand-elder/servants/servant-1' });
    const err = await node
      .ask('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.add', { title: 't', content: 'c' }, { from: '/grand-elder/claude-elder/rag-sage' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskRejectedError);
    expect((err as AskRejectedError).reason).toBe('forbidden');
    await node.settled();
    const forbidden = tree.deadLetters().filter((d) => d.reason === 'forbidden');
    expect(forbidden.map((d) => [d.envelope?.source_elder, d.envelope?.message_type])).toEqual([
      ['/grand-elder/servants/servant-1', 'development.task.submit'],
      ['/grand-elder/claude-elder/rag-sage', 'sage.knowledge.add'],
    ]);
    expect(forbidden[0]!.detail).toContain('may not send development.task.submit');
    // Nothing was queued by the refused message.
    expect((await node.ask<{ counts: { queued: number } }>('/grand-elder/claude-elder/task-sage', 'sage.task.list')).counts.queued).toBe(0);
  });

  it('the real flows pass the table: tasks, crashes, knowledge, votes, the demo load', async () => {
    const tree = await startTree({ servants: 2, demo: { everyMs: 20, crashEvery: 3, proposeEveryMs: 50 }, incidentSage: { quietMs: 50, tickMs: 20 } });
    stop = tree.stop;
    const { node } = tree;
    await node.ask('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.add', { title: 'A lesson', content: 'learned' });
    await until('the demo to complete tasks, one of them after a crash, and the council to decide', async () => {
      const s = await node.ask<{ counts: Record<string, number>; decisions: unknown[] }>('/grand-elder', 'elder.status');
      return (s.counts['report.task_completed'] ?? 0) >= 6 && (s.counts['report.incident'] ?? 0) >= 1 && s.decisions.length >= 1;
    });
    expect(tree.lifecycle('crashed').length).toBeGreaterThan(0);
    expect(tree.deadLetters().filter((d) => d.reason === 'forbidden')).toEqual([]);
  });
});
