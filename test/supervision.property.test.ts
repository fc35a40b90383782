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
import { failStarts, ignoreStarts, take } from './supervision-machines.js';

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

/**
 * Its starts follow the plans of supervision-machines.ts for its path: it declines
 * (final at once: OTP's ignore; decided while XState builds the first state) or throws
 * in its entry action at start (a failure wins), else runs.
 */
const propertyWorker = setup({
  types: { input: {} as { key: string }, context: {} as { key: string; n: number } },
  actions: {
    mayFail: ({ context }) => {
      if (take(failStarts, context.key)) throw new Error('cannot start');
    },
  },
  guards: { declines: ({ context }) => take(ignoreStarts, context.key) },
}).createMachine({
  context: ({ input }) => ({ key: input.key, n: 0 }),
  entry: 'mayFail',
  initial: 'boot',
  states: {
    boot: { always: [{ guard: 'declines', target: 'declined' }, { target: 'up' }] },
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
    declined: { type: 'final' },
  },
});

// ---- random trees: depth <= 3, mixed strategies and restart types -----------------

const restartArb = fc.constantFrom('permanent', 'transient', 'temporary') as fc.Arbitrary<Shape['restart']>;
const autoShutdownArb = fc.constantFrom('never', 'never', 'any_significant', 'all_significant') as fc.Arbitrary<SupShape['autoShutdown']>;

type Unnamed =
  | { kind: 'worker'; restart: Shape['restart']; significant: boolean }
  | (Omit<SupShape, 'id' | 'children'> & { children: Unnamed[] });

function unnamedArb(depth: number): fc.Arbitrary<Unnamed> {
  const workerArb = fc.record({ kind: fc.constant('worker' as const), restart: restartArb, significant: fc.boolean() });
  const child = depth < 3 ? fc.oneof({ weight: 3, arbitrary: workerArb }, { weight: 1, arbitrary: fc.constant(null) }) : workerArb;
  return fc.record({
    kind: fc.constant('supervisor' as const),
    restart: restartArb,
    significant: fc.boolean(),
    strategy: fc.constantFrom('one_for_one', 'one_for_all', 'rest_for_one') as fc.Arbitrary<SupShape['strategy']>,
    intensity: fc.integer({ min: 0, max: 3 }),
    period: fc.constantFrom(10, 50, 100),
    autoShutdown: autoShutdownArb,
    // null marks a nested supervisor: fc.array + map (no chain) keeps shrinking effective.
    children: fc.array(depth < 3 ? fc.oneof(child, unnamedArb(depth + 1)) : child, { minLength: 1, maxLength: 4 }),
  }).map((sup) => ({ ...sup, children: sup.children.filter((c): c is Unnamed => c !== null) })).filter((sup) => sup.children.length > 0);
}

/** Names the nodes; `significant` only where supervisor.erl accepts it (not permanent, not under auto_shutdown never). */
function named(u: Unnamed, id: string, parentAuto: SupShape['autoShutdown'] = 'never'): Shape {
  const significant = u.significant && u.restart !== 'permanent' && parentAuto !== 'never';
  if (u.kind === 'worker') return { kind: 'worker', id, restart: u.restart, significant };
  return {
    ...u,
    id,
    significant,
    children: u.children.map((c, i) => named(c, `${c.kind === 'worker' ? 'w' : 's'}${i}`, u.autoShutdown)),
  };
}

function supArb(): fc.Arbitrary<SupShape> {
  return unnamedArb(1).map((u) => {
    const shape = named(u, 'root') as SupShape;
    return Object.assign(shape, { [fc.toStringMethod]: () => '\n' + describeShape(shape) });
  });
}

function toSpec(shape: Shape, parent = ''): ChildSpec {
  const path = `${parent}/${shape.id}`;
  const significant = shape.significant ? { significant: true } : {};
  if (shape.kind === 'worker') {
    return worker(shape.id, propertyWorker, { restart: shape.restart, shutdown: 'brutal_kill', input: { key: path }, ...significant });
  }
  const { id, restart, strategy, intensity, period, autoShutdown, children } = shape;
  const auto = autoShutdown === 'never' ? {} : { autoShutdown };
  return supervisor(id, { restart, strategy, intensity, period, ...auto, ...significant }, children.map((c) => toSpec(c, path)));
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
  workers: string[];
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
    [...real.node.system.paths]
      // A child that declined every start so far (OTP's ignore) has no incarnation yet.
      .filter((p) => (!real.supervisors.has(p) || model.incarnations.has(p)) && real.node.system.cell(p)!.incarnation > 0)
      .map((p) => [p, real.node.system.cell(p)!.incarnation]),
  );
  expect(realIncarnations).toEqual(Object.fromEntries(model.incarnations));
  const running = [...real.node.system.paths].filter((p) => !real.supervisors.has(p) && real.node.system.cell(p)!.status === 'running');
  expect(running.sort()).toEqual(model.aliveWorkers().sort());
}

