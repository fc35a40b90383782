// `eldertree status` at scale: 10 nodes x 10k actors (100,020 with their supervisors)
// and 100k actors on one node. In-process ClusterNodes on one real nats-server (ten
// node processes of 10k actors each are too heavy for a shared test machine); the
// CLI runs as a process, as a user runs it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setup } from 'xstate';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClusterNode, supervisor, worker } from '../src/index.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const idle = setup({}).createMachine({});
const tree = (n: number) => supervisor('app', {}, [supervisor('bulk', { intensity: 1 }, Array.from({ length: n }, (_, i) => worker(`a${i}`, idle)))]);

let server: NatsServer;
const nodes: ClusterNode[] = [];
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  for (const n of nodes.splice(0)) await n.stop().catch(() => undefined);
  await server?.stop();
});

function status(): Promise<{ code: number; report: { nodes: { node: string; actors: number }[]; actors: { nodes: string[] }[]; missing?: string[] }; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'status', '--json', '--nats', server.url, '--timeout', '60000'], { maxBuffer: 512 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, report: JSON.parse(stdout || '{}'), stderr }),
    );
  });
}

async function start(names: string[], actors: number): Promise<void> {
  for (const nodeId of names) {
    nodes.push(await ClusterNode.start({ tree: tree(actors), nodeId, nats: { servers: server.url }, membership: { intervalMs: 200, downAfterMs: 5000 } }));
  }
  // Every node hears every other before status is asked.
  const deadline = Date.now() + 30_000;
  while (!nodes.every((n) => n.membership.up().length === nodes.length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

it('status lists all 100,020 actors of 10 nodes x 10k', { timeout: 300_000 }, async () => {
  const t0 = performance.now();
  await start(Array.from({ length: 10 }, (_, i) => `big${i + 1}`), 10_000);
  const started = performance.now() - t0;
  const t1 = performance.now();
  const { code, report, stderr } = await status();
  console.log(`10 x 10k: nodes started in ${(started / 1000).toFixed(1)} s; status in ${((performance.now() - t1) / 1000).toFixed(1)} s, ${report.actors?.length} actors`);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  expect(report.nodes.map((n) => n.actors)).toEqual(Array(10).fill(10_002));
  // The user's tree: each of the 10,002 actors once, with the 10 nodes running a copy: 100,020 in all.
  expect(report.actors).toHaveLength(10_002);
  expect(report.actors.reduce((sum, a) => sum + a.nodes.length, 0)).toBe(100_020);
  for (const n of nodes.splice(0)) await n.stop();
});

it('status lists 100k actors on one node (an answer of ~10 MB, in chunks under max_payload)', { timeout: 300_000 }, async () => {
  await start(['huge'], 100_000);
  const t1 = performance.now();
  const { code, report } = await status();
  console.log(`1 x 100k: status in ${((performance.now() - t1) / 1000).toFixed(1)} s, ${report.actors?.length} actors`);
  expect(code).toBe(0);
  expect(report.actors).toHaveLength(100_002);
});
