import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assign, setup } from 'xstate';
import {
  Node,
  runtimeOf,
  supervisor,
  worker,
  type ChildSpec,
  type LifecycleEvent,
  type SupervisorSpec,
  type SystemEvent,
} from '../src/index.js';
import { describeShape, OtpModel, workerPaths, type Shape, type SupShape } from './otp-model.js';

const RUNS = 1000;

// ---- the worker under test: records what it processes, by incarnation --------------

interface Processed {
  id: string;
  path: string;
  seq: number;
  source: string;
  incarnation: number;
}
let processed: Processed[] = [];

function record({ system }: { system: object }): void {
  const runtime = runtimeOf(system);
  const env = runtime.current!;
  processed.push({ id: env.message_id, path: runtime.path, seq: env.seq, source: env.source_elder, incarnation: runtime.incarnation });
}

const propertyWorker = setup({}).createMachine({
  context: { n: 0 },
  initial: 'up',
  states: {
    up: {
      on: {
        inc: { actions: [record, assign({ n: ({ context }) => context.n + 1 })] },
        crash: {
          actions: () => {
            throw new Error('crash');
          },
        },
        finish: { target: 'done', actions: record },
      },
    },
    done: { type: 'final' },
  },
});

// ---- random trees: depth <= 3, mixed strategies and restart types -----------------

const restartArb = fc.constantFrom('permanent', 'transient', 'temporary') as fc.Arbitrary<Shape['restart']>;

type Unnamed = { kind: 'worker'; restart: Shape['restart'] } | (Omit<SupShape, 'id' | 'children'> & { children: Unnamed[] });

function unnamedArb(depth: number): fc.Arbitrary<Unnamed> {
  const workerArb = restartArb.map((restart) => ({ kind: 'worker' as const, restart }));
  const child = depth < 3 ? fc.oneof({ weight: 3, arbitrary: workerArb }, { weight: 1, arbitrary: fc.constant(null) }) : workerArb;
  return fc.record({
    kind: fc.constant('supervisor' as const),
    restart: restartArb,
    strategy: fc.constantFrom('one_for_one', 'one_for_all', 'rest_for_one') as fc.Arbitrary<SupShape['strategy']>,
    intensity: fc.integer({ min: 0, max: 3 }),
    period: fc.constantFrom(10, 50, 100),
    // null marks a nested supervisor: fc.array + map (no chain) keeps shrinking effective.
    children: fc.array(depth < 3 ? fc.oneof(child, unnamedArb(depth + 1)) : child, { minLength: 1, maxLength: 4 }),
  }).map((sup) => ({ ...sup, children: sup.children.filter((c): c is Unnamed => c !== null) })).filter((sup) => sup.children.length > 0);
}

function named(u: Unnamed, id: string): Shape {
  if (u.kind === 'worker') return { kind: 'worker', id, restart: u.restart };
  return { ...u, id, children: u.children.map((c, i) => named(c, `${c.kind === 'worker' ? 'w' : 's'}${i}`)) };
}

function supArb(): fc.Arbitrary<SupShape> {
  return unnamedArb(1).map((u) => {
    const shape = named(u, 'root') as SupShape;
    return Object.assign(shape, { [fc.toStringMethod]: () => '\n' + describeShape(shape) });
  });
}

function toSpec(shape: Shape): ChildSpec {
  if (shape.kind === 'worker') return worker(shape.id, propertyWorker, { restart: shape.restart, shutdown: 'brutal_kill' });
  const { id, restart, strategy, intensity, period, children } = shape;
  return supervisor(id, { restart, strategy, intensity, period }, children.map(toSpec));
}

// ---- commands --------------------------------------------------------------------------

interface Real {
  node: Node;
  events: SystemEvent[];
  seen: number;
  clock: { now: number };
  sent: string[];
  supervisors: Set<string>;
  targets: string[];
  /** Called on every event as it happens (inside the runtime's own call stack). */
  hook: ((e: SystemEvent) => void) | undefined;
}