class CrashCmd implements Cmd {
  constructor(readonly pick: number, readonly normal: boolean) {}
  check = (m: Readonly<OtpModel>) => !m.over && m.aliveWorkers().length > 0;
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
  check = (m: Readonly<OtpModel>) => !m.over;
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
  check = (m: Readonly<OtpModel>) => !m.over && m.aliveWorkers().length > 0;
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
    m.flushed.length = 0;
    const crashed = m.incarnations.get(path)!;
    m.crash(path);
    await compare(m, r);
    expect(r.hook).toBeUndefined();
    r.sent.push(...ids);
    // The mail waits for a new incarnation: the first that runs takes it (with a retried
    // one_for_all sweep that may be one stopped again since). Unless its mail was flushed
    // meanwhile (dead letters: the delivery property checks those).
    if (m.isAlive(path) && !m.flushed.includes(path)) {
      const byId = new Map(processed.map((p) => [p.id, p]));
      for (const id of ids) {
        const at = byId.get(id)?.incarnation ?? 0;
        expect(at > crashed && at <= m.incarnations.get(path)!, `${id} processed by incarnation ${at}`).toBe(true);
      }
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
    if (!m.over) await compare(m, r);
  }
  toString = () => `send(target[${this.pick}], ${this.k}, from /sender${this.from})`;
}

/**
 * Plan the next starts of any worker (alive or not): `fails` of them throw, `ignores`
 * decline. A later restart sweep meets them: retries, sweeps that stop, ignore.
 */
class PlanCmd implements Cmd {
  constructor(readonly pick: number, readonly fails: number, readonly ignores: number) {}
  check = (m: Readonly<OtpModel>) => !m.over;
  async run(m: OtpModel, r: Real): Promise<void> {
    const path = r.workers[this.pick % r.workers.length]!;
    for (const [plan, real, n] of [[m.failPlan, failStarts, this.fails], [m.ignorePlan, ignoreStarts, this.ignores]] as const) {
      plan.set(path, (plan.get(path) ?? 0) + n);
      real.set(path, (real.get(path) ?? 0) + n);
    }
  }
  toString = () => `plan(worker[${this.pick}], fails ${this.fails}, ignores ${this.ignores})`;
}

/**
 * Crash a worker whose next `fails` starts fail; at the first start that fails (in this
 * command, any path), terminate_child that child at once, while its retry waits: the
 * retry must be cancelled for good and a sweep must not go on past it.
 */
class CrashFailingCmd implements Cmd {
  constructor(readonly pick: number, readonly fails: number, readonly terminate: boolean) {}
  check = (m: Readonly<OtpModel>) => !m.over && m.aliveWorkers().length > 0;
  async run(m: OtpModel, r: Real): Promise<void> {
    const alive = m.aliveWorkers();
    const path = alive[this.pick % alive.length]!;
    m.failPlan.set(path, (m.failPlan.get(path) ?? 0) + this.fails);
    failStarts.set(path, (failStarts.get(path) ?? 0) + this.fails);
    const refused: unknown[] = [];
    if (this.terminate) {
      m.onFirstFailedStart = (failed) => m.terminate(failed);
      r.hook = (e) => {
        if (e.type !== 'crashed' || !e.reason?.startsWith('failed to start')) return;
        r.hook = undefined;
        const parent = e.path.slice(0, e.path.lastIndexOf('/'));
        r.node.terminateChild(parent, e.path.slice(parent.length + 1)).catch((err: unknown) => refused.push(err));
      };
    }
    r.sent.push(r.node.tell(path, 'crash'));
    m.crash(path);
    await compare(m, r);
    m.onFirstFailedStart = undefined;
    r.hook = undefined;
    expect(refused).toEqual([]);
  }
  toString = () => `crashFailing(alive[${this.pick}], fails ${this.fails}${this.terminate ? ', terminate at the first failed start' : ''})`;
}

const supervisionCommands = [
  fc.tuple(fc.nat(20), fc.boolean()).map(([p, normal]) => new CrashCmd(p, normal) as Cmd),
  fc.integer({ min: 1, max: 101 }).map((ms) => new AdvanceCmd(ms) as Cmd),
  fc.tuple(fc.nat(20), fc.integer({ min: 1, max: 3 })).map(([p, k]) => new CrashAndSendCmd(p, k) as Cmd),
  fc.tuple(fc.nat(20), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 })).map(([p, f, i]) => new PlanCmd(p, f, i) as Cmd),
  fc.tuple(fc.nat(20), fc.integer({ min: 1, max: 4 }), fc.boolean()).map(([p, f, t]) => new CrashFailingCmd(p, f, t) as Cmd),
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
  failStarts.clear();
  ignoreStarts.clear();
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
    workers: workerPaths(shape),
  };
  const model = new OtpModel(shape);
  try {
    await compare(model, real);
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    // The end: stop the node (or it failed already) and check the reverse stop order.
    model.stop();
    await node.stop();
    expect(newEvents(real)).toEqual(model.events.splice(0));
    expect((await node.done).status).toBe(model.ended ?? 'stopped');
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
