/**
 * Keyed entities on one node, next to raw XState in the same run.
 *   heap:      --side raw-heap | entity-heap: bytes per idle actor, --n of them, each having
 *              processed one message (raw: createActor(counter).start() and one send, kept
 *              in an array; entity: one message to each of --n keys, which activates it).
 *   activate:  --side raw-activate | entity-activate: p50 / p99 µs from a cold key's first
 *              message to its answer (raw: createActor().start() then a send that answers).
 *   rate:      --side one-actor | many-keys: msgs/s of --n tells, to one pre-placed actor or
 *              to random keys among 100k active entities (activated before the clock starts).
 * Result: { bytes } or { p50, p99 } or { rate }.
 */
import { entities, kind, Node, reply, supervisor, worker, type Ask } from 'eldertree';
import { assign, createActor, setup } from 'xstate';
import { caseArgs, counter, gc, intArg, percentile, report } from './lib.js';

const args = caseArgs();
const n = intArg(args, 'n');

/** The counter, asked: the entity of the activation and rate cases. */
const tally = setup({
  types: { context: {} as { n: number }, events: {} as { type: 'inc' } | Ask<{ type: 'get' }, { n: number }> },
}).createMachine({
  context: { n: 0 },
  initial: 'on',
  states: {
    on: {
      on: {
        inc: { actions: assign({ n: ({ context }) => context.n + 1 }) },
        get: { actions: reply(({ context }) => ({ n: context.n })) },
      },
    },
  },
});
const Tally = kind('tally', tally);
const Idle = kind('idle', counter);
const start = (k: typeof Tally | typeof Idle) =>
  Node.start({ tree: supervisor('bench', {}, [entities('keys', k, { idleAfter: 3_600_000, maxChildren: 10_000_000 }), worker('one', Tally)]) });

switch (args.side) {
  case 'raw-heap': {
    gc();
    const before = process.memoryUsage().heapUsed;
    const actors = [];
    // Each takes one message, as each entity did to be activated.
    for (let i = 0; i < n; i++) {
      const actor = createActor(counter).start();
      actor.send({ type: 'inc' });
      actors.push(actor);
    }
    gc();
    const after = process.memoryUsage().heapUsed;
    if (actors.length !== n) throw new Error('not kept');
    report({ bytes: (after - before) / n });
    break;
  }
  case 'entity-heap': {
    const node = await start(Idle);
    await node.settled();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) node.entity(Idle, `k${i}`).tell({ type: 'inc' });
    await node.settled(600_000);
    gc();
    const after = process.memoryUsage().heapUsed;
    const active = node.view().actors.find((a) => a.path === '/bench/keys')?.entities?.active;
    if (active !== n) throw new Error(`${active} entities active, expected ${n}`);
    report({ bytes: (after - before) / n });
    break;
  }
  case 'raw-activate': {
    const samples: number[] = [];
    const keep = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const actor = createActor(tally).start();
      actor.send({ type: 'inc' });
      const answered = actor.getSnapshot().context.n === 1;
      samples.push((performance.now() - t0) * 1000);
      if (!answered) throw new Error('no answer');
      keep.push(actor);
    }
    samples.sort((a, b) => a - b);
    report({ p50: percentile(samples, 50), p99: percentile(samples, 99) });
    break;
  }
  case 'entity-activate': {
    const node = await start(Tally);
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await node.entity(Tally, `cold-${i}`).ask({ type: 'get' });
      samples.push((performance.now() - t0) * 1000);
    }
    samples.sort((a, b) => a - b);
    report({ p50: percentile(samples, 50), p99: percentile(samples, 99) });
    break;
  }
  case 'one-actor':
  case 'many-keys': {
    const node = await start(Tally);
    const one = node.ref(Tally, '/bench/one');
    const KEYS = 100_000;
    let x = 0x9e3779b9;
    const keys = Array.from({ length: n }, () => `k${((x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0) % KEYS)}`);
    if (args.side === 'many-keys') {
      // Every key active first: this measures messages to live entities, not activations.
      for (let i = 0; i < KEYS; i++) {
        node.entity(Tally, `k${i}`).tell({ type: 'inc' });
        if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r));
      }
      await node.settled(600_000);
    }
    gc();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (args.side === 'one-actor') one.tell({ type: 'inc' });
      else node.entity(Tally, keys[i]!).tell({ type: 'inc' });
      if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r));
    }
    await node.settled(600_000);
    report({ rate: (n / (performance.now() - t0)) * 1000 });
    break;
  }
  default:
    throw new Error(`unknown side ${args.side}`);
}
