import { createActor, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { activePaths, enabledEvents, mergeTree, prometheusText, statechartOf, treePrefixes, type TreeSnapshot } from '../src/inspector/index.js';
import { toPlain } from '../src/inspector/plain.js';
import { MadeEnvelope } from '../src/actors/envelope.js';
import { eventLabel, layoutChart, type ElkLike } from '../src/inspector/page/chart-layout.js';
import { parsePrometheus, playerMachine } from './inspector-fixtures.js';
import { isPlumbing, logicalTree } from '../src/inspector/tree.js';
import { treeAlerts } from '../src/inspector/alerts.js';
import type { ActorInfo } from '../src/inspector/protocol.js';
import { SeqLog } from '../src/inspector/seq-log.js';

describe('statecharts from machine.toJSON()', () => {
  const player = setup({ guards: { hasTrack: ({ event }) => (event as { track?: string }).track !== undefined } }).createMachine({
    id: 'player',
    type: 'parallel',
    states: {
      power: { initial: 'off', states: { off: { on: { toggle: 'on' } }, on: { on: { toggle: 'off' } } } },
      deck: {
        initial: 'empty',
        states: {
          empty: { on: { load: { target: 'loaded', guard: 'hasTrack' } } },
          loaded: { on: { eject: 'empty', finish: 'done' } },
          done: { type: 'final' },
        },
      },
    },
  });

  it('keeps parallel regions, final states, guards and target paths', () => {
    const chart = statechartOf(player);
    expect(chart.root.type).toBe('parallel');
    expect(chart.root.children.map((c) => [c.path, c.type, c.initial])).toEqual([
      ['power', 'compound', 'off'],
      ['deck', 'compound', 'empty'],
    ]);
    const deck = chart.root.children[1]!;
    expect(deck.children[0]!.transitions).toEqual([{ event: 'load', targets: ['deck.loaded'], guard: 'hasTrack', actions: [] }]);
    expect(deck.children[2]!.type).toBe('final');
    expect(chart.events).toEqual(['eject', 'finish', 'load', 'toggle']);
    expect(statechartOf(player)).toBe(chart); // cached per machine
  });

  it('gives the active configuration of a parallel value and the events enabled now', () => {
    const actor = createActor(player).start();
    expect(activePaths(actor.getSnapshot().value)).toEqual(['', 'power', 'power.off', 'deck', 'deck.empty']);
    // `load` needs a payload its guard reads: it is not enabled for a bare event.
    expect(enabledEvents(actor.getSnapshot(), statechartOf(player).events)).toEqual(['toggle']);
    actor.stop();
  });
});

describe('statechart layout (elkjs in Node, as the page runs it)', () => {
  it("names XState's internal events by what they mean", () => {
    expect(eventLabel('xstate.done.actor.0.servant.polling')).toBe('done: polling');
    expect(eventLabel('xstate.error.actor.0.pool.applying')).toBe('error: applying');
    expect(eventLabel('xstate.done.state.light.red')).toBe('done: red');
    expect(eventLabel('xstate.after.500.light.green')).toBe('after 500 ms');
    expect(eventLabel('task.execute')).toBe('task.execute');
  });

  it('lays out a nested machine with a parallel region: an edge per target, every state inside its parent', async () => {
    const { default: ELK } = (await import('elkjs/lib/elk.bundled.js')) as unknown as { default: new () => ElkLike };
    const chart = statechartOf(playerMachine);
    const layout = await layoutChart(new ELK(), chart.root, chart.machineId);
    const labels = layout.edges.filter((e) => !e.initial).map((e) => e.label);
    expect(labels.sort()).toEqual(['done: loading', 'eject', 'louder', 'pause', 'play', 'quieter']);
    expect(layout.edges.filter((e) => e.initial)).toHaveLength(3); // the machine's, and one per region
    const at = new Map(layout.states.map((s) => [s.node.path, s]));
    for (const s of layout.states) {
      const parentPath = s.node.path.includes('.') ? s.node.path.slice(0, s.node.path.lastIndexOf('.')) : s.node.path === '' ? undefined : '';
      const box = parentPath === undefined ? { x: 0, y: 0, w: layout.width, h: layout.height } : at.get(parentPath)!;
      expect(s.x >= box.x && s.y >= box.y && s.x + s.w <= box.x + box.w && s.y + s.h <= box.y + box.h, `${s.node.path} inside ${parentPath}`).toBe(true);
    }
  });
});

describe('toPlain', () => {
  it("shows a node's own envelope in a machine's context with every field (its id and timestamp are getters)", () => {
    const e = new MadeEnvelope('/a', '/b', 'ask', { x: 1 }, 5, false, 1);
    const plain = toPlain({ pending: [{ envelope: e }] }) as { pending: { envelope: Record<string, unknown> }[] };
    expect(plain.pending[0]!.envelope).toMatchObject({ message_id: e.message_id, timestamp: e.timestamp, source_elder: '/a', payload: { x: 1 } });
  });

  it('makes any context showable: functions, cycles, maps, errors, depth and size limits', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const value = toPlain({
      fn: function describe() {},
      cyclic,
      map: new Map([['a', 1]]),
      set: new Set([1, 2]),
      err: new Error('boom'),
      big: 10n,
      deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } },
      long: 'x'.repeat(3000),
    }) as Record<string, unknown>;
    expect(value.fn).toBe('[function describe]');
    expect(value.cyclic).toEqual({ name: 'loop', self: '[circular]' });
    expect(value.map).toEqual({ a: 1 });
    expect(value.set).toEqual([1, 2]);
    expect(value.err).toEqual({ name: 'Error', message: 'boom' });
    expect(value.big).toBe('10n');
    expect(JSON.stringify(value.deep)).toContain('[object]');
    expect((value.long as string).length).toBeLessThan(2100);
  });
});

