import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { FileSnapshotStore, MemorySnapshotStore, Node, runtimeOf, SnapshotConflictError, StartError, supervisor, worker } from '../src/index.js';
import { eventually, sleep, testMachine } from './helpers.js';
import { inboundLanes } from '../src/actors/cell.js';

let node: Node | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

const tree = (version = '1', every?: number) =>
  supervisor('p', { intensity: 10 }, [
    worker('kept', testMachine, { persist: { version, ...(every ? { every } : {}) } }),
    worker('fresh', testMachine),
  ]);

async function incs(path: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) node!.tell(path, 'inc');
  await node!.settled();
}

describe('persistent actors', () => {
  it('resume from the last snapshot after a crash; others start from scratch', async () => {
    const snapshots = new MemorySnapshotStore();
    node = await Node.start({ tree: tree(), services: { snapshots } });
    await incs('/p/kept', 3);
    await incs('/p/fresh', 3);
    node.tell('/p/kept', 'crash');
    node.tell('/p/fresh', 'crash');
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 3 });
    expect(await node.ask('/p/fresh', 'get')).toEqual({ count: 0 });
    expect(node.system.cell('/p/kept')!.incarnation).toBe(2);
  });

  it('a snapshot saved by another machine version is refused with a clear error', async () => {
    const snapshots = new MemorySnapshotStore();
    node = await Node.start({ tree: tree('1'), services: { snapshots } });
    await incs('/p/kept', 2);
    await node.stop();
    node = undefined;
    const err = await Node.start({ tree: tree('2'), services: { snapshots } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartError);
    expect((err as Error).message).toBe(
      '/p/kept failed to start: snapshot of /p/kept was saved by machine version 1, this is version 2',
    );
  });

  it('a file store keeps the state across a stop and a new node; a graceful stop saves the newest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eldertree-snap-'));
    try {
      node = await Node.start({ tree: tree('1', 60_000), services: { snapshots: new FileSnapshotStore(dir) } });
      await incs('/p/kept', 5); // interval mode: nothing saved yet, the stop flushes it
      await node.stop();
      node = await Node.start({ tree: tree('1'), services: { snapshots: new FileSnapshotStore(dir) } });
      expect(await node.ask('/p/kept', 'get')).toEqual({ count: 5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves coalesce: a burst of messages is not a save per message', async () => {
    let saves = 0;
    const inner = new MemorySnapshotStore();
    const snapshots = {
      load: (p: string) => inner.load(p),
      save: async (p: string, v: string, s: unknown) => {
        saves++;
        await new Promise((r) => setTimeout(r, 5));
        return inner.save(p, v, s);
      },
    };
    node = await Node.start({ tree: tree(), services: { snapshots } });
    await incs('/p/kept', 500);
    await node.system.cell('/p/kept')!.saved();
    expect(saves).toBeLessThan(50);
    expect(await inner.load('/p/kept')).toMatchObject({ version: '1', snapshot: { context: { count: 500 } } });
  });

  it('answers only once the state they tell of is saved; an answer of a lost state is never sent', async () => {
    const inner = new MemorySnapshotStore();
    let gate: { open: () => void; fail: () => void } | undefined;
    let held = true;
    const snapshots = {
      load: (p: string) => inner.load(p),
      // Each save waits until the test opens or fails it.
      save: (p: string, v: string, s: unknown) =>
        !held ? inner.save(p, v, s) : new Promise<void>((resolve, reject) => {
          gate = { open: () => void inner.save(p, v, s).then(resolve), fail: () => reject(new Error('store down')) };
        }),
    };
    const answered: unknown[] = [];
    const settle = () => new Promise((r) => setTimeout(r, 20));
    try {
      node = await Node.start({ tree: tree(), services: { snapshots } });
      node.tell('/p/kept', 'inc');
      void node.ask('/p/kept', 'get').then((a) => answered.push(a));
      // Wait on the saves themselves, not on time: the machine may be busy.
      expect(await eventually(() => gate !== undefined, 10_000)).toBe(true);
      await settle();
      expect(answered).toEqual([]); // the save of count 1 is in flight
      const failed = gate;
      gate!.fail();
      expect(await eventually(() => gate !== failed, 10_000)).toBe(true); // a failed save is retried after a pause
      expect(answered).toEqual([]);
      gate!.open();
      expect(await eventually(() => answered.length > 0, 10_000)).toBe(true);
      expect(answered).toEqual([{ count: 1 }]);
      expect(await inner.load('/p/kept')).toMatchObject({ snapshot: { context: { count: 1 } } });

      // A crash before the save: the answer told of a state that is gone, so it never goes.
      const saved = gate;
      node.tell('/p/kept', 'inc');
      const lost = node.ask('/p/kept', 'get', {}, { timeout: 300 });
      expect(await eventually(() => gate !== saved, 10_000)).toBe(true);
      node.tell('/p/kept', 'crash');
      await expect(lost).rejects.toThrow('timed out after 300 ms');
      gate!.open(); // the old save completes late: still no answer from it
      held = false; // saves after it go straight through
      const again = node.ask('/p/kept', 'get');
      // The restart waited for that save, so it resumed from it (count 2), rather than
      // from the older state it would have written over.
      expect(await again).toEqual({ count: 2 });
      // An actor that is not persistent answers at once.
      expect(await node.ask('/p/fresh', 'get')).toEqual({ count: 0 });
    } finally {
      held = false; // the node's stop saves once more
      gate?.open();
    }
  });

  it('a crash with a save in flight: the restart waits for it; acked messages processed but not saved are processed again', async () => {
    const inner = new MemorySnapshotStore();
    const gates: { open: () => void; fail: () => void }[] = [];
    let held = true;
    const snapshots = {
      load: (p: string) => inner.load(p),
      save: (p: string, v: string, s: unknown) =>
        !held ? inner.save(p, v, s) : new Promise<void>((resolve, reject) => {
          gates.push({ open: () => void inner.save(p, v, s).then(resolve), fail: () => reject(new Error('store down')) });
        }),
    };
    const settle = () => new Promise((r) => setTimeout(r, 20));
    try {
      node = await Node.start({ tree: tree(), services: { snapshots } });
      // Saved in flight, then a crash: the new incarnation starts from that save.
      for (let i = 0; i < 3; i++) node.tell('/p/kept', 'inc', {}, { requiresAck: true });
      expect(await eventually(() => gates.length > 0, 10_000)).toBe(true);
      await settle();
      expect(gates).toHaveLength(1);
      node.tell('/p/kept', 'crash');
      await settle();
      gates.shift()!.open();
      await settle();
      held = false;
      expect(await node.ask('/p/kept', 'get')).toEqual({ count: 3 });

      // A save that fails, then a crash before its retry: the two acked messages it
      // held were never acknowledged and are not in the store, so they run again.
      held = true;
      for (let i = 0; i < 2; i++) node.tell('/p/kept', 'inc', {}, { requiresAck: true });
      node.tell('/p/kept', 'inc'); // a plain tell: at most once, lost with the crash
      expect(await eventually(() => gates.length > 0, 10_000)).toBe(true);
      gates.shift()!.fail();
      await settle();
      node.tell('/p/kept', 'crash');
      held = false;
      expect(await node.ask('/p/kept', 'get')).toEqual({ count: 5 });
      expect(await inner.load('/p/kept')).toMatchObject({ snapshot: { xstate: { context: { count: 5 } } } });
    } finally {
      held = false;
      for (const g of gates) g.open();
    }
  });

  it('a save refused because another owner saved since: the actor restarts from the stored state, its unsaved acked messages again', async () => {
    const inner = new MemorySnapshotStore();
    let conflict = false;
    let saves = 0;
    const snapshots = {
      load: (p: string) => inner.load(p),
      save: async (p: string, v: string, s: unknown) => {
        saves++;
        // Once, as a store with compare-and-set does: a reload takes the new revision.
        if (conflict) {
          conflict = false;
          throw new SnapshotConflictError(p, `the snapshot of ${p} was written by another owner`);
        }
        return inner.save(p, v, s);
      },
    };
    node = await Node.start({ tree: tree(), services: { snapshots } });
    for (let i = 0; i < 3; i++) node.tell('/p/kept', 'inc', {}, { requiresAck: true });
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 3 });
    // Meanwhile another owner had the actor, counted to 10 and saved (a move and back).
    const stored = (await inner.load('/p/kept'))!.snapshot as { xstate: { context: { count: number } } };
    stored.xstate.context.count = 10;
    await inner.save('/p/kept', '1', stored);
    conflict = true;
    const before = saves;
    node.tell('/p/kept', 'inc', {}, { requiresAck: true });
    // The answer tells of the stale state (4): never sent.
    await expect(node.ask('/p/kept', 'get', {}, { timeout: 300 })).rejects.toThrow('timed out after 300 ms');
    expect(saves).toBeGreaterThan(before);
    expect(node.system.cell('/p/kept')!.incarnation).toBe(2);
    // Not retried forever: a new incarnation from the stored 10, the acked inc once more.
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 11 });
    expect(await inner.load('/p/kept')).toMatchObject({ snapshot: { xstate: { context: { count: 11 } } } });
  });

  it('a conflict that a fenced copy meets (its lease lapsed while the save was on its way) is not a crash', async () => {
    const inner = new MemorySnapshotStore();
    let hold: Promise<void> | undefined;
    let saves = 0;
    const snapshots = {
      load: (p: string) => inner.load(p),
      save: async (p: string, v: string, s: unknown) => {
        saves++;
        if (hold === undefined) return inner.save(p, v, s);
        await hold;
        throw new SnapshotConflictError(p, `the snapshot of ${p} was written by another owner`);
      },
    };
    node = await Node.start({ tree: tree(), services: { snapshots } });
    await incs('/p/kept', 1);
    const cell = node.system.cell('/p/kept')!;
    let leased = true;
    cell.gate = () => leased; // what a placement or a region sets: the lease check
    let answer!: () => void;
    hold = new Promise<void>((r) => (answer = r));
    const before = saves;
    node.tell('/p/kept', 'inc');
    expect(await eventually(() => saves > before, 10_000)).toBe(true);
    leased = false; // the lease lapses; the new owner writes; the answer is a conflict
    answer();
    await cell.saved(); // the conflict has been handled, while the lease was still gone
    // The lease comes back (no hand-off in this test): the next answer comes from the same
    // incarnation, which still counts 2. A crash would have restarted it from the stored 1.
    leased = true;
    hold = undefined;
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 2 });
    expect(cell.incarnation).toBe(1);
    expect(node.supervisor('/p').restartsInPeriod).toBe(0);
  });

  it('a save that landed though its answer was lost, then a crash: its acked messages are acknowledged, not run again', async () => {
    const inner = new MemorySnapshotStore();
    let lose = false;
    const snapshots = {
      load: (p: string) => inner.load(p),
      save: async (p: string, v: string, s: unknown) => {
        await inner.save(p, v, s);
        if (lose) {
          lose = false;
          throw new Error('timeout: the answer was lost');
        }
      },
    };
    node = await Node.start({ tree: tree(), services: { snapshots } });
    for (let i = 0; i < 2; i++) node.tell('/p/kept', 'inc', {}, { requiresAck: true });
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 2 });
    lose = true;
    node.tell('/p/kept', 'inc', {}, { requiresAck: true });
    expect(await eventually(() => !lose, 10_000)).toBe(true); // count 3 is stored; the cell does not know
    node.tell('/p/kept', 'crash'); // before the retry that would have confirmed it
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 3 });
    expect(node.system.cell('/p/kept')!.incarnation).toBe(2);
  });

  it('acked messages of one stream at two priorities: a restart drops none (seq order holds within a priority only)', async () => {
    const snapshots = new MemorySnapshotStore();
    node = await Node.start({ tree: tree(), services: { snapshots } });
    // seq 1 at the default priority, then seqs 2..301 at priority 9: those go first, and
    // saves between dispatcher turns record seqs past 1 while seq 1 still waits.
    node.tell('/p/kept', 'inc', {}, { requiresAck: true });
    for (let i = 0; i < 300; i++) node.tell('/p/kept', 'inc', {}, { requiresAck: true, priority: 9 });
    node.tell('/p/kept', 'crash', {}, { priority: 9 }); // after them, still ahead of seq 1
    expect(await node.ask('/p/kept', 'get')).toEqual({ count: 301 });
    expect(node.system.cell('/p/kept')!.incarnation).toBe(2);
  });

  it('a snapshot saved before lanes (one highest seq per stream) stands for every priority of that stream', () => {
    const lanes = inboundLanes({ ['@a\u0000/p/kept\u0000s1']: 7, ['@a\u0000/p/kept\u0000s2\u00009']: 3 });
    expect(lanes.get('@a\u0000/p/kept\u0000s1\u00000')).toBe(7);
    expect(lanes.get('@a\u0000/p/kept\u0000s1\u00009')).toBe(7);
    expect(lanes.get('@a\u0000/p/kept\u0000s2\u00009')).toBe(3);
    expect(lanes.get('@a\u0000/p/kept\u0000s2\u00005')).toBeUndefined();
    expect(lanes.size).toBe(11);
  });

  it('a persistent actor without a snapshot store fails to start, naming the problem', async () => {
    const err = await Node.start({ tree: tree() }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('/p/kept failed to start: cannot load the snapshot of /p/kept: /p/kept is persistent but node ' + `node-${process.pid} has no snapshot store`);
  });
});

