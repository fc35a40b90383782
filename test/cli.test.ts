import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster-harness.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const tree = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));

function run(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster(tree, ['n1', 'n2']);
  await cluster.ready(['n1', 'n2']);
});
afterAll(async () => {
  await cluster.stop();
});

describe('eldertree CLI against a running cluster', () => {
  it('ask prints the reply as JSON; send returns the message id', () => {
    const asked = run(['ask', '--nats', cluster.server.url, '/app/pinned', 'whoami']);
    expect(asked.code).toBe(0);
    expect(JSON.parse(asked.stdout)).toEqual({ node: 'n2' });
    const sent = run(['send', '--nats', cluster.server.url, '/app/singleton', 'hit', '{"x":1}']);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toHaveProperty('message_id');
  });

  it('an entity address (kind/key) activates the entity on the node that owns its shard; status --find names that node', () => {
    const first = run(['ask', '--nats', cluster.server.url, 'tally/k-42', 'hit']);
    expect(first.code).toBe(0);
    const answer = JSON.parse(first.stdout) as { node: string; n: number };
    expect(answer.n).toBe(1);
    expect(JSON.parse(run(['ask', '--nats', cluster.server.url, 'tally/k-42', 'hit']).stdout)).toMatchObject({ node: answer.node, n: 2 });
    const found = run(['status', '--nats', cluster.server.url, '--find', 'tally/k-42', '--json']);
    expect(found.code).toBe(0);
    expect(JSON.parse(found.stdout)).toMatchObject({ entity: 'tally/k-42', region: '/app/tallies', shards: 16, node: answer.node });
    const table = run(['status', '--nats', cluster.server.url]).stdout;
    expect(table).toMatch(/ENTITIES\n\s+KIND\s+REGION\s+SHARDS\s+ACTIVE/);
    expect(table).toMatch(/tally\s+\/app\/tallies\s+16\s+[1-9]/);
    const none = run(['status', '--nats', cluster.server.url, '--find', 'boat/b1']);
    expect([none.code, none.stderr.trim()]).toEqual([1, 'eldertree: no region of entity kind boat in this cluster']);
  });

  it('send --ack waits for the acknowledgement: the message was processed', () => {
    const before = JSON.parse(run(['ask', '--nats', cluster.server.url, '/app/singleton', 'get']).stdout) as { n: number };
    const sent = run(['send', '--nats', cluster.server.url, '/app/singleton', 'inc', '--ack']);
    expect(sent.code).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ acknowledged: true });
    // Acknowledged means processed: the count is already up when send returns.
    const after = JSON.parse(run(['ask', '--nats', cluster.server.url, '/app/singleton', 'get']).stdout) as { n: number };
    expect(after.n).toBe(before.n + 1);
  });

  it('payload "-" is read from stdin', () => {
    const r = spawnSync(process.execPath, [cli, 'ask', '--nats', cluster.server.url, '/app/singleton', 'hit', '-'], {
      input: '{"from":"stdin"}',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('n');
    const bad = spawnSync(process.execPath, [cli, 'ask', '--nats', cluster.server.url, '/app/singleton', 'hit', '-'], { input: '{nope', encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('payload on stdin is not valid JSON');
  });

  it('inspect on a busy port: exit 1 with one line, nothing on stdout', async () => {
    const { createServer } = await import('node:net');
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [cli, 'inspect', '--nats', cluster.server.url, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d));
        p.stderr.on('data', (d: Buffer) => (stderr += d));
        p.on('exit', (code) => resolve({ code, stdout, stderr }));
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`eldertree: cannot serve the inspector on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
      expect(r.stdout).toBe('');
    } finally {
      busy.close();
    }
  });

  it('status --json lists the nodes and every actor with node, state, incarnation, restarts', () => {
    const { code, stdout } = run(['status', '--nats', cluster.server.url, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { nodes: { node: string; status: string }[]; actors: Record<string, unknown>[] };
    expect(report.nodes.map((n) => [n.node, n.status])).toEqual([
      ['n1', 'up'],
      ['n2', 'up'],
    ]);
    const pinned = report.actors.find((a) => a.path === '/app/pinned');
    expect(pinned).toMatchObject({ node: 'n2', status: 'running', incarnation: 1, restarts: 0, kind: 'worker' });
    // The user's tree: one entry per actor, no placement guards; copies and standbys as lists.
    expect(report.actors.map((a) => a.path)).toEqual(['/app', '/app/singleton', '/app/pool', '/app/everywhere', '/app/pinned', '/app/tallies']);
    expect(report.actors.find((a) => a.path === '/app')).toMatchObject({ node: 'n1', nodes: ['n1', 'n2'], standbys: [] });
    const singleton = report.actors.find((a) => a.path === '/app/singleton')!;
    expect(singleton.nodes).toHaveLength(1);
    expect(singleton.standbys).toEqual(['n1', 'n2'].filter((n) => n !== singleton.node));
  });

  it('status draws a table in the terminal', () => {
    const { code, stdout } = run(['status', '--nats', cluster.server.url]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^NODES\n\s+NODE\s+STATUS\s+HEARTBEAT\s+ACTORS\n\s+n1\s+up/);
    expect(stdout).toMatch(/\/app\/pinned\s+n2\s+running/);
    expect(stdout).toMatch(/\/app\/singleton\s+n\d \(standby n\d\)\s+running/);
    expect(stdout).not.toContain('_placed_');
  });

  it.each([
    [['send', '--nats', 'URL', '/nobody', 'x'], 1, 'eldertree: not delivered: unknown_target: no node hosts /nobody'],
    [['send', '--nats', 'URL', '/nobody', 'x', '--ack', '--timeout', '1500'], 1, 'eldertree: not delivered: /nobody did not acknowledge x within 1500 ms (no node hosts /nobody)'],
    [['send', '--nats', 'URL', '--cluster', 'empty', '/app/pinned', 'x', '--ack', '--timeout', '1500'], 1, '(no eldertree node answered in this cluster)'],
    [['send', '--nats', 'URL', '/app/pinned', 'x', '{"a":1}', 'extra'], 2, 'send takes PATH TYPE [JSON]; got 4 arguments'],
    [['status', '--nats', 'URL', '--cluster', 'empty'], 1, 'eldertree: no node answered in cluster empty: is any node running?'],
    [['ask', '--nats', 'URL', '/app/pinned', 'whoami', '{oops'], 2, 'payload is not valid JSON'],
    [['ask', '--nats', 'URL', 'app', 'x'], 2, 'PATH must be an actor path like /a/b-c/d or an entity address like cart/user-42; got "app"'],
    [['ask', '--nats', 'URL', '/app/pinned', 'nothing.handles.this'], 1, 'eldertree: /app/pinned in state {} does not handle nothing.handles.this'],
    [['frobnicate'], 2, 'unknown command "frobnicate"'],
    [['ask', '--nats', 'nats://127.0.0.1:1', '/a', 'b'], 1, 'cannot connect to NATS at nats://127.0.0.1:1'],
  ])('%j exits %i with a clear message', (args, code, message) => {
    const r = run(args.map((a) => (a === 'URL' ? cluster.server.url : a)));
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('eldertree without a cluster', () => {
  it('inspect on a non-loopback address without a token exits 1 with one line (before connecting)', () => {
    const r = run(['inspect', '--nats', 'nats://127.0.0.1:1', '--host', '0.0.0.0', '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('eldertree: --host 0.0.0.0: refusing to serve the inspector off loopback without --inspect-token or --inspect-token-file\n');
  });

  it('--version prints the package version', () => {
    for (const flag of ['--version', '-v']) {
      const r = run([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^eldertree \d+\.\d+\.\d+\n$/);
    }
  });

  it('certs --out with a relative path writes there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eldertree-certs-'));
    try {
      const r = spawnSync(process.execPath, [cli, 'certs', '--out', 'certs', '--roles', 'servant'], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(readdirSync(join(dir, 'certs')).sort()).toEqual(expect.arrayContaining(['ca.pem', 'server.pem', 'client-servant.pem', 'client-servant.key']));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('eldertree cluster up', () => {
  it('starts a nats-server and N nodes; Ctrl-C stops them all, exit 0', async () => {
    const proc = spawn(process.execPath, [cli, 'cluster', 'up', '--nodes', '2', '--tree', tree], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no cluster line: ${out}`)), 10_000);
      proc.stdout.on('data', () => {
        const m = /cluster up: (nats:\/\/127\.0\.0\.1:\d+) with 2 nodes/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    let status = run(['status', '--nats', url, '--json']);
    for (let i = 0; i < 50 && JSON.parse(status.stdout || '{"nodes":[]}').nodes.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = run(['status', '--nats', url, '--json']);
    }
    expect(JSON.parse(status.stdout).nodes.map((n: { node: string }) => n.node)).toEqual(['n1', 'n2']);
    proc.kill('SIGINT');
    const code = await new Promise<number | null>((r) => proc.once('exit', r));
    expect(code).toBe(0);
    expect(out).toMatch(/n1\s+\| .*node n1 stopped/);
    expect(out).toMatch(/nats\s+\| .*Server Exiting/);
    const after = run(['status', '--nats', url]); // nothing left running
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/^eldertree: (cannot connect to NATS|no node answered)/);
  });
});

describe('a node whose NATS server is gone', () => {
  it('still stops on one SIGTERM, within a few seconds', async () => {
    const { startNatsServer } = await import('./nats-server.js');
    const server = await startNatsServer();
    const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));
    const node = spawn(process.execPath, [runtime, tree, '--nats', server.url, '--node', 'lonely', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      for (let i = 0; i < 100; i++) {
        const r = run(['status', '--nats', server.url, '--json']);
        if (r.code === 0) break;
        await new Promise((r2) => setTimeout(r2, 100));
      }
      await server.stop();
      const t0 = performance.now();
      node.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => node.once('exit', r));
      expect(code).toBe(0);
      expect(performance.now() - t0).toBeLessThan(8000);
    } finally {
      node.kill('SIGKILL');
    }
  });
});
