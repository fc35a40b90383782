import { afterEach, describe, expect, it } from 'vitest';
import { incidentSageMachine } from '../src/internals.js';
import { normalizeReason, pathPattern, signatureOf } from '../src/machines/elder-tree/incident-model.js';
import { bare, sleep, startTree, until } from './elder-helpers.js';

const S1 = '/grand-elder/servants/servant-1';
const S2 = '/grand-elder/servants/servant-2';

function sage(input: Record<string, unknown> = {}) {
  const t = bare(incidentSageMachine, { tickMs: 0, quietMs: 100, ...input });
  const life = (event: string, path: string, at: number, reason?: string) =>
    t.send('sage.incident.observe', { kind: 'lifecycle', event, path, node: 'n1', incarnation: 1, at, ...(reason ? { reason } : {}) });
  const tick = (now: number) => t.send('tick', { now });
  const ask = (type: string, payload: Record<string, unknown> = {}) => {
    t.replies();
    t.send(type, payload);
    return t.replies()[0] as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const reports = (kind?: string) =>
    t.tells('report.to_elder').map((e) => e.payload as Record<string, any>).filter((p) => kind === undefined || p.kind === kind); // eslint-disable-line @typescript-eslint/no-explicit-any
  return Object.assign(t, { life, tick, ask, reports });
}

describe('incident signatures', () => {
  it('blank out what differs between occurrences of one fault', () => {
    expect(normalizeReason('Timeout after 5000 ms on 0xdeadbeef (task "t42")')).toBe('timeout after # ms on # (task "…")');
    expect(pathPattern('/grand-elder/servants/servant-13')).toBe('/grand-elder/servants/servant-*');
    expect(signatureOf('crash', S1, 'boom 1')).toBe(signatureOf('crash', S2, 'boom 2'));
    expect(signatureOf('crash', S1, 'boom')).not.toBe(signatureOf('crash', S1, 'bang'));
  });
});

describe('incident sage (XState transitions, no node)', () => {
  it('learns that a restart resolved a crash signature and proposes it the next time', () => {
    const t = sage();
    t.life('crashed', S1, 1000, 'handler exploded on task t7');
    expect(t.reports('incident').map((r) => r.event)).toEqual(['opened']);
    expect(t.reports('incident')[0]!.incident).not.toHaveProperty('proposal');
    t.life('restarted', S1, 1001);
    t.tick(1050);
    expect(t.ask('sage.incident.get', { id: 'i1' }).incident).toMatchObject({ status: 'recovering', action: 'restart' });
    t.tick(1200); // quiet for quietMs after the restart: it worked
    expect(t.ask('sage.incident.get', { id: 'i1' }).incident).toMatchObject({ status: 'resolved', resolvedBy: 'restart' });
    const signature = 'crash:/grand-elder/servants/servant-*:handler exploded on task t#';
    expect(t.ask('sage.incident.patterns').learned).toEqual({ [signature]: { restart: { successes: 1, failures: 0 } } });

    // The same fault on another servant: the incident carries what worked.
    t.effects.length = 0;
    t.life('crashed', S2, 2000, 'handler exploded on task t9');
    const opened = t.reports('incident');
    expect(opened.map((r) => r.event)).toEqual(['opened', 'proposal']);
    expect(opened[1]).toMatchObject({ proposal: { action: 'restart', successes: 1, failures: 0 }, incident: { subject: S2, signature } });
    // A restart is the runtime's own job: nothing goes to the council.
    expect(t.tells('sage.incident.propose')).toEqual([]);
  });

  it('counts a recovery that did not hold as a failure, and proposes what worked instead (to the council when it needs a vote)', () => {
    const t = sage();
    // servant-1 keeps crashing: each restart fails to fix it.
    t.life('crashed', S1, 1000, 'bad memory');
    t.life('restarted', S1, 1001);
    t.life('crashed', S1, 1010, 'bad memory');
    t.life('restarted', S1, 1011);
    t.life('crashed', S1, 1020, 'bad memory');
    t.life('restarted', S1, 1021);
    // The council quarantines it; nothing crashes afterwards.
    t.send('council.decided', {
      decision: { outcome: 'accepted', proposal: { kind: 'quarantine', target: S1 }, execution: { ok: true, detail: '' } },
    });
    const incident = t.ask('sage.incident.get', { id: 'i1' }).incident;
    expect(incident).toMatchObject({ occurrences: 3, status: 'recovering', action: 'quarantine' });
    t.tick(Date.now() + 1000);
    const signature = 'crash:/grand-elder/servants/servant-*:bad memory';
    expect(t.ask('sage.incident.patterns').learned[signature]).toEqual({
      restart: { successes: 0, failures: 2 },
      quarantine: { successes: 1, failures: 0 },
    });
    // Next time, on servant-2: quarantine is proposed, and to the council, which votes on it.
    t.effects.length = 0;
    t.life('crashed', S2, Date.now() + 2000, 'bad memory');
    expect(t.tells('sage.incident.propose')).toEqual([
      expect.objectContaining({ to: '/grand-elder/elder-council', payload: expect.objectContaining({ kind: 'quarantine', target: S2 }) }),
    ]);
  });

  it('the risk score rises with the restart rate, alerts past the threshold, and falls after recovery', () => {
    const t = sage({ tauMs: 30_000, threshold: 0.6, clearBelow: 0.45 });
    const scores: number[] = [];
    for (let k = 0; k < 4; k++) {
      t.life('crashed', S1, 10_000 + k * 100, 'boom');
      t.life('restarted', S1, 10_001 + k * 100);
      scores.push(t.ask('sage.incident.risk', { path: S1 }).score);
    }
    expect(scores[0]).toBeGreaterThan(0);
    for (let k = 1; k < scores.length; k++) expect(scores[k]).toBeGreaterThan(scores[k - 1]!);
    const alerts = t.reports('risk.alert');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ path: S1 });
    expect(alerts[0]!.score).toBeGreaterThanOrEqual(0.6);
    expect(scores[1]).toBeLessThan(0.6); // two quick crashes are not yet an alert
    // Recovery: no crash for a few minutes.
    t.tick(10_400 + 30_000);
    const later = t.ask('sage.incident.risk', { path: S1 }).score;
    expect(later).toBeLessThan(scores[3]!);
    t.tick(10_400 + 120_000);
    const recovered = t.ask('sage.incident.risk', { path: S1 });
    expect(recovered.score).toBeLessThan(0.45);
    expect(recovered.alerted).toBe(false);
    expect(t.reports('risk.cleared')).toEqual([expect.objectContaining({ path: S1 })]);
    // Another actor's score is its own.
    expect(t.ask('sage.incident.risk', { path: S2 })).toMatchObject({ score: 0 });
  });

  it('mailbox growth and slower latency raise the score too', () => {
    const t = sage();
    const path = '/grand-elder/claude-elder/task-sage';
    t.send('sage.incident.metrics', { node: 'n1', at: 1000, samples: [{ path, mailbox: 10 }] });
    t.send('sage.incident.metrics', { node: 'n1', at: 2000, samples: [{ path, mailbox: 60 }] });
    t.send('sage.incident.metrics', { node: 'n1', at: 3000, samples: [{ path, mailbox: 110 }] });
    const m = t.ask('sage.incident.risk', { path });
    expect(m.components.mailbox).toBeGreaterThan(0.5);
    expect(m.score).toBeGreaterThan(0.25);
    for (let k = 0; k < 20; k++) t.send('sage.task.metrics', { at: 4000 + k, samples: [{ path: S1, latencyMs: 10 }] });
    expect(t.ask('sage.incident.risk', { path: S1 }).components.latency).toBe(0);
    for (let k = 0; k < 5; k++) t.send('sage.task.metrics', { at: 5000 + k, samples: [{ path: S1, latencyMs: 200 }] });
    expect(t.ask('sage.incident.risk', { path: S1 }).components.latency).toBeGreaterThan(0.5);
  });

  it('a node down seen by every survivor is one incident; its return is the recovery', () => {
    const t = sage();
    t.send('sage.incident.observe', { kind: 'node_down', node: 'n3', reason: 'no heartbeat for 800 ms', at: 1000 });
    t.send('sage.incident.observe', { kind: 'node_down', node: 'n3', reason: 'no heartbeat for 790 ms', at: 1001 });
    const list = t.ask('sage.incident.list').incidents;
    expect(list).toEqual([expect.objectContaining({ kind: 'node_down', subject: 'n3', occurrences: 2, status: 'open' })]);
    t.send('sage.incident.observe', { kind: 'node_up', node: 'n3', reason: 'heard again', at: 1500 });
    t.tick(2000);
    expect(t.ask('sage.incident.get', { id: 'i1' }).incident).toMatchObject({ status: 'resolved', resolvedBy: 'node_rejoined' });
  });

  it('dead letters make an incident only as a burst', () => {
    const t = sage({ burstThreshold: 20 });
    t.send('sage.incident.observe', { kind: 'dead_letters', reason: 'unhandled', target: S1, count: 3, at: 1000 });
    expect(t.ask('sage.incident.list').total).toBe(0);
    t.send('sage.incident.observe', { kind: 'dead_letters', reason: 'unhandled', target: S1, count: 40, at: 2000 });
    expect(t.ask('sage.incident.list').incidents).toEqual([expect.objectContaining({ kind: 'dead_letter_burst', subject: S1, status: 'recovering', action: 'wait' })]);
  });

  it('answers bad input with an error and keeps running', () => {
    const t = sage();
    expect(t.ask('sage.incident.observe', { kind: 'earthquake' })).toEqual({
      ok: false,
      error: 'kind must be lifecycle, node_down, node_up or dead_letters; got the string "earthquake"',
    });
    expect(t.ask('sage.incident.observe', { kind: 'lifecycle' })).toMatchObject({ ok: false });
    expect(t.ask('sage.incident.metrics', { samples: 'many' })).toMatchObject({ ok: false });
    expect(t.ask('sage.incident.get', { id: 'i99' })).toEqual({ ok: false, error: 'unknown incident the string "i99"' });
    expect(t.ask('sage.incident.resolve', { id: 'i99', action: 'pray' })).toMatchObject({ ok: false });
    expect(t.ask('sage.incident.list', { status: 'angry' })).toMatchObject({ ok: false });
    expect(t.actor.getSnapshot().status).toBe('active');
  });

  it('votes: quarantine only what is at risk', () => {
    const t = sage();
    expect(t.ask('council.vote', { proposal: { kind: 'quarantine', target: S1 } })).toMatchObject({ vote: 'no' });
    for (let k = 0; k < 4; k++) t.life('crashed', S1, 1000 + k, 'boom');
    expect(t.ask('council.vote', { proposal: { kind: 'quarantine', target: S1 } })).toMatchObject({ vote: 'yes' });
    expect(t.ask('council.vote', { proposal: { kind: 'scale_servants', count: 6 } })).toMatchObject({ vote: 'yes' });
  });
});

