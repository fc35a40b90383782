/**
 * What a typed reference costs per message: local tell actor -> actor, 16 bursts of
 * 1000 in flight as in tell.ts, the pinger telling the counter
 *   string:        runtime.tell('/bench/counter', 'inc')
 *   typed:         ref.tell({ type: 'inc' })            (ref = runtime.ref(Counter, path))
 *   string-field:  runtime.tell('/bench/counter', 'inc', { by: 1 })
 *   typed-field:   ref.tell({ type: 'inc', by: 1 })
 * Result: { rate } in messages/s.
 */
import { Node, supervisor, worker } from 'eldertree';
import { BURST, counter, stylePinger, type TellStyle } from './tell-machines.js';
import { caseArgs, gc, intArg, report } from './lib.js';

const args = caseArgs();
const n = Math.ceil(intArg(args, 'n') / BURST) * BURST;
const style = args.side as TellStyle;
const IN_FLIGHT = 16;

let t0 = 0;
let done!: (ms: number) => void;
const finished = new Promise<number>((resolve) => (done = resolve));
let next = (): void => {};
const progress = (count: number) => {
  if (count === n) done(performance.now() - t0);
  else next();
};
const node = await Node.start({
  tree: supervisor('bench', {}, [worker('pinger', stylePinger(style)), worker('counter', counter, { input: { n, progress }, capacity: Infinity })]),
});
let bursts = n / BURST;
next = () => {
  if (bursts-- > 0) node.tell('/bench/pinger', 'burst');
};
gc();
t0 = performance.now();
for (let i = 0; i < IN_FLIGHT; i++) next();
const ms = await finished;
report({ rate: (n / ms) * 1000, ms });
await node.stop();