describe('forwarding acked messages', () => {
  it('an acked message forwarded to a persistent actor is processed even when its sender also tells that actor directly (the forward is sequenced in the forwarding node’s stream)', async () => {
    const snapshots = new MemorySnapshotStore();
    // A relay forwards every `inc` to /f/kept unchanged (id, sender, reply_to).
    const relay = setup({}).createMachine({
      on: { inc: { actions: ({ system }) => runtimeOf(system).forward(runtimeOf(system).current, '/f/kept') } },
    });
    node = await Node.start({
      tree: supervisor('f', {}, [worker('kept', testMachine, { persist: { version: '1' } }), worker('relay', relay)]),
      services: { snapshots },
    });
    // Three acked tells from /x straight to the persistent actor: seq 1..3 of (/x, /f/kept).
    for (let i = 0; i < 3; i++) node.tell('/f/kept', 'inc', {}, { from: '/x', requiresAck: true });
    await node.settled();
    // Three more from /x to the relay: seq 1..3 of (/x, /f/relay), forwarded to /f/kept.
    for (let i = 0; i < 3; i++) node.tell('/f/relay', 'inc', {}, { from: '/x', requiresAck: true });
    let count = 0;
    for (let i = 0; i < 50 && count < 6; i++) {
      await node.settled();
      count = (await node.ask<{ count: number }>('/f/kept', 'get')).count;
    }
    expect(count).toBe(6);
    expect(node.system.counters.duplicates).toBe(0);
  });
});
