import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ClusterClient } from '../src/index.js';
import { startNatsCluster, startNatsServer, type NatsServer } from './nats-server.js';

const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));

export interface NodeProcess {
  name: string;
  proc: ChildProcess;
  output: string[];
}

export interface Cluster {
  /** The first (or only) nats-server. */
  server: NatsServer;
  /** Every nats-server: one, or three routed to each other with `{ servers: 3 }`. */
  servers: NatsServer[];
  client: ClusterClient;
  nodes: Map<string, NodeProcess>;
  /** `extra`: flags for this node only (e.g. its own --inspect port). */
  start(name: string, extra?: string[]): NodeProcess;
  /** Waits until `names` all answer inspect and see each other up. */
  ready(names: string[], ms?: number): Promise<void>;
  kill(name: string, signal?: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** A real cluster: Debian's nats-server and `node dist/runtime.js` processes. */
export async function startCluster(
  tree: string,
  names: string[],
  extraArgs: string[] = [],
  /** Fast membership timings for most tests; false runs the runtime's defaults. */
  fastMembership = true,
  /** `servers: 3`: three nats-servers with routes; node k lists them starting at server k. */
  options: { servers?: 1 | 3 } = {},
): Promise<Cluster> {
  const servers = options.servers === 3 ? (await startNatsCluster(3)).servers : [await startNatsServer()];
  const server = servers[0]!;
  const nodes = new Map<string, NodeProcess>();
  let started = 0;
  const order = new Map<string, number>();
  const start = (name: string, extra: string[] = []): NodeProcess => {
    if (!order.has(name)) order.set(name, started++);
    const k = order.get(name)! % servers.length;
    const urls = [...servers.slice(k), ...servers.slice(0, k)].map((s) => s.url);
    const proc = spawn(
      process.execPath,
      [
        runtime,
        tree,
        '--nats',
        urls.join(','),
        '--node',
        name,
        '--log-level',
        'warn',
        ...(fastMembership ? ['--heartbeat-ms', '100', '--down-after-ms', '500'] : []),
        ...extraArgs,
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // One log per node name, across its restarts: a red run shows what came before the kill too.
    const output: string[] = nodes.get(name)?.output ?? [];
    proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    const node = { name, proc, output };
    nodes.set(name, node);
    return node;
  };
  for (const name of names) start(name);
  const client = await ClusterClient.connect({ servers: servers.map((s) => s.url) });
  const cluster: Cluster = {
    server,
    servers,
    client,
    nodes,
    start,
    async ready(wanted, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        const replies = await client.inspect(150);
        const ok = wanted.every((n) => {
          const r = replies.find((x) => x.node === n);
          return r && wanted.every((m) => r.members.some((mm) => mm.node === m && mm.status === 'up'));
        });
        if (ok) return;
      }
      const dump = [...nodes.values()].map((n) => `--- ${n.name}\n${n.output.join('')}`).join('\n');
      throw new Error(`cluster ${wanted.join(',')} not ready in ${ms} ms\n${dump}`);
    },
    kill(name, signal = 'SIGKILL') {
      nodes.get(name)!.proc.kill(signal);
    },
    async stop() {
      await client.close().catch(() => undefined);
      await Promise.all(
        [...nodes.values()].map(
          (n) =>
            new Promise<void>((resolve) => {
              if (n.proc.exitCode !== null || n.proc.signalCode !== null) return resolve();
              n.proc.once('exit', () => resolve());
              n.proc.kill('SIGCONT');
              n.proc.kill('SIGTERM');
              setTimeout(() => n.proc.kill('SIGKILL'), 5000).unref();
            }),
        ),
      );
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
  return cluster;
}
