/**
 * Spawn rate, actors started per second, each kept alive (--n of them, after a
 * warm-up of a tenth as many so the JIT has seen the path).
 *   raw:        createActor(counter).start().
 *   startChild: await node.startChild('/bench/pool', worker(...)) one after another,
 *               the dynamic way (every call is one turn of the supervisor's queue).
 *   tree:       Node.start with a spec of --n workers under one supervisor.
 * Result: { rate } in actors/s.
 */
import { Node, supervisor, worker } from 'eldertree';
import { createActor } from 'xstate';
import { caseArgs, counter, gc, intArg, report } from './lib.js';

const args = caseArgs();
const n = intArg(args, 'n');
const warm = Math.ceil(n / 10);
const keep: unknown[] = [];

async function timed(run: (count: number, tag: string) => Promise<void> | void): Promise<number> {
  await run(warm, 'warm');
  gc();
  const t0 = performance.now();
  await run(n, 'pool');
  return (performance.now() - t0) / 1000;
}

let seconds: number;
if (args.side === 'raw') {
  seconds = await timed((count) => {
    for (let i = 0; i < count; i++) keep.push(createActor(counter).start());
  });
} else if (args.side === 'startChild') {
  const node = await Node.start({
    tree: supervisor('bench', {}, [supervisor('warm', {}, []), supervisor('pool', {}, [])]),
  });
  seconds = await timed(async (count, tag) => {
    for (let i = 0; i < count; i++) await node.startChild(`/bench/${tag}`, worker(`w${i}`, counter));
  });
} else if (args.side === 'tree') {
  seconds = await timed(async (count, tag) => {
    const workers = [];
    for (let i = 0; i < count; i++) workers.push(worker(`w${i}`, counter));
    keep.push(await Node.start({ nodeId: tag, tree: supervisor('bench', {}, workers) }));
  });
} else {
  throw new Error(`unknown --side ${args.side}`);
}
report({ rate: n / seconds });
