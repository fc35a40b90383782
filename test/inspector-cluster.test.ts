// The inspector over NATS: `eldertree inspect --nats URL` (standalone, no actors) and an
// inspector embedded in a node that joined the cluster both show every node.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterNode } from '../src/index.js';
import { startRuntimeInspector, type ActorDetail, type FullState, type LiveUpdate, type RuntimeInspector, type TreeSnapshot } from '../src/inspector/index.js';
import { eventually } from './helpers.js';
import { inspectorTree, openStream, parsePrometheus } from './inspector-fixtures.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

let server: NatsServer;
const nodes = new Map<string, { cluster: ClusterNode; agent: RuntimeInspector }>();
let standalone: ChildProcess;
let url: string;

async function startNode(name: string): Promise<void> {
  const cluster = await ClusterNode.start({
    tree: inspectorTree(),
    nodeId: name,
    nats: { servers: server.url },
    membership: { intervalMs: 100, downAfterMs: 500 },
  });
  // What runtime.ts does after the node starts (no port: the agent only).
  const agent = await startRuntimeInspector({ node: cluster.node, cluster });
  nodes.set(name, { cluster, agent });
}

async function stopNode(name: string): Promise<void> {
  const n = nodes.get(name)!;
  nodes.delete(name);
  await n.agent.close();
  await n.cluster.stop();
}

const TOKEN = 'cluster-token-0123456789';

const getJson = async <T>(path: string, base = url): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as T };
};