describe('SeqLog', () => {
  it('keeps the newest items with their sequence numbers', () => {
    const log = new SeqLog<string>(3);
    for (const x of ['a', 'b', 'c', 'd', 'e']) log.push(x);
    expect(log.since(0)).toEqual([
      { seq: 3, item: 'c' },
      { seq: 4, item: 'd' },
      { seq: 5, item: 'e' },
    ]);
    expect(log.since(4).map((i) => i.item)).toEqual(['e']);
    expect(log.last()).toBe('e');
  });
});

describe('tree across nodes', () => {
  const view = (path: string) => ({ path, kind: 'worker' as const, status: 'running', state: null, incarnation: 1, restarts: 0, mailbox: 0, processed: 0 });
  it('merges paths by their tokens, instances side by side, and draws box prefixes', () => {
    const rows = mergeTree([
      { node: 'n2', actors: [view('/a'), view('/a/x')] },
      { node: 'n1', actors: [view('/a'), view('/a/x'), view('/a/y'), view('/a/y/z')] },
    ]);
    expect(rows.map((r) => `${r.path}@${r.node}:${r.depth}`)).toEqual(['/a@n1:0', '/a@n2:0', '/a/x@n1:1', '/a/x@n2:1', '/a/y@n1:1', '/a/y/z@n1:2']);
    expect(treePrefixes(rows)).toEqual(['', '', '├── ', '├── ', '└── ', '    └── ']);
  });

  it("the logical tree: no placement guards or heralds, one row per actor in spec order, its node, copies and standbys", () => {
    const at = (path: string, state: unknown = null, processed = 0) => ({ ...view(path), state, processed });
    // What placement leaves on two nodes: the guards sit where the placed children are in
    // the spec; the children a guard started come last in their supervisor's list.
    const rows = logicalTree([
      { node: 'n1', actors: [at('/grand-elder'), at('/grand-elder/herald'), at('/grand-elder/_placed_boss', 'running'), at('/grand-elder/pool', null, 3), at('/grand-elder/boss'), at('/grand-elder/boss/w')] },
      { node: 'n2', actors: [at('/grand-elder'), at('/grand-elder/herald'), at('/grand-elder/_placed_boss', 'standby'), at('/grand-elder/pool', null, 4)] },
      { node: 'n3', actors: [at('/grand-elder'), at('/grand-elder/herald'), at('/grand-elder/_placed_boss', 'standby'), at('/grand-elder/pool', null, 5)] },
    ]);
    expect(rows.map((r) => `${r.path}@${r.node}:${r.depth}`)).toEqual(['/grand-elder@n1:0', '/grand-elder/boss@n1:1', '/grand-elder/boss/w@n1:2', '/grand-elder/pool@n1:1']);
    expect(rows.find((r) => r.path === '/grand-elder/boss')).toMatchObject({ nodes: ['n1'], standbys: ['n2', 'n3'] });
    expect(rows.find((r) => r.path === '/grand-elder/pool')).toMatchObject({ nodes: ['n1', 'n2', 'n3'], standbys: [], processed: 12 });
    expect(isPlumbing('/grand-elder/herald')).toBe(true);
    expect(isPlumbing('/grand-elder/_placed_commander')).toBe(true);
    expect(isPlumbing('/grand-elder/commander')).toBe(false);
  });
});

describe('alerts', () => {
  it('a supervisor warns at half its restart intensity, is critical at the limit; one routine restart is no alert', () => {
    const sup = (restartsInPeriod: number, intensity: number) =>
      ({
        key: 'n1/s', node: 'n1', nodes: ['n1'], standbys: [], path: '/s', name: 's', parent: null, depth: 0, kind: 'supervisor', status: 'running',
        rawStatus: 'running', state: null, incarnation: 1, restarts: 0, supervisor: null, mailbox: 0, processed: 0, rate: 0,
        own: { path: '/s', strategy: 'one_for_one', intensity, period: 5000, restartsInPeriod },
      }) satisfies ActorInfo;
    const severity = (r: number, i: number) => treeAlerts([], [sup(r, i)]).find((a) => a.key === 'intensity:n1/s')?.severity;
    expect(severity(1, 10)).toBeUndefined();
    expect(severity(4, 10)).toBeUndefined();
    expect(severity(5, 10)).toBe('warning');
    expect(severity(10, 10)).toBe('critical');
    expect(severity(1, 100)).toBeUndefined();
    expect(severity(1, 1)).toBe('critical');
    expect(severity(1, 2)).toBe('warning');
    expect(severity(0, 0)).toBeUndefined();
  });
});

describe('Prometheus text', () => {
  it('escapes label values so any path or reason parses back', async () => {
    const tree: TreeSnapshot = {
      source: { kind: 'node', label: 'x' },
      at: 0,
      nodes: [{ node: 'n"1', status: 'up', heartbeatAgeMs: 1500, actors: 1 }],
      actors: [],
      alerts: [],
      truncated: 0,
    };
    const text = await prometheusText(tree, new Map([['n"1\u0000we\\ird\nreason', 2]]));
    const { samples } = parsePrometheus(text);
    expect(samples.find((s) => s.name === 'eldertree_dead_letters_total')).toEqual({
      name: 'eldertree_dead_letters_total',
      labels: { node: 'n"1', reason: 'we\\ird\nreason' },
      value: 2,
    });
    expect(samples.find((s) => s.name === 'eldertree_node_heartbeat_age_seconds')!.value).toBe(1.5);
  });
});
