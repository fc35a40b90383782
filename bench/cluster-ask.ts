/**
 * Remote ask (request/reply) between two processes over one nats-server (this process
 * asks; a forked cluster-peer answers { ok: true }), 100 B payload:
 *   raw:       nats.js request (noAsyncTraces: true), msgpackr both ways
 *   ceiling:   the design's ceiling on request/reply: the same, and the receiver runs an
 *              echo machine's transition per request (actor.send), whose action responds
 *   eldertree: ClusterClient.ask('/bench/echo', 'ask', payload) -> a ClusterNode's actor
 *   records:   the same with v0's batch frames both ways (msgpackr records, not standard msgpack)
 *   moleculer: broker.call('counter.ask', payload) (JSON)
 * Each side: --warmup unrecorded asks, then --samples sequential asks timed one by one,
 * then --n asks with 64 in flight.
 * Result: { p50, p99 } µs of the sequential asks, { rate } asks/s with 64 in flight.
 */
import { connect } from '@nats-io/transport-node';
import { ClusterClient } from 'eldertree';
import { Packr } from 'msgpackr';
import { forkPeer, message, moleculerBroker, payload, startNats, stop } from './cluster-lib.js';
import { caseArgs, gc, intArg, percentile, report } from './lib.js';

const IN_FLIGHT = 64;

const args = caseArgs();
const [n, samples, warmup] = [intArg(args, 'n'), intArg(args, 'samples'), intArg(args, 'warmup')];
const side = args.side!;
const nats = await startNats();
const peer = forkPeer(['--side', side, '--url', nats.url]);
await message<{ ready?: boolean }>(peer, (m) => m.ready === true);

let ask: (seq: number) => Promise<unknown>;
let close: () => Promise<unknown>;
if (side === 'raw' || side === 'ceiling') {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const packr = new Packr({ useRecords: false });
  const subject = side === 'raw' ? 'bench.ask' : 'bench.ceiling.ask';
  ask = async (seq) => packr.unpack((await nc.request(subject, packr.pack(payload(seq)), { timeout: 5000 })).data);
  close = () => nc.close();
} else if (side === 'eldertree' || side === 'records') {
  const batchEncoding = side === 'records' ? 'records' : 'standard';
  const client = await ClusterClient.connect({ servers: nats.url, nodeId: 'sender', batchEncoding });
  ask = (seq) => client.ask('/bench/echo', 'ask', payload(seq));
  close = () => client.close();
} else if (side === 'moleculer') {
  const broker = moleculerBroker('sender', nats.url);
  await broker.start();
  await broker.waitForServices(['counter'], 30_000);
  ask = (seq) => broker.call('counter.ask', payload(seq));
  close = () => broker.stop();
} else {
  throw new Error(`unknown --side ${side}`);
}

let seq = 0;
for (let i = 0; i < warmup; i++) await ask(seq++);
gc();
const times: number[] = [];
for (let i = 0; i < samples; i++) {
  const t = performance.now();
  await ask(seq++);
  times.push((performance.now() - t) * 1000);
}
times.sort((a, b) => a - b);

gc();
const end = seq + n;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (seq < end) await ask(seq++);
  }),
);
const ms = performance.now() - t0;

await close();
await stop(peer);
await nats.stop();
report({ p50: percentile(times, 50), p99: percentile(times, 99), rate: (n / ms) * 1000 });