describe('incident sage on a running Elder Tree', () => {
  let stop: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('a repeated crash signature leads to the learned recovery being proposed to the grand elder', async () => {
    const tree = await startTree({ servants: 2, incidentSage: { quietMs: 100, tickMs: 25 } });
    stop = tree.stop;
    const { node } = tree;
    const crashTask = (n: number) => node.ask('/grand-elder/claude-elder', 'development.task.submit', { title: `unstable ${n}`, handler: 'crash', priority: 5 });
    const status = async (id: string) => ((await node.ask('/grand-elder/claude-elder', 'task.status', { id })) as { task: { status: string } }).task.status;
    const first = (await crashTask(1)) as { id: string };
    await until('the first crash task to complete', async () => (await status(first.id)) === 'completed');
    await until('the first incident to be resolved by the restart', async () => {
      const { incidents } = (await node.ask('/grand-elder/claude-elder/incident-sage', 'sage.incident.list', {})) as { incidents: { status: string; resolvedBy?: string }[] };
      return incidents.length === 1 && incidents[0]!.status === 'resolved' && incidents[0]!.resolvedBy === 'restart';
    });
    await crashTask(2);
    await until('the grand elder to hear the proposal', async () => {
      const s = (await node.ask('/grand-elder', 'elder.status', {})) as { reports: { type: string; payload: { event?: string; proposal?: { action: string } } }[] };
      return s.reports.some((r) => r.type === 'report.incident' && r.payload.event === 'proposal' && r.payload.proposal?.action === 'restart');
    });
    const { incidents } = (await node.ask('/grand-elder/claude-elder/incident-sage', 'sage.incident.list', {})) as { incidents: Record<string, unknown>[] };
    expect(incidents[1]).toMatchObject({ kind: 'crash', proposal: { action: 'restart', successes: 1, failures: 0 } });
    expect(tree.deadLetters().filter((d) => d.reason === 'forbidden')).toEqual([]);
  });

  it('risk rises with the restart rate of one servant, alerts the grand elder, and falls after recovery', async () => {
    const tree = await startTree({ servants: 2, incidentSage: { tickMs: 25, tauMs: 400, quietMs: 100 } });
    stop = tree.stop;
    const { node } = tree;
    const risk = async () => ((await node.ask('/grand-elder/claude-elder/incident-sage', 'sage.incident.risk', { path: S1 })) as { score: number }).score;
    const scores: number[] = [];
    for (let k = 0; k < 3; k++) {
      node.tell(S1, 'servant.crash', { reason: 'chaos monkey' });
      await until(`restart ${k + 1}`, () => tree.lifecycle('restarted').filter((e) => e.path === S1).length === k + 1);
      await node.settled();
      scores.push(await risk());
    }
    expect(scores[1]).toBeGreaterThan(scores[0]!);
    expect(scores[2]).toBeGreaterThan(scores[1]!);
    await until('the alert to reach the grand elder', async () => {
      const s = (await node.ask('/grand-elder', 'elder.status', {})) as { counts: Record<string, number> };
      return (s.counts['report.alert'] ?? 0) >= 1;
    });
    await until('the score to fall once the crashes stop', async () => (await risk()) < 0.45, 5000);
    await until('the all-clear to reach the grand elder', async () => {
      const s = (await node.ask('/grand-elder', 'elder.status', {})) as { counts: Record<string, number> };
      return (s.counts['report.alert'] ?? 0) >= 2;
    });
  });

  it('the bridge coalesces a dead-letter burst into one observation, and never reports its own dead letters', async () => {
    const tree = await startTree({ servants: 1, bridge: { burstWindowMs: 50 }, incidentSage: { burstThreshold: 20 } });
    stop = tree.stop;
    const { node } = tree;
    for (let k = 0; k < 30; k++) node.tell('/grand-elder/claude-elder/rag-sage', 'sage.rag.nonsense', { k });
    await until('the burst to become an incident', async () => {
      const { incidents } = await node.ask<{ incidents: Record<string, unknown>[] }>('/grand-elder/claude-elder/incident-sage', 'sage.incident.list');
      return incidents.some((i) => i.kind === 'dead_letter_burst' && i.subject === '/grand-elder/claude-elder/rag-sage');
    });
    expect(tree.bridge.counts.deadLetterBatches).toBe(1);

    // With the incident sage gone, what the bridge tells it is a dead letter: not reported again.
    await node.terminateChild('/grand-elder/claude-elder', 'incident-sage');
    node.tell('/grand-elder/servants/servant-1', 'servant.crash', { reason: 'while nobody watches' });
    await until('the crash to be told to the stopped incident sage', () => tree.bridge.counts.ownDeadLetters >= 3);
    await sleep(120);
    await node.settled();
    // One more batch: the crashing message's own dead letter. Its report bounced too, and stops there.
    const batches = tree.bridge.counts.deadLetterBatches;
    expect(batches).toBe(2);
    await sleep(150); // several burst windows: nothing more comes of it
    expect(tree.bridge.counts.deadLetterBatches).toBe(batches);
    const stopped = tree.deadLetters().filter((d) => d.reason === 'stopped');
    expect(stopped.every((d) => d.envelope?.source_elder === `@${node.nodeId}`)).toBe(true);
  });
});
