/**
 * Local tell throughput, actor -> actor. The same counter machine on both sides
 * (1 state + assign, plus a check that reports progress every 1000th inc):
 *   raw:       actor.send({ type: 'inc' }) N times.
 *   eldertree: the bench tells a `pinger` worker `burst`s; each makes it tell the
 *              `counter` worker 1000 `inc`s from inside an XState action, in the way
 *              --style says (tell-machines.ts: the string API or a typed reference,
 *              with or without a payload field; default the string API).
 * Result: { rate } in messages/s, timed from the first send to the N-th inc, and
 * { cpuNs }: the process's CPU time per message over the same span.
 */
import { Node, supervisor, worker } from 'eldertree';
import { createActor } from 'xstate';
import { BURST, counter, stylePinger, type TellStyle } from './tell-machines.js';
import { caseArgs, gc, intArg, report } from './lib.js';

const args = caseArgs();
const n = Math.ceil(intArg(args, 'n') / BURST) * BURST;
// Bursts told ahead of the counter (--window, 0 = all at once): a bound keeps the
// mailboxes small, so we time message passing rather than GC of a million queued
// envelopes; the unbounded flood is measured too, as its own row (capacity: Infinity, so
// the counter's mailbox takes all of it rather than overflowing at 100k).
const inFlight = Math.min(Number(args.window ?? 0) || Infinity, n / BURST);


let t0 = 0;
let cpu0 = process.cpuUsage();
let done!: (ms: number) => void;
const finished = new Promise<number>((resolve) => (done = resolve));
/** Tells the pinger one more burst while any are left (a no-op on the raw side). */
let next = (): void => {};
const progress = (count: number) => {
  if (count === n) done(performance.now() - t0);
  else next();
};

if (args.side === 'raw') {
  const actor = createActor(counter, { input: { n, progress } }).start();
  gc();
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  for (let i = 0; i < n; i++) actor.send({ type: 'inc' });
} else {
  const node = await Node.start({
    tree: supervisor('bench', {}, [worker('pinger', stylePinger((args.style ?? 'string') as TellStyle)), worker('counter', counter, { input: { n, progress }, capacity: Infinity })]),
    // --metrics 1: latency histograms on; --tracing 1: spans on with no SDK registered (no-op tracer).
    telemetry: { metrics: args.metrics === '1', tracing: args.tracing === '1' ? true : 'auto' },
  });
  let bursts = n / BURST;
  next = () => {
    if (bursts-- > 0) node.tell('/bench/pinger', 'burst');
  };
  gc();
  cpu0 = process.cpuUsage();
  t0 = performance.now();
  for (let i = 0; i < inFlight; i++) next();
}

const ms = await finished;
// CPU time per message: on a shared machine it moves far less than the wall-clock rate.
const cpu = process.cpuUsage(cpu0);
report({ rate: (n / ms) * 1000, ms, cpuNs: ((cpu.user + cpu.system) * 1000) / n });