type Cmd = fc.AsyncCommand<OtpModel, Real>;

/** Lifecycle events as the model predicts them: supervisors' stops are bookkeeping. */
function newEvents(real: Real): string[] {
  const out = real.events
    .slice(real.seen)
    .filter((e): e is LifecycleEvent => e.type !== 'dead_letter')
    .filter((e) => !real.supervisors.has(e.path) || e.type === 'started' || e.type === 'restarted' || e.type === 'escalated')
    .map((e) => `${e.type} ${e.path}#${e.incarnation}`);
  real.seen = real.events.length;
  return out;
}

async function compare(model: OtpModel, real: Real): Promise<void> {
  await real.node.settled();
  const expected = model.events.splice(0);
  expect(newEvents(real)).toEqual(expected);
  const realIncarnations = Object.fromEntries(
    [...real.node.system.paths].filter((p) => !real.supervisors.has(p) || model.incarnations.has(p)).map((p) => [p, real.node.system.cell(p)!.incarnation]),
  );
  expect(realIncarnations).toEqual(Object.fromEntries(model.incarnations));
  const running = [...real.node.system.paths].filter((p) => !real.supervisors.has(p) && real.node.system.cell(p)!.status === 'running');
  expect(running.sort()).toEqual(model.aliveWorkers().sort());
}

class CrashCmd implements Cmd {
  constructor(readonly pick: number, readonly normal: boolean) {}
  check = (m: Readonly<OtpModel>) => !m.failed && m.aliveWorkers().length > 0;
  async run(m: OtpModel, r: Real): Promise<void> {
    const alive = m.aliveWorkers();
    const path = alive[this.pick % alive.length]!;
    r.sent.push(r.node.tell(path, this.normal ? 'finish' : 'crash'));
    if (this.normal) m.finish(path);
    else m.crash(path);
    await compare(m, r);
  }
  toString = () => `${this.normal ? 'finish' : 'crash'}(alive[${this.pick}])`;
}

class AdvanceCmd implements Cmd {
  constructor(readonly ms: number) {}
  check = (m: Readonly<OtpModel>) => !m.failed;
  async run(m: OtpModel, r: Real): Promise<void> {
    m.advance(this.ms);
    r.clock.now += this.ms;
    await compare(m, r);
  }
  toString = () => `advance(${this.ms}ms)`;
}

/**
 * Crash a worker with mail queued behind the crash, and more mail sent at the moment it
 * is down (from the `crashed` event, before its supervisor acts): all of it must wait
 * for the new incarnation.
 */
class CrashAndSendCmd implements Cmd {
  constructor(readonly pick: number, readonly k: number) {}
  check = (m: Readonly<OtpModel>) => !m.failed && m.aliveWorkers().length > 0;
  async run(m: OtpModel, r: Real): Promise<void> {
    const alive = m.aliveWorkers();
    const path = alive[this.pick % alive.length]!;
    r.sent.push(r.node.tell(path, 'crash'));
    const ids = Array.from({ length: this.k }, () => r.node.tell(path, 'inc'));
    r.hook = (e) => {
      if (e.type !== 'crashed' || e.path !== path) return;
      r.hook = undefined;
      expect(r.node.system.cell(path)!.status).toBe('down');
      for (let i = 0; i < this.k; i++) ids.push(r.node.tell(path, 'inc'));
    };
    m.crash(path);
    await compare(m, r);
    expect(r.hook).toBeUndefined();
    r.sent.push(...ids);
    if (m.isAlive(path)) {
      const byId = new Map(processed.map((p) => [p.id, p]));
      for (const id of ids) expect(byId.get(id)?.incarnation).toBe(m.incarnations.get(path));
    }
  }
  toString = () => `crashAndSend(alive[${this.pick}], ${this.k})`;
}

