import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { setup } from 'xstate';
import { dynamicSupervisor, Node, supervisor, worker, type SupervisorError } from '../src/index.js';

const RUNS = 1000;
const POOL = '/root/pool';

type Restart = 'permanent' | 'transient' | 'temporary';

const item = setup({}).createMachine({
  initial: 'up',
  states: {
    up: {
      on: {
        crash: {
          actions: () => {
            throw new Error('crash');
          },
        },
        finish: 'done',
      },
    },
    done: { type: 'final' },
  },
});

/**
 * A dynamic supervisor (simple_one_for_one) as supervisor.erl runs one: children from
 * one template, started by id (or a generated one), restarted one for one, deleted when
 * they end for good or are terminated, all forgotten when the supervisor restarts.
 */
class DynamicModel {
  children = new Map<string, number>(); // id -> incarnation
  restarts: number[] = [];
  now = 0;
  next = 0;
  poolIncarnation = 1;

  constructor(
    readonly restart: Restart,
    readonly intensity: number,
    readonly period: number,
    readonly max: number | undefined,
  ) {}

  start(id: string | undefined): { id: string } | { code: string } {
    // Elixir's DynamicSupervisor refuses past max_children first, without using up an id.
    if (this.max !== undefined && this.children.size >= this.max) return { code: 'max_children' };
    if (id !== undefined && this.children.has(id)) return { code: 'already_started' };
    let chosen = id;
    while (chosen === undefined || (id === undefined && this.children.has(chosen))) chosen = `item-${++this.next}`;
    this.children.set(chosen, 1);
    return { id: chosen };
  }

  /** A child ends: crash (abnormal) or finish (normal). */
  ends(id: string, abnormal: boolean): void {
    if (this.restart === 'permanent' || (this.restart === 'transient' && abnormal)) {
      const threshold = this.now - this.period;
      this.restarts = [...this.restarts.filter((t) => t >= threshold), this.now];
      if (this.restarts.length > this.intensity) {
        // Gives up; its parent restarts it, and a restarted dynamic supervisor has no children.
        this.children.clear();
        this.restarts = [];
        this.poolIncarnation++;
        return;
      }
      this.children.set(id, this.children.get(id)! + 1);
    } else this.children.delete(id);
  }

  terminate(id: string): void {
    this.children.delete(id);
  }
}

type Cmd =
  | { kind: 'start'; id: string | undefined }
  | { kind: 'crash' | 'finish' | 'terminate'; pick: number }
  | { kind: 'advance'; ms: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.option(fc.constantFrom('a', 'b', 'c', 'item-1', 'item-2'), { nil: undefined }).map((id) => ({ kind: 'start' as const, id })) },
  { weight: 2, arbitrary: fc.nat(10).map((pick) => ({ kind: 'crash' as const, pick })) },
  { weight: 1, arbitrary: fc.nat(10).map((pick) => ({ kind: 'finish' as const, pick })) },
  { weight: 1, arbitrary: fc.nat(10).map((pick) => ({ kind: 'terminate' as const, pick })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }).map((ms) => ({ kind: 'advance' as const, ms })) },
);

describe('a dynamic supervisor against a model of simple_one_for_one', () => {
  it(`starts, restarts, deletes and forgets children as OTP does (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Restart>('permanent', 'transient', 'temporary'),
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(10, 50),
        fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
        fc.array(cmdArb, { maxLength: 25 }),
        async (restart, intensity, period, max, cmds) => {
          const clock = { now: 0 };
          const node = await Node.start({
            now: () => clock.now,
            tree: supervisor('root', { intensity: 1000, period: 1_000_000 }, [
              dynamicSupervisor('pool', { intensity, period, ...(max === undefined ? {} : { maxChildren: max }) }, worker('item', item, { restart, shutdown: 'brutal_kill' })),
            ]),
          });
          const model = new DynamicModel(restart, intensity, period, max);
          try {
            for (const cmd of cmds) {
              const ids = [...model.children.keys()].sort();
              if (cmd.kind === 'start') {
                const expected = model.start(cmd.id);
                const got = await node.startChild(POOL, cmd.id === undefined ? {} : { id: cmd.id }).then(
                  (info) => ({ id: info.id }),
                  (err: SupervisorError) => ({ code: err.code }),
                );
                expect(got).toEqual(expected);
              } else if (cmd.kind === 'advance') {
                clock.now += cmd.ms;
                model.now += cmd.ms;
              } else {
                if (ids.length === 0) continue;
                const id = ids[cmd.pick % ids.length]!;
                if (cmd.kind === 'terminate') {
                  await node.terminateChild(POOL, id);
                  model.terminate(id);
                } else {
                  node.tell(`${POOL}/${id}`, cmd.kind);
                  model.ends(id, cmd.kind === 'crash');
                }
              }
              await node.settled();
              const real = Object.fromEntries(node.whichChildren(POOL).map((c) => [c.id, `${c.status}#${c.incarnation}`]));
              const expected = Object.fromEntries([...model.children].map(([id, n]) => [id, `running#${n}`]));
              expect(real).toEqual(expected);
              expect(node.system.cell(POOL)!.incarnation).toBe(model.poolIncarnation);
            }
          } finally {
            await node.stop();
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