beforeAll(async () => {
  server = await startNatsServer();
  await startNode('n1');
  await startNode('n2');
  standalone = spawn(process.execPath, [cli, 'inspect', '--nats', server.url, '--port', '0', '--inspect-token', TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no inspector line: ${out}`)), 10_000);
    standalone.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /inspector for cluster elders on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
});

afterAll(async () => {
  if (standalone && standalone.exitCode === null) {
    const exited = new Promise((r) => standalone.once('exit', r));
    standalone.kill('SIGTERM');
    await exited;
  }
  for (const name of [...nodes.keys()]) await stopNode(name);
  await server?.stop();
});

describe('eldertree inspect --nats URL', () => {
  it('serves the tree of every node, with heartbeat ages, without hosting actors', async () => {
    let tree: TreeSnapshot | undefined;
    for (let i = 0; i < 40; i++) {
      tree = (await getJson<TreeSnapshot>('/api/tree')).body;
      if (tree.nodes.filter((n) => n.status === 'up').length === 2 && tree.actors.length === 7) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(tree!.source.kind).toBe('cluster');
    expect(tree!.nodes.map((n) => [n.node, n.status, n.actors])).toEqual([
      ['n1', 'up', 7],
      ['n2', 'up', 7],
    ]);
    for (const n of tree!.nodes) expect(n.heartbeatAgeMs).toBeLessThan(2000);
    // One tree across nodes: each path once, on the first node running it, with the others as copies.
    expect(tree!.actors.slice(0, 2).map((a) => `${a.path}@${a.node}`)).toEqual(['/elders@n1', '/elders/light@n1']);
    expect(tree!.actors[1]!.nodes).toEqual(['n1', 'n2']);
    expect(tree!.actors).toHaveLength(7);
    expect((await getJson('/readyz')).status).toBe(200);
  });

  it("reads another node's statechart and history, and sends it an event, through its agent", async () => {
    const d = (await getJson<ActorDetail>('/api/actor?node=n2&path=/elders/light')).body;
    expect(d).toMatchObject({ node: 'n2', available: true, machineId: 'light' });
    expect(d.snapshot!.active).toEqual(['', 'green']);
    const send = await fetch(`${url}/api/actions/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ node: 'n2', path: '/elders/light', type: 'next' }),
    });
    expect(send.status).toBe(200);
    let after: ActorDetail | undefined;
    for (let i = 0; i < 20 && after?.snapshot?.value !== 'yellow'; i++) {
      after = (await getJson<ActorDetail>('/api/actor?node=n2&path=/elders/light')).body;
    }
    expect(after!.snapshot!.value).toBe('yellow');
    // The agent validates the event type for its machine.
    const bad = await fetch(`${url}/api/actions/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ node: 'n2', path: '/elders/light', type: 'fly' }),
    });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: string }).error).toBe('unknown_event');
    // An ambiguous path (it runs on both nodes) must name its node.
    const ambiguous = await getJson<{ error: string }>('/api/actor?path=/elders/light');
    expect(ambiguous).toEqual({ status: 400, body: expect.objectContaining({ error: 'ambiguous_actor' }) });
  });

  it('streams messages traced on other nodes and their lifecycle events; restarts a child on another node', async () => {
    const stream = openStream(`${url}/api/stream`);
    try {
      JSON.parse((await stream.next('init')).data) as FullState;
      const updates: LiveUpdate[] = [];
      const n1 = nodes.get('n1')!.cluster.node;
      // Agents trace once the inspector pulls: keep telling until a traced message arrives.
      const traced = await eventually(() => {
        n1.tell('/elders/servants/servant-1', 'crash');
        updates.push(...stream.events.splice(0).filter((e) => e.event === 'update').map((e) => JSON.parse(e.data) as LiveUpdate));
        return updates.some((u) => u.messages?.some((m) => m.type === 'crash' && m.deadLetter === 'crashed'));
      }, 8000);
      expect(traced).toBe(true);
      const feed = updates.flatMap((u) => u.feed ?? []);
      expect(feed.some((e) => e.type === 'crashed' && e.path === '/elders/servants/servant-1')).toBe(true);
      const restart = await fetch(`${url}/api/actions/restart`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ node: 'n2', path: '/elders/servants/servant-3' }),
      });
      expect(restart.status).toBe(200);
      expect(await restart.json()).toMatchObject({ incarnation: 2 });
    } finally {
      stream.close();
    }
    const metrics = parsePrometheus(await (await fetch(`${url}/metrics`)).text());
    expect(metrics.samples.filter((s) => s.name === 'eldertree_node_up').map((s) => [s.labels.node, s.value])).toEqual([
      ['n1', 1],
      ['n2', 1],
    ]);
  });

  it('eldertree status draws the supervision tree across nodes', async () => {
    // Not spawnSync: the nodes live in this process and must keep answering.
    const r = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [cli, 'status', '--nats', server.url], { timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const lines = r.stdout.split('\n');
    const at = (prefix: RegExp) => lines.filter((l) => prefix.test(l));
    // One row per actor: the first node running it, the other copies in brackets.
    expect(at(/^\s+\/elders\s+n1 \(\+n2\)\s+running/)).toHaveLength(1);
    expect(at(/^\s+├── \/elders\/light\s+n1 \(\+n2\)\s+running/)).toHaveLength(1);
    expect(at(/^ {2}└── \/elders\/servants\s+n1 \(\+n2\)/)).toHaveLength(1);
    expect(at(/^ {6}├── \/elders\/servants\/servant-1\s+n1 \(\+n2\)\s+running\s+"idle"/)).toHaveLength(1);
    expect(at(/^ {6}└── \/elders\/servants\/servant-3\s+n1 \(\+n2\)/)).toHaveLength(1);
    expect(lines.filter((l) => l.includes('/elders/servants/servant-3'))).toHaveLength(1);
  });

  it('an inspector embedded in a node of the cluster shows every node; a node that stops is down', async () => {
    const n1 = nodes.get('n1')!;
    const embedded = await startRuntimeInspector({ node: n1.cluster.node, cluster: n1.cluster, port: 0 });
    try {
      let tree: TreeSnapshot | undefined;
      for (let i = 0; i < 40; i++) {
        tree = (await getJson<TreeSnapshot>('/api/tree', embedded.url)).body;
        if (tree.nodes.length === 2) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(tree!.source.label).toBe('cluster elders (from node n1)');
      expect(tree!.nodes.map((n) => n.node)).toEqual(['n1', 'n2']);
      await stopNode('n2');
      let down = false;
      for (let i = 0; i < 40 && !down; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const t = (await getJson<TreeSnapshot>('/api/tree', embedded.url)).body;
        down = t.nodes.some((n) => n.node === 'n2' && n.status === 'down') && t.alerts.some((a) => a.key === 'node:n2');
      }
      expect(down).toBe(true);
      const state = (await getJson<FullState>('/api/state', embedded.url)).body;
      expect(state.incidents.some((i) => i.title === 'node n2 down')).toBe(true);
    } finally {
      await embedded.close();
    }
  });
});
