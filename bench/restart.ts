/**
 * Restart latency: time from sending `crash` to the reply to a `ping` sent right after,
 * which only the new incarnation can give.
 *   raw:       the floor of any restart: createActor(machine).start() and send it one event.
 *   eldertree: a permanent worker under a one_for_one supervisor that never gives up
 *              (intensity 1e6 per --period ms).
 * Result: { p50, p99 } in µs over --samples samples, after --warmup unrecorded ones
 * (the first restarts of a process run cold code and are several times slower).
 */
import { Node, reply, supervisor, worker } from 'eldertree';
import { createActor, setup } from 'xstate';
import { caseArgs, gc, intArg, percentile, report } from './lib.js';

const args = caseArgs();
const samples = intArg(args, 'samples');
const warmup = intArg(args, 'warmup');

const crasher = setup({}).createMachine({
  initial: 'up',
  states: {
    up: {
      on: {
        crash: {
          actions: () => {
            throw new Error('crash on request');
          },
        },
        ping: { actions: reply({}) },
      },
    },
  },
});

// reply() needs a cell, so the raw side gets the same shape with a no-op ping.
const plain = setup({}).createMachine({
  initial: 'up',
  states: { up: { on: { ping: { actions: () => {} } } } },
});

const latencies: number[] = [];
if (args.side === 'raw') {
  let previous: { stop(): void } | undefined;
  for (let i = 0; i < warmup + samples; i++) {
    if (i === warmup) gc();
    const t0 = performance.now();
    const actor = createActor(plain).start();
    actor.send({ type: 'ping' });
    const dt = performance.now() - t0;
    if (i >= warmup) latencies.push(dt * 1000);
    previous?.stop(); // outside the timing: a restart's old actor is already gone
    previous = actor;
  }
} else {
  // Intensity high enough that the supervisor never escalates during the run.
  const period = intArg(args, 'period');
  const node = await Node.start({
    tree: supervisor('bench', { intensity: 1_000_000, period }, [worker('w', crasher)]),
  });
  for (let i = 0; i < warmup + samples; i++) {
    if (i === warmup) gc();
    const t0 = performance.now();
    node.tell('/bench/w', 'crash');
    await node.ask('/bench/w', 'ping');
    const dt = performance.now() - t0;
    if (i >= warmup) latencies.push(dt * 1000);
  }
}

latencies.sort((a, b) => a - b);
report({ p50: percentile(latencies, 50), p99: percentile(latencies, 99) });
