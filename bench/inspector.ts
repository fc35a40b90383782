/**
 * What the inspector costs the runtime: local tell throughput (the `tell` case's
 * pinger -> counter workload, 16 bursts of 1000 in flight) with
 *   off:     no inspector;
 *   idle:    the inspector serving, nobody connected (sampling at 1 Hz, no tracing);
 *   watched: the inspector serving and one live client reading /api/stream, so every
 *            processed message is traced (history rings, message log) and the tree is
 *            pushed every 250 ms.
 * Result: { rate } in messages/s, timed from the first send to the N-th inc.
 */
import { request } from 'node:http';
import { Node, supervisor, worker } from 'eldertree';
import { LocalSource, startInspector } from 'eldertree/inspector';
import { BURST, counter, pinger } from './tell-machines.js';
import { caseArgs, gc, intArg, report } from './lib.js';

const WINDOW = 16;
const args = caseArgs();
const n = Math.ceil(intArg(args, 'n') / BURST) * BURST;
const side = args.side ?? 'off';
if (!['off', 'idle', 'watched'].includes(side)) throw new Error(`--side must be off, idle or watched; got ${side}`);

let t0 = 0;
let done!: (ms: number) => void;
const finished = new Promise<number>((resolve) => (done = resolve));
let bursts = n / BURST;
let next = (): void => {};
const progress = (count: number) => {
  if (count === n) done(performance.now() - t0);
  else next();
};

const node = await Node.start({
  tree: supervisor('bench', {}, [worker('pinger', pinger), worker('counter', counter, { input: { n, progress }, capacity: Infinity })]),
  // As `node dist/runtime.js --inspect` runs: the page's /metrics serves the latency histograms.
  telemetry: { metrics: side !== 'off' },
});
next = () => {
  if (bursts-- > 0) node.tell('/bench/pinger', 'burst');
};

let received = 0;
if (side !== 'off') {
  const inspector = await startInspector({ source: new LocalSource(node), port: 0 });
  if (side === 'watched') {
    // One live client, reading every push as a browser would.
    request(`${inspector.url}/api/stream`, (res) => res.on('data', (d: Buffer) => (received += d.length))).end();
    while (node.system.trace === undefined) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // the first pushes are out
  }
}

gc();
t0 = performance.now();
for (let i = 0; i < WINDOW; i++) next();
const ms = await finished;
if (side === 'watched' && received === 0) throw new Error('the stream client received nothing');
report({ rate: (n / ms) * 1000, ms });