class SendCmd implements Cmd {
  constructor(readonly pick: number, readonly k: number, readonly from: number) {}
  check = () => true;
  async run(m: OtpModel, r: Real): Promise<void> {
    const target = r.targets[this.pick % r.targets.length]!;
    for (let i = 0; i < this.k; i++) r.sent.push(r.node.tell(target, 'inc', {}, { from: `/sender${this.from}` }));
    if (!m.failed) await compare(m, r);
  }
  toString = () => `send(target[${this.pick}], ${this.k}, from /sender${this.from})`;
}

const supervisionCommands = [
  fc.tuple(fc.nat(20), fc.boolean()).map(([p, normal]) => new CrashCmd(p, normal) as Cmd),
  fc.integer({ min: 1, max: 101 }).map((ms) => new AdvanceCmd(ms) as Cmd),
  fc.tuple(fc.nat(20), fc.integer({ min: 1, max: 3 })).map(([p, k]) => new CrashAndSendCmd(p, k) as Cmd),
];
const deliveryCommands = [
  ...supervisionCommands,
  fc.tuple(fc.nat(20), fc.integer({ min: 1, max: 8 }), fc.nat(2)).map(([p, k, f]) => new SendCmd(p, k, f) as Cmd),
  fc.tuple(fc.nat(20), fc.integer({ min: 1, max: 8 }), fc.nat(2)).map(([p, k, f]) => new SendCmd(p, k, f) as Cmd),
];

// ---- runs ------------------------------------------------------------------------------

function supervisorPaths(shape: SupShape, parent = ''): string[] {
  const path = `${parent}/${shape.id}`;
  return [path, ...shape.children.flatMap((c) => (c.kind === 'supervisor' ? supervisorPaths(c, path) : []))];
}

async function runAgainstModel(shape: SupShape, cmds: Iterable<Cmd>): Promise<Real> {
  processed = [];
  const events: SystemEvent[] = [];
  const clock = { now: 0 };
  // eslint-disable-next-line prefer-const
  let real: Real;
  const node = await Node.start({
    tree: toSpec(shape) as SupervisorSpec,
    now: () => clock.now,
    onEvent: (e) => {
      events.push(e);
      real.hook?.(e);
    },
  });
  real = {
    hook: undefined,
    node,
    events,
    seen: 0,
    clock,
    sent: [],
    supervisors: new Set(supervisorPaths(shape)),
    targets: [...workerPaths(shape), '/nowhere/at-all'],
  };
  const model = new OtpModel(shape);
  try {
    await compare(model, real);
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    // The end: stop the node (or it failed already) and check the reverse stop order.
    model.stop();
    await node.stop();
    expect(newEvents(real)).toEqual(model.events.splice(0));
    expect((await node.done).status).toBe(model.failed ? 'failed' : 'stopped');
    return real;
  } finally {
    await node.stop();
  }
}

describe('supervision against the OTP reference model', () => {
  it(`restarts exactly the right children, escalates when OTP would, in order (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(supArb(), fc.commands(supervisionCommands, { maxCommands: 30 }), async (shape, cmds) => {
        await runAgainstModel(shape, cmds);
      }),
      { numRuns: RUNS },
    );
  });

  it(`loses no message without a dead letter and keeps per-pair FIFO (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(supArb(), fc.commands(deliveryCommands, { maxCommands: 30 }), async (shape, cmds) => {
        const real = await runAgainstModel(shape, cmds);
        const dead = new Map<string, number>();
        for (const e of real.events) {
          if (e.type === 'dead_letter' && e.envelope) dead.set(e.envelope.message_id, (dead.get(e.envelope.message_id) ?? 0) + 1);
        }
        const done = new Map<string, number>();
        for (const p of processed) done.set(p.id, (done.get(p.id) ?? 0) + 1);
        for (const id of real.sent) {
          // Exactly one fate per message: processed once, or one dead letter.
          expect({ id, fates: (done.get(id) ?? 0) + (dead.get(id) ?? 0) }).toEqual({ id, fates: 1 });
        }
        const last = new Map<string, number>();
        for (const p of processed) {
          const pair = `${p.source}->${p.path}`;
          expect(p.seq).toBeGreaterThan(last.get(pair) ?? 0);
          last.set(pair, p.seq);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
