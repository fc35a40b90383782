/**
 * The far end of the cluster cases, one process, forked with an IPC channel:
 *   --side raw        nats.js: counts `bench.tell` (msgpackr per message), answers `bench.ask`
 *   --side eldertree  a ClusterNode: actor /bench/counter counts `inc`, /bench/echo replies
 *   --side records    the same, sending v0 batch frames (msgpackr records)
 *   --side ceiling    nats.js: decodes `bench.ceiling` row frames, actor.send per row to the
 *                     same counter machine as eldertree's (the design's ceiling); answers
 *                     `bench.ceiling.ask` through an echo machine whose action responds
 *   --side moleculer  a broker: event `bench.inc` counts, action `counter.ask` replies
 *   --side raw-node   the failover baseline (see rawNode below), with --node NAME
 * All take --url. It sends { ready: true } once it can receive, then { count } every
 * PROGRESS counted messages: the sender's flow control, the same for every side.
 */
import { Kvm } from '@nats-io/kv';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ClusterNode, reply, supervisor, worker } from 'eldertree';
import { Packr } from 'msgpackr';
import { assign, createActor, setup } from 'xstate';
import { moleculerBroker, PROGRESS, sleep } from './cluster-lib.js';
import { caseArgs } from './lib.js';

const args = caseArgs();
const url = args.url!;
const packr = new Packr({ useRecords: false });
const send = (m: object) => process.send!(m);
// The case process is gone (ended or killed): so is the reason to live.
process.on('disconnect', () => process.exit(0));

let count = 0;
const counted = () => {
  if (++count % PROGRESS === 0) send({ count });
};

if (args.side === 'raw') {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  nc.subscribe('bench.tell', {
    callback: (_, msg) => {
      packr.unpack(msg.data);
      counted();
    },
  });
  nc.subscribe('bench.ask', {
    callback: (_, msg) => {
      packr.unpack(msg.data);
      msg.respond(packr.pack({ ok: true }));
    },
  });
  await nc.flush();
} else if (args.side === 'ceiling') {
  const actor = createActor(counterMachine()).start();
  const nc = await connect({ servers: url, noAsyncTraces: true });
  nc.subscribe('bench.ceiling', {
    callback: (_, msg) => {
      const { rows } = packr.unpack(msg.data) as { rows: [string, unknown][] };
      for (const row of rows) actor.send({ type: row[0], payload: row[1] } as { type: 'inc' });
    },
  });
  const echo = createActor(
    setup({ types: { events: {} as { type: 'ask'; payload: unknown; msg: Msg } } }).createMachine({
      on: { ask: { actions: ({ event }) => void event.msg.respond(packr.pack({ ok: true })) } },
    }),
  ).start();
  nc.subscribe('bench.ceiling.ask', { callback: (_, msg) => echo.send({ type: 'ask', payload: packr.unpack(msg.data), msg }) });
  await nc.flush();
} else if (args.side === 'eldertree' || args.side === 'records') {
  const counter = counterMachine();
  const echo = setup({}).createMachine({ on: { ask: { actions: reply({ ok: true }) } } });
  const node = await ClusterNode.start({
    nodeId: 'receiver',
    nats: { servers: url, batchEncoding: args.side === 'records' ? 'records' : 'standard' },
    tree: supervisor('bench', {}, [worker('counter', counter), worker('echo', echo)]),
  });
  await node.transport.connection.flush(); // the actors' subscriptions are at the server
} else if (args.side === 'moleculer') {
  const broker = moleculerBroker('receiver', url);
  broker.createService({
    name: 'counter',
    events: { 'bench.inc': () => counted() },
    actions: { ask: () => ({ ok: true }) },
  });
  await broker.start();
} else if (args.side === 'raw-node') {
  await rawNode(await connect({ servers: url, noAsyncTraces: true }), args.node!);
} else {
  throw new Error(`unknown --side ${args.side}`);
}
send({ ready: true });

/** 1 state + assign, as the local tell case: a transition that changes the snapshot. */
function counterMachine() {
  return setup({ types: { context: {} as { n: number } } }).createMachine({
    context: { n: 0 },
    on: { inc: { actions: [assign({ n: ({ context }) => context.n + 1 }), counted] } },
  });
}

/**
 * The failover baseline: eldertree's mechanism and defaults, written with nats.js alone.
 * Heartbeats every 150 ms on rawbench.hb.<node>; a peer silent for 750 ms (checked
 * every 50 ms) is announced on rawbench.events.<node> as { type: 'node_down', node }.
 * The singleton `rawbench.singleton` answers { node } from whoever holds KV key
 * `singleton`: the owner rewrites it every ttl/3; the others try every ttl/4 and take
 * it over once its expiresAt is 100 ms (the safety margin) past. TTL 1000 ms.
 */
async function rawNode(nc: NatsConnection, name: string): Promise<void> {
  const [HEARTBEAT, DOWN_AFTER, TTL, MARGIN] = [150, 750, 1000, 100];
  const heard = new Map<string, number>();
  nc.subscribe('rawbench.hb.*', {
    callback: (_, msg) => {
      const node = msg.subject.slice('rawbench.hb.'.length);
      if (node !== name) heard.set(node, performance.now());
    },
  });
  const beat = () => nc.publish(`rawbench.hb.${name}`);
  beat();
  setInterval(beat, HEARTBEAT);
  setInterval(() => {
    const now = performance.now();
    for (const [node, at] of heard) {
      if (now - at <= DOWN_AFTER) continue;
      heard.delete(node);
      nc.publish(`rawbench.events.${name}`, packr.pack({ type: 'node_down', node }));
    }
  }, HEARTBEAT / 3);
  nc.subscribe('rawbench.inspect', { callback: (_, msg) => void msg.respond(packr.pack({ node: name, up: [name, ...heard.keys()] })) });

  const kv = await new Kvm(nc).create('rawbench', { history: 1 });
  const value = () => JSON.stringify({ owner: name, expiresAt: Date.now() + TTL });
  void (async () => {
    let revision = 0;
    let sub: Subscription | undefined;
    for (;;) {
      if (sub) {
        revision = await kv.update('singleton', value(), revision).catch(() => 0);
        if (!revision) {
          sub.unsubscribe(); // lost it: someone else wrote the key
          sub = undefined;
        }
        await sleep(TTL / 3);
        continue;
      }
      revision = await kv.create('singleton', value()).catch(async () => {
        const entry = await kv.get('singleton');
        const expiresAt = entry ? (entry.json() as { expiresAt: number }).expiresAt : 0;
        return entry && Date.now() > expiresAt + MARGIN ? kv.update('singleton', value(), entry.revision).catch(() => 0) : 0;
      });
      if (revision) sub = nc.subscribe('rawbench.singleton', { callback: (_, msg) => void msg.respond(packr.pack({ node: name })) });
      else await sleep((TTL / 4) * (0.9 + Math.random() * 0.2));
    }
  })();
  await nc.flush();
}
