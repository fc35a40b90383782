/**
 * Overload: n tells, sent as fast as one process can (5000 per turn), at an actor that
 * handles ~1k messages/s (1 ms of CPU each), on one node.
 *   bounded:   the default mailbox capacity (100_000): the rest are dead letters `overflow`
 *   unbounded: capacity: Infinity (what every mailbox was before): they all queue
 * Result: { rate } offered tells/s, { rssMax } MB and rss0..rss7 MB sampled over the
 * flood (every 250 ms, 8 evenly spaced samples), { processed } during the flood and
 * { overflow } dead letters, { queued } still in the mailbox, { lost } = n - the three (0). The unbounded side stops at the heap limit if n is large.
 */
import { Node, supervisor, worker } from 'eldertree';
import { assign, setup } from 'xstate';
import { caseArgs, gc, intArg, report } from './lib.js';

const args = caseArgs();
const n = intArg(args, 'n');
const sink = setup({ types: { context: {} as { n: number } } }).createMachine({
  context: { n: 0 },
  on: {
    work: {
      actions: assign({
        n: ({ context }) => {
          const end = performance.now() + 1;
          while (performance.now() < end);
          return context.n + 1;
        },
      }),
    },
  },
});

const node = await Node.start({
  tree: supervisor('bench', {}, [worker('sink', sink, args.side === 'unbounded' ? { capacity: Infinity } : {})]),
});
let overflow = 0;
node.subscribe((e) => {
  if (e.type === 'dead_letter' && e.reason === 'overflow') overflow++;
});
const rss: number[] = [];
const sampler = setInterval(() => rss.push(process.memoryUsage.rss() / 2 ** 20), 250);
gc();
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  node.tell('/bench/sink', 'work', { i });
  if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
}
const ms = performance.now() - t0;
rss.push(process.memoryUsage.rss() / 2 ** 20);
clearInterval(sampler);
const cell = node.system.cell('/bench/sink')!;
const processed = (cell.actor!.getSnapshot() as { context: { n: number } }).context.n;
// Still waiting in the mailbox when the flood ends (they are processed afterwards).
const queued = cell.mailbox.size;
const series: Record<string, number> = {};
for (let k = 0; k < 8; k++) series[`rss${k}`] = rss[Math.min(rss.length - 1, Math.round((k * (rss.length - 1)) / 7))]!;
report({ rate: (n / ms) * 1000, ms, rssMax: Math.max(...rss), processed, overflow, queued, lost: n - processed - overflow - queued, ...series });
