/**
 * Failure detection and singleton failover in a 3-node cluster: SIGKILL the node that
 * runs the singleton, then time
 *   detect:   until a survivor announces it down (a node_down event on the event subjects)
 *   failover: until the singleton answers again, from another node (asked every 5 ms)
 * Sides:
 *   eldertree: `node dist/runtime.js build/bench/failover-tree.js --nats URL --node nK`,
 *              default heartbeat (150 ms), down-after (750 ms) and singleton TTL (1000 ms);
 *              events on elders.elders.sys.events.*, asks through a ClusterClient
 *   raw:       the same mechanism and timings in a few lines of nats.js (cluster-peer's rawNode)
 * Each run kills --reps owners in turn; every killed node is replaced by a fresh one
 * (new name: a restarted owner would take its own lease straight back), and the next
 * kill waits until the 3 nodes see each other and the singleton answers.
 * Result: { detect, detectMax, failover, failoverMax } in ms, median and max over the reps.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { ClusterClient } from 'eldertree';
import { Packr } from 'msgpackr';
import { forkPeer, sleep, spawnRuntime, startNats, stop } from './cluster-lib.js';
import { caseArgs, intArg, median, report } from './lib.js';

const NODES = 3;
const args = caseArgs();
const reps = intArg(args, 'reps');
const nats = await startNats();

interface Side {
  start(name: string): { proc: ChildProcess; output: () => string };
  /** The node the singleton answers from; rejects while nobody serves it. */
  ask(): Promise<string>;
  onDown(listener: (node: string) => void): void;
  /** Every node that answers, with the nodes it sees up (itself included). */
  inspect(): Promise<{ node: string; up: string[] }[]>;
  close(): Promise<unknown>;
}

async function eldertree(): Promise<Side> {
  const tree = fileURLToPath(new URL('./failover-tree.js', import.meta.url));
  const client = await ClusterClient.connect({ servers: nats.url, nodeId: 'bench' });
  return {
    start: (name) => spawnRuntime([tree, '--nats', nats.url, '--node', name, '--log-level', 'warn']),
    ask: async () => (await client.ask<{ node: string }>('/bench/singleton', 'whoami', {}, { timeout: 500 })).node,
    onDown: (listener) => client.events((e) => e.type === 'node_down' && listener(e.node)),
    inspect: async () =>
      (await client.inspect(150)).map((r) => ({ node: r.node, up: r.members.filter((m) => m.status === 'up').map((m) => m.node) })),
    close: () => client.close(),
  };
}

async function raw(): Promise<Side> {
  const nc = await connect({ servers: nats.url, noAsyncTraces: true });
  const packr = new Packr({ useRecords: false });
  return {
    start: (name) => ({ proc: forkPeer(['--side', 'raw-node', '--url', nats.url, '--node', name]), output: () => '' }),
    ask: async () => (packr.unpack((await nc.request('rawbench.singleton', undefined, { timeout: 500 })).data) as { node: string }).node,
    onDown: (listener) =>
      nc.subscribe('rawbench.events.*', {
        callback: (_, msg) => {
          const e = packr.unpack(msg.data) as { type: string; node: string };
          if (e.type === 'node_down') listener(e.node);
        },
      }),
    inspect: async () => {
      const replies: { node: string; up: string[] }[] = [];
      try {
        for await (const msg of await nc.requestMany('rawbench.inspect', undefined, { strategy: 'timer', maxWait: 150 })) {
          replies.push(packr.unpack(msg.data) as { node: string; up: string[] });
        }
      } catch {
        // No node answers yet.
      }
      return replies;
    },
    close: () => nc.close(),
  };
}

const side = args.side === 'eldertree' ? await eldertree() : args.side === 'raw' ? await raw() : undefined;
if (!side) throw new Error(`unknown --side ${args.side}`);

const alive = new Map<string, ReturnType<Side['start']>>();
let named = 0;
const startNode = () => {
  const name = `n${++named}`;
  alive.set(name, side.start(name));
};
for (let i = 0; i < NODES; i++) startNode();

/** Until every live node sees every other up and the singleton answers. */
async function ready(): Promise<void> {
  const names = [...alive.keys()];
  for (const deadline = performance.now() + 30_000; performance.now() < deadline; ) {
    const views = await side!.inspect();
    const agreed = names.every((n) => views.some((v) => v.node === n && names.every((m) => v.up.includes(m))));
    if (agreed && (await side!.ask().catch(() => undefined))) return;
  }
  const logs = [...alive].map(([name, n]) => `--- ${name}\n${n.output()}`).join('\n');
  throw new Error(`nodes ${names.join(', ')} not ready within 30 s\n${logs}`);
}

const downAt = new Map<string, number>();
side.onDown((node) => downAt.has(node) || downAt.set(node, performance.now()));

const detect: number[] = [];
const failover: number[] = [];
for (let rep = 0; rep < reps; rep++) {
  await ready();
  const owner = await side.ask();
  const t0 = performance.now();
  process.kill(alive.get(owner)!.proc.pid!, 'SIGKILL');
  alive.delete(owner);
  for (;;) {
    const by = await side.ask().catch(() => undefined);
    if (by !== undefined && by !== owner) break;
    if (performance.now() - t0 > 15_000) throw new Error(`no failover of the singleton from ${owner} within 15 s`);
    await sleep(5);
  }
  failover.push(performance.now() - t0);
  while (!downAt.has(owner)) {
    if (performance.now() - t0 > 15_000) throw new Error(`nobody declared ${owner} down within 15 s`);
    await sleep(5);
  }
  detect.push(downAt.get(owner)! - t0);
  startNode();
}

await side.close();
await Promise.all([...alive.values()].map((n) => stop(n.proc)));
await nats.stop();
report({ detect: median(detect), detectMax: Math.max(...detect), failover: median(failover), failoverMax: Math.max(...failover) });
