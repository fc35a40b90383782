/**
 * Remote tell throughput between two processes over one nats-server (this process
 * sends; a forked cluster-peer receives and counts), 100 B payload:
 *   raw:       nats.js publish of msgpackr.pack(payload) -> subscriber that unpacks
 *   eldertree: ClusterClient.tell('/bench/counter', 'inc', payload) -> a ClusterNode's actor
 *   records:   the same with v0's batch frames (msgpackr records, not standard msgpack)
 *   acked:     the same with requiresAck: true (acknowledged, deduplicated)
 *   moleculer: broker.emit('bench.inc', payload) -> a broker's event handler (JSON)
 *   ceiling:   the design's ceiling, nothing of a runtime: nats.js, messages batched per
 *              turn into frames of <= 512 (plain msgpack rows, as eldertree's), the
 *              receiver decodes and runs the same machine's transition (actor.send)
 * Every side sends in batches of BATCH, yielding between batches, and keeps at most
 * WINDOW messages not yet counted by the receiver (--window N: N x 1000; acked tells also
 * have the transport's own window, --send-window N): the rate is what gets through end to
 * end, and no side can run ahead into the broker's slow-consumer limit or its own heap.
 * Result: { rate } in messages/s, from the first send to the receiver's count of n.
 */
import { connect } from '@nats-io/transport-node';
import { ClusterClient } from 'eldertree';
import { Packr } from 'msgpackr';
import { forkPeer, message, moleculerBroker, payload, PROGRESS, startNats, stop } from './cluster-lib.js';
import { caseArgs, gc, intArg, report } from './lib.js';

const BATCH = 1000;
const args = caseArgs();
// 5 progress reports ahead (--window N for others): enough that the raw side does not
// wait on them; small, so a message does not queue long behind the window (an acked one
// is resent when not acknowledged within 200 ms).
const WINDOW = Number(args.window ?? 5) * PROGRESS;

const n = Math.ceil(intArg(args, 'n') / PROGRESS) * PROGRESS;
const side = args.side!;
const nats = await startNats();
const peer = forkPeer(['--side', side === 'acked' ? 'eldertree' : side, '--url', nats.url]);
await message<{ ready?: boolean }>(peer, (m) => m.ready === true);

let send: (seq: number) => void;
let close: () => Promise<unknown>;
if (side === 'raw') {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const packr = new Packr({ useRecords: false });
  send = (seq) => nc.publish('bench.tell', packr.pack(payload(seq)));
  close = () => nc.close();
} else if (side === 'eldertree' || side === 'acked' || side === 'records') {
  // records: batch frames as v0 sent them (msgpackr records), to price standard frames.
  const batchEncoding = side === 'records' ? 'records' : 'standard';
  // --send-window N: the transport's send window for acked tells (default DEFAULT_RETRY's).
  const retry = args['send-window'] === undefined ? undefined : { window: Number(args['send-window']) };
  const client = await ClusterClient.connect({ servers: nats.url, nodeId: 'sender', batchEncoding, retry });
  const options = { requiresAck: side === 'acked' };
  send = (seq) => client.tell('/bench/counter', 'inc', payload(seq), options);
  close = () => client.close();
} else if (side === 'ceiling') {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const packr = new Packr({ useRecords: false });
  let rows: unknown[][] = [];
  const flush = () => {
    if (rows.length === 0) return;
    nc.publish('bench.ceiling', packr.pack({ keys: ['type', 'payload'], rows }));
    rows = [];
  };
  let queued = false;
  send = (seq) => {
    rows.push(['inc', payload(seq)]);
    if (rows.length >= 512) flush();
    if (!queued) {
      queued = true;
      queueMicrotask(() => {
        queued = false;
        flush();
      });
    }
  };
  close = () => nc.close();
} else if (side === 'moleculer') {
  const broker = moleculerBroker('sender', nats.url);
  await broker.start();
  await broker.waitForServices(['counter'], 30_000);
  send = (seq) => void broker.emit('bench.inc', payload(seq));
  close = () => broker.stop();
} else {
  throw new Error(`unknown --side ${side}`);
}

let counted = 0;
let wake: (() => void) | undefined;
peer.on('message', (m: { count?: number }) => {
  if (m.count === undefined) return;
  counted = m.count;
  wake?.();
});
const countReaches = (c: number) =>
  new Promise<void>((resolve) => {
    wake = () => counted >= c && resolve();
    wake();
  });

gc();
const t0 = performance.now();
for (let seq = 0; seq < n; ) {
  if (seq - counted >= WINDOW) await countReaches(seq - WINDOW + PROGRESS);
  for (const end = Math.min(n, seq + BATCH); seq < end; seq++) send(seq);
  // Lets the connection write, and our own inbound (acks, progress) in.
  await new Promise((r) => setImmediate(r));
}
await countReaches(n);
const ms = performance.now() - t0;

await close();
await stop(peer);
await nats.stop();
report({ rate: (n / ms) * 1000, ms });
