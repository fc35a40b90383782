import { afterEach, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import {
  Node,
  StartError,
  SupervisorError,
  TreeSpecError,
  supervisor,
  worker,
  type SupervisorSpec,
} from '../src/index.js';
import { gracefulMachine, sleep, startNode, testMachine, type Recorder } from './helpers.js';

let node: Node | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const three = (strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one', extra = {}) =>
  supervisor('s', { strategy, intensity: 10, ...extra }, [
    worker('a', testMachine),
    worker('b', testMachine),
    worker('c', testMachine),
  ]);

async function crash(path: string): Promise<void> {
  node!.tell(path, 'crash');
  await node!.settled();
}

const incarnations = () => node!.whichChildren('/s').map((c) => `${c.id}#${c.incarnation}`);

async function run(tree: SupervisorSpec, options = {}): Promise<Recorder> {
  const started = await startNode(tree, options);
  node = started.node;
  started.rec.clear();
  return started.rec;
}

describe('strategies', () => {
  it('one_for_one restarts only the crashed child', async () => {
    const rec = await run(three('one_for_one'));
    await crash('/s/b');
    expect(incarnations()).toEqual(['a#1', 'b#2', 'c#1']);
    expect(rec.lifecycle()).toEqual(['crashed /s/b#1', 'restarted /s/b#2']);
  });

  it('one_for_all stops the others in reverse order and restarts all in order', async () => {
    const rec = await run(three('one_for_all'));
    await crash('/s/b');
    expect(incarnations()).toEqual(['a#2', 'b#2', 'c#2']);
    expect(rec.lifecycle()).toEqual([
      'crashed /s/b#1',
      'stopped /s/c#1',
      'stopped /s/a#1',
      'restarted /s/a#2',
      'restarted /s/b#2',
      'restarted /s/c#2',
    ]);
  });

  it('rest_for_one restarts the crashed child and those started after it', async () => {
    const rec = await run(three('rest_for_one'));
    await crash('/s/b');
    expect(incarnations()).toEqual(['a#1', 'b#2', 'c#2']);
    expect(rec.lifecycle()).toEqual(['crashed /s/b#1', 'stopped /s/c#1', 'restarted /s/b#2', 'restarted /s/c#2']);
  });
});

describe('restart types', () => {
  const mixed = (strategy: 'one_for_one' | 'one_for_all') =>
    supervisor('s', { strategy, intensity: 10 }, [
      worker('p', testMachine, { restart: 'permanent' }),
      worker('t', testMachine, { restart: 'transient' }),
      worker('x', testMachine, { restart: 'temporary' }),
    ]);

  it('permanent restarts even after a normal exit', async () => {
    await run(mixed('one_for_one'));
    node!.tell('/s/p', 'finish');
    await node!.settled();
    expect(node!.whichChildren('/s')[0]).toMatchObject({ id: 'p', incarnation: 2, status: 'running' });
  });

  it('transient restarts after a crash but not after a normal exit', async () => {
    await run(mixed('one_for_one'));
    await crash('/s/t');
    expect(node!.whichChildren('/s')[1]).toMatchObject({ incarnation: 2, status: 'running' });
    node!.tell('/s/t', 'finish');
    await node!.settled();
    expect(node!.whichChildren('/s')[1]).toMatchObject({ incarnation: 2, status: 'stopped' });
  });

  it('temporary is never restarted and is deleted when it ends', async () => {
    await run(mixed('one_for_one'));
    await crash('/s/x');
    expect(node!.whichChildren('/s').map((c) => c.id)).toEqual(['p', 't']);
  });

  it("temporary is not restarted by a sibling's crash under one_for_all: it is stopped and deleted", async () => {
    const rec = await run(mixed('one_for_all'));
    await crash('/s/p');
    expect(node!.whichChildren('/s').map((c) => `${c.id}#${c.incarnation}`)).toEqual(['p#2', 't#2']);
    expect(rec.lifecycle()).toEqual([
      'crashed /s/p#1',
      'stopped /s/x#1',
      'stopped /s/t#1',
      'restarted /s/p#2',
      'restarted /s/t#2',
    ]);
  });
});

describe('restart intensity and escalation', () => {
  it('counts per failure event: one one_for_all restart of 3 children is one restart', async () => {
    await run(three('one_for_all', { intensity: 2, period: 60_000 }));
    await crash('/s/a');
    await crash('/s/c');
    expect(node!.supervisor('/s').state).toBe('running');
    expect(node!.supervisor('/s').restartsInPeriod).toBe(2);
  });

  it('the restart past intensity within the period escalates; the root failing stops the node', async () => {
    const rec = await run(three('one_for_one', { intensity: 2, period: 60_000 }));
    await crash('/s/a');
    await crash('/s/b');
    expect(node!.supervisor('/s').state).toBe('running');
    node!.tell('/s/c', 'crash');
    const exit = await node!.done;
    expect(exit).toEqual({
      status: 'failed',
      reason: 'root supervisor /s failed: reached_max_restart_intensity',
    });
    expect(rec.lifecycle()).toEqual([
      'crashed /s/a#1',
      'restarted /s/a#2',
      'crashed /s/b#1',
      'restarted /s/b#2',
      'crashed /s/c#1',
      'escalated /s#1',
      'stopped /s/b#2',
      'stopped /s/a#2',
      'stopped /s#1',
    ]);
    node = undefined;
  });

  it('restarts older than the period are forgotten (real time)', async () => {
    await run(three('one_for_one', { intensity: 1, period: 150 }));
    await crash('/s/a');
    await sleep(200);
    await crash('/s/a');
    await sleep(200);
    await crash('/s/b');
    expect(node!.supervisor('/s').state).toBe('running');
    expect(incarnations()).toEqual(['a#3', 'b#2', 'c#1']);
  });

  it('intensity 0: the first crash escalates', async () => {
    await run(three('one_for_one', { intensity: 0 }));
    node!.tell('/s/a', 'crash');
    expect((await node!.done).status).toBe('failed');
    node = undefined;
  });

  it('a child supervisor past its intensity is restarted whole by its parent', async () => {
    const tree = supervisor('root', { intensity: 5 }, [
      worker('before', testMachine),
      supervisor('mid', { intensity: 1, period: 60_000 }, [worker('w1', testMachine), worker('w2', testMachine)]),
      worker('after', testMachine),
    ]);
    const rec = await run(tree);
    await crash('/root/mid/w1');
    await crash('/root/mid/w1');
    expect(rec.lifecycle()).toEqual([
      'crashed /root/mid/w1#1',
      'restarted /root/mid/w1#2',
      'crashed /root/mid/w1#2',
      'escalated /root/mid#1',
      'stopped /root/mid/w2#1',
      'stopped /root/mid#1',
      'restarted /root/mid#2',
      'restarted /root/mid/w1#3',
      'restarted /root/mid/w2#2',
    ]);
    expect(node!.supervisor('/root/mid').state).toBe('running');
    expect(node!.supervisor('/root/mid').restartsInPeriod).toBe(0); // a new incarnation starts clean
    expect(node!.whichChildren('/root').map((c) => `${c.id}#${c.incarnation}`)).toEqual([
      'before#1',
      'mid#2',
      'after#1',
    ]);
  });

  it('a transient child supervisor that gives up is not restarted (OTP: shutdown is a normal exit)', async () => {
    const tree = supervisor('root', {}, [
      supervisor('mid', { intensity: 0, restart: 'transient' }, [worker('w', testMachine)]),
    ]);
    await run(tree);
    await crash('/root/mid/w');
    expect(node!.whichChildren('/root')[0]).toMatchObject({ id: 'mid', status: 'stopped' });
    expect(node!.supervisor('/root').state).toBe('running');
  });
});

describe('ordered start and reverse stop', () => {
  it('starts depth-first in spec order and stops in exact reverse', async () => {
    const events: string[] = [];
    const tree = supervisor('r', {}, [
      worker('a', testMachine),
      supervisor('m', {}, [worker('b', testMachine), worker('c', testMachine)]),
      worker('d', testMachine),
    ]);
    node = await Node.start({
      tree,
      onEvent: (e) => {
        if (e.type === 'started' || e.type === 'stopped') events.push(`${e.type} ${e.path}`);
      },
    });
    await node.stop();
    node = undefined;
    const order = ['/r', '/r/a', '/r/m', '/r/m/b', '/r/m/c', '/r/d'];
    expect(events).toEqual([
      ...order.map((p) => `started ${p}`),
      ...['/r/d', '/r/m/c', '/r/m/b', '/r/m', '/r/a', '/r'].map((p) => `stopped ${p}`),
    ]);
  });

  it('a child that throws while starting fails the tree start; those started are stopped in reverse', async () => {
    const events: string[] = [];
    const tree = supervisor('r', {}, [
      worker('a', testMachine),
      worker('b', testMachine),
      worker('bad', testMachine, { input: { failOnStart: true } }),
      worker('never', testMachine),
    ]);
    const err = await Node.start({ tree, onEvent: (e) => e.type !== 'dead_letter' && events.push(`${e.type} ${e.path}`) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartError);
    expect((err as Error).message).toBe('/r/bad failed to start: refused to start');
    expect(events).toEqual([
      'started /r',
      'started /r/a',
      'started /r/b',
      'crashed /r/bad',
      'stopped /r/b',
      'stopped /r/a',
      'stopped /r',
    ]);
  });

  it('a bad tree is refused before anything starts, naming every problem', async () => {
    const bad = {
      type: 'supervisor',
      id: 'r',
      strategy: 'all_for_one',
      intensity: -1,
      children: [
        { id: 'a', machine: testMachine, restart: 'always' },
        { id: 'a', machine: testMachine },
        { id: 'b.c', machine: {} },
      ],
    } as unknown as SupervisorSpec;
    const err = await Node.start({ tree: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TreeSpecError);
    expect((err as TreeSpecError).problems).toEqual([
      '/r: strategy must be one_for_one, one_for_all, rest_for_one or simple_one_for_one, got "all_for_one"',
      '/r: intensity must be an integer >= 0, got -1',
      '/r/a: restart must be permanent, transient or temporary, got "always"',
      '/r: two children have the id "a"',
      '/r/b.c: id must match /^[A-Za-z0-9_-]+$/ (letters, digits, _ and -), got "b.c"',
      '/r/b.c: machine must be an XState machine (setup(...).createMachine(...))',
    ]);
  });
});

describe('shutdown', () => {
  it('a graceful worker gets eldertree.shutdown and its time to finish', async () => {
    const rec = await run(supervisor('s', {}, [worker('g', gracefulMachine, { input: { ms: 60 }, shutdown: 1000 })]));
    const t0 = performance.now();
    await node!.stop();
    const took = performance.now() - t0;
    node = undefined;
    expect(took).toBeGreaterThanOrEqual(55);
    expect(took).toBeLessThan(900);
    expect(rec.events.find((e) => e.type === 'stopped' && e.path === '/s/g')).toMatchObject({ reason: 'shutdown' });
  });

  it('past the shutdown timeout the worker is killed', async () => {
    const rec = await run(supervisor('s', {}, [worker('g', gracefulMachine, { input: { ms: 5000 }, shutdown: 50 })]));
    const t0 = performance.now();
    await node!.stop();
    const took = performance.now() - t0;
    node = undefined;
    expect(took).toBeGreaterThanOrEqual(45);
    expect(took).toBeLessThan(1000);
    expect(rec.events.find((e) => e.type === 'stopped' && e.path === '/s/g')).toMatchObject({ reason: 'timeout' });
  });

  it('a wildcard handler is not a shutdown handler: the worker stops at once, its handler never sees the shutdown', async () => {
    const seen: string[] = [];
    const catchAll = setup({}).createMachine({ on: { '*': { actions: ({ event }) => void seen.push(event.type) } } });
    const rec = await run(supervisor('s', {}, [worker('w', catchAll, { shutdown: 5000 })]));
    node!.tell('/s/w', 'hello');
    await node!.settled();
    const t0 = performance.now();
    await node!.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    node = undefined;
    expect(seen).toEqual(['hello']);
    expect(rec.events.find((e) => e.type === 'stopped' && e.path === '/s/w')).toMatchObject({ reason: 'shutdown' });
  });

  it('brutal_kill does not wait at all', async () => {
    const rec = await run(
      supervisor('s', {}, [worker('g', gracefulMachine, { input: { ms: 5000 }, shutdown: 'brutal_kill' })]),
    );
    const t0 = performance.now();
    await node!.stop();
    expect(performance.now() - t0).toBeLessThan(40);
    node = undefined;
    expect(rec.events.find((e) => e.type === 'stopped' && e.path === '/s/g')).toMatchObject({ reason: 'killed' });
  });

  it('a graceful sibling is waited for during a one_for_all restart too', async () => {
    const rec = await run(
      supervisor('s', { strategy: 'one_for_all' }, [
        worker('g', gracefulMachine, { input: { ms: 40 } }),
        worker('w', testMachine),
      ]),
    );
    const t0 = performance.now();
    await crash('/s/w');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    expect(rec.lifecycle()).toEqual(['crashed /s/w#1', 'stopped /s/g#1', 'restarted /s/g#2', 'restarted /s/w#2']);
  });
});

describe('restart backoff', () => {
  it('waits initial * factor^n (capped) between restarts; mail waits and reaches the new incarnation', async () => {
    const rec = await run(
      supervisor('s', { intensity: 10, period: 60_000 }, [
        worker('w', testMachine, { backoff: { initial: 40, max: 100, factor: 2, resetAfter: 10_000 } }),
      ]),
    );
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      node!.tell('/s/w', 'crash');
      node!.tell('/s/w', 'inc');
      expect(await node!.ask('/s/w', 'get', {}, { timeout: 2000 })).toEqual({ count: 1 });
      times.push(performance.now() - t0);
    }
    // 40, 80, then capped at 100 ms
    expect(times[0]).toBeGreaterThanOrEqual(38);
    expect(times[1]).toBeGreaterThanOrEqual(78);
    expect(times[2]).toBeGreaterThanOrEqual(98);
    expect(times[2]).toBeLessThan(400);
    expect(rec.lifecycle((e) => e.type === 'restarted')).toEqual(['restarted /s/w#2', 'restarted /s/w#3', 'restarted /s/w#4']);
  });

  it('resets after a healthy run', async () => {
    await run(
      // Delays long enough that a busy machine's scheduling jitter cannot blur 100 and 200.
      supervisor('s', { intensity: 10 }, [worker('w', testMachine, { backoff: { initial: 100, max: 1000, resetAfter: 150 } })]),
    );
    node!.tell('/s/w', 'crash');
    await node!.ask('/s/w', 'ping', {}, { timeout: 2000 });
    await sleep(250); // healthy for longer than resetAfter
    const t0 = performance.now();
    node!.tell('/s/w', 'crash');
    await node!.ask('/s/w', 'ping', {}, { timeout: 2000 });
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(98);
    expect(took).toBeLessThan(190); // 100 again, not 200
  });
});

describe('dynamic children and supervisor queries', () => {
  it('start_child, terminate_child, restart_child, delete_child as in OTP', async () => {
    await run(supervisor('s', {}, [worker('a', testMachine)]));
    const info = await node!.startChild('/s', worker('dyn', testMachine, { restart: 'transient' }));
    expect(info).toMatchObject({ id: 'dyn', path: '/s/dyn', status: 'running', incarnation: 1 });
    await expect(node!.startChild('/s', worker('dyn', testMachine))).rejects.toMatchObject({
      code: 'already_started',
      message: '/s/dyn is already started',
    });
    await expect(node!.startChild('/s', { id: 'x y' } as never)).rejects.toMatchObject({ code: 'bad_child_spec', message: /bad child spec/ });
    await node!.terminateChild('/s', 'dyn');
    expect(node!.whichChildren('/s')[1]).toMatchObject({ status: 'stopped' });
    await expect(node!.startChild('/s', worker('dyn', testMachine))).rejects.toMatchObject({ code: 'already_present' });
    await expect(node!.deleteChild('/s', 'a')).rejects.toMatchObject({ code: 'running', message: '/s/a is running; terminate it first' });
    await expect(node!.restartChild('/s', 'a')).rejects.toMatchObject({ code: 'running' });
    await expect(node!.restartChild('/s', 'nope')).rejects.toMatchObject({ code: 'not_found', message: '/s has no child nope' });
    await expect(node!.deleteChild('/s', 'nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(node!.terminateChild('/s', 'nope')).rejects.toMatchObject({ code: 'not_found' });
    await expect(node!.terminateChild('/nowhere', 'a')).rejects.toMatchObject({ code: 'no_supervisor' });
    expect(await node!.restartChild('/s', 'dyn')).toMatchObject({ status: 'running', incarnation: 2 });
    await node!.terminateChild('/s', 'dyn');
    await node!.deleteChild('/s', 'dyn');
    expect(node!.whichChildren('/s').map((c) => c.id)).toEqual(['a']);
    expect(await node!.ask('/s', 'supervisor.count_children')).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 });
    // The same as a call (OTP's count_children): a terminated child is a spec, not active.
    expect(node!.countChildren('/s')).toEqual({ specs: 1, active: 1, supervisors: 0, workers: 1 });
    await node!.terminateChild('/s', 'a');
    expect(node!.countChildren('/s')).toEqual({ specs: 1, active: 0, supervisors: 0, workers: 1 });
    expect(() => node!.countChildren('/nowhere')).toThrow(SupervisorError);
  });

  it("a supervisor is an XState actor: its state is observable and answers which_children", async () => {
    await run(three('one_for_one'));
    const sup = node!.supervisor('/s');
    expect(sup.cell.actor!.getSnapshot().value).toBe('running');
    const { children } = await node!.ask<{ children: { id: string }[] }>('/s', 'supervisor.which_children');
    expect(children.map((c) => c.id)).toEqual(['a', 'b', 'c']);
    await node!.stop();
    expect(sup.state).toBe('stopped');
    node = undefined;
  });

  it("its status machine shows `restarting` only for a restart that takes time: a one_for_one restart done at once leaves it untouched", async () => {
    await run(three('one_for_one'));
    const actor = node!.supervisor('/s').cell.actor!;
    const seen: unknown[] = [];
    actor.subscribe((s) => seen.push(s.value));
    const before = actor.getSnapshot();
    await crash('/s/b');
    expect(incarnations()).toEqual(['a#1', 'b#2', 'c#1']);
    // No transition of the supervisor's own machine: the same snapshot object.
    expect(actor.getSnapshot()).toBe(before);
    expect(seen).toEqual([]);
    await node!.stop();
    node = undefined;

    // one_for_all stops the siblings first (it awaits them): the status is shown.
    await run(three('one_for_all'));
    const all = node!.supervisor('/s').cell.actor!;
    const shown: unknown[] = [];
    all.subscribe((s) => shown.push(s.value));
    await crash('/s/b');
    expect(incarnations()).toEqual(['a#2', 'b#2', 'c#2']);
    expect(shown).toEqual(['restarting', 'running']);
  });
});

describe('a supervisor with an agent', () => {
  it("forwards its own mail to the agent child, which answers the asker; supervisor.* stays with it", async () => {
    const rec = await run(
      supervisor('s', { agent: 'elder' }, [worker('elder', testMachine), worker('other', testMachine)]),
    );
    expect(await node!.ask('/s', 'ping')).toEqual({ pong: true });
    node!.tell('/s', 'inc');
    expect(await node!.ask('/s', 'get')).toEqual({ count: 1 }); // same pair as the inc: in order
    expect(await node!.ask('/s', 'supervisor.count_children')).toMatchObject({ specs: 2 });
    node!.tell('/s', 'no.such.event');
    await node!.settled();
    expect(rec.deadLetters().map((d) => d.detail)).toEqual(['/s/elder in state "up" does not handle no.such.event']);
  });

  it('an agent must be a worker child', async () => {
    await expect(Node.start({ tree: supervisor('s', { agent: 'nope' }, [worker('a', testMachine)]) })).rejects.toThrow(
      '/s: agent "nope" must be the id of one of its children',
    );
  });
});
