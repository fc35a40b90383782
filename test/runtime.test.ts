import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { elderTree, isElderTree } from '../src/internals.js';
import { loadTreeFile } from '../src/machines/tree-file.js';

// These run the built runtime (npm test builds first): the real `node dist/runtime.js`.
const root = fileURLToPath(new URL('..', import.meta.url));
const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Record<string, unknown>[];
}

function start(args: string[], until?: (stdout: string) => boolean, signal?: NodeJS.Signals): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [runtime, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`runtime did not finish: ${stdout}\n${stderr}`));
    }, 15_000);
    // Checked on output and every 50 ms: a condition can also wait on files the node writes.
    const check = () => {
      if (!signalled && until?.(stdout) && signal) {
        signalled = true;
        child.kill(signal);
      }
    };
    const poll = setInterval(check, 50);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      check();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ code, stdout, stderr, lines });
    });
  });
}

describe('node dist/runtime.js', () => {
  it('--help lists every flag', async () => {
    const run = await start(['--help']);
    expect(run.code).toBe(0);
    for (const flag of ['--tree', '--node', '--log-level', '--ask-timeout', '--no-demo', '--no-demo-crashes', '--servants', '--data-dir', '--help', '--version']) {
      expect(run.stdout).toContain(flag);
    }
  });

  it.each([
    [['--frobnicate'], "Unknown option '--frobnicate'"],
    [['--log-level', 'loud'], '--log-level must be one of fatal, error, warn, info, debug, trace, silent; got "loud"'],
    [['--node', 'a.b'], '--node must be letters, digits, _ and -'],
    [['--ask-timeout=0'], '--ask-timeout must be a whole number of ms > 0; got "0"'],
    [['--ask-timeout', 'soon'], '--ask-timeout must be a whole number of ms > 0; got "soon"'],
    [['--servants', '0'], '--servants must be a whole number from 1 to 64; got "0"'],
    [['a.json', 'b.json'], 'expected at most one tree file, got: a.json b.json'],
    [['tree.yaml'], 'a tree file must be .json, .js or .mjs, not ".yaml"'],
    [['missing.json'], 'missing.json: cannot read: ENOENT'],
  ])('bad flags %j: exit 2 naming the problem, no stack trace', async (args, message) => {
    const run = await start(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it.each([
    [['--inspect', '0', '--inspect-host', '0.0.0.0'], 'eldertree: --inspect-host 0.0.0.0: refusing to serve the inspector off loopback without --inspect-token or --inspect-token-file\n'],
    [['--inspect', '0', '--inspect-token', 'short'], 'eldertree: --inspect-token: a token must be at least 16 characters\n'],
    [['--inspect', '0', '--inspect-token-file', 'no-such-tokens'], 'eldertree: cannot read the token file no-such-tokens: ENOENT\n'],
  ])('inspector tokens %j: exit 2 with one line', async (args, line) => {
    const run = await start(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(line);
  });

  it('--version prints the package version, exit 0', async () => {
    const run = await start(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^eldertree \d+\.\d+\.\d+\n$/);
  });

  it('a tree file with a syntax error: exit 2 naming file:line:col', async () => {
    const run = await start([fixture('syntax-error-tree.mjs')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${fixture('syntax-error-tree.mjs')}:4:10: SyntaxError: Unexpected identifier 'worker'`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('a JSON tree file with a syntax error: exit 2 naming file:line:col', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eldertree-json-'));
    try {
      const file = join(dir, 'tree.json');
      writeFileSync(file, '{"id": "app",\n "children": [ {"id": "a" "machine": "counter"} ]}');
      const run = await start([file]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`${file}:2:27: not valid JSON`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad tree file: exit 2 naming every problem with its path', async () => {
    const run = await start([fixture('bad-tree.json')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('/app: strategy must be one_for_one, one_for_all, rest_for_one or simple_one_for_one, got "sideways"');
    expect(run.stderr).toContain('/app/x: shutdown must be an integer of ms >= 0, "brutal_kill" or "infinity", got -5');
  });

  it('runs a tree and stops it on SIGTERM: children in reverse start order, exit 0', async () => {
    const run = await start(
      [fixture('ordered-tree.json'), '--node', 'n1'],
      (out) => out.includes('running on the embedded transport'),
      'SIGTERM',
    );
    expect(run.code).toBe(0);
    const by = (type: string) => run.lines.filter((l) => l.type === type).map((l) => l.path);
    expect(by('started')).toEqual(['/app', '/app/first', '/app/group', '/app/group/second', '/app/third']);
    expect(by('stopped')).toEqual(['/app/third', '/app/group/second', '/app/group', '/app/first', '/app']);
    expect(run.lines.every((l) => l.node === 'n1')).toBe(true);
    expect(run.lines.at(-1)).toMatchObject({ msg: 'node n1 stopped' });
  });

  it('without a tree file it runs the Elder Tree, with its demo load, and stops on SIGINT with exit 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eldertree-data-'));
    try {
      // Stopped once the sages have saved: a stop that comes first is not what this checks.
      const sages = ['knowledge-sage', 'task-sage'].map((sage) => `${encodeURIComponent(`/grand-elder/claude-elder/${sage}`)}.snapshot`);
      const run = await start(['--data-dir', dataDir], (out) => out.includes('running on the embedded transport') && sages.every((f) => existsSync(join(dataDir, f))), 'SIGINT');
      expect(run.code).toBe(0);
      const started = run.lines.filter((l) => l.type === 'started').map((l) => l.path);
      for (const path of ['/grand-elder', '/grand-elder/commander', '/grand-elder/claude-elder/task-sage', '/grand-elder/elder-council', '/grand-elder/servants/servant-4', '/grand-elder/demo']) {
        expect(started).toContain(path);
      }
      // The persistent sages that processed a message saved their snapshots in the data directory.
      const saved = readdirSync(dataDir);
      for (const file of sages) expect(saved).toContain(file);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('--no-demo runs the Elder Tree without its demo load; --servants sets how many servants', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'eldertree-data-'));
    try {
      const run = await start(['--no-demo', '--servants', '2', '--data-dir', dataDir], (out) => out.includes('running on the embedded transport'), 'SIGTERM');
      expect(run.code).toBe(0);
      const started = run.lines.filter((l) => l.type === 'started').map((l) => l.path);
      expect(started).not.toContain('/grand-elder/demo');
      expect(started.filter((p) => String(p).startsWith('/grand-elder/servants/servant-'))).toEqual(['/grand-elder/servants/servant-1', '/grand-elder/servants/servant-2']);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a tree file exporting elderTree(...) runs as the Elder Tree: its roles and services too', async () => {
    // The marker elderTree() puts on its spec survives loading the file.
    expect(isElderTree(elderTree())).toBe(true);
    expect(isElderTree(await loadTreeFile(fixture('chaos-elder-tree.mjs')))).toBe(true);
    expect(isElderTree(await loadTreeFile(fixture('cluster-tree.mjs')))).toBe(false);
    const dataDir = mkdtempSync(join(tmpdir(), 'eldertree-data-'));
    try {
      // The task sage saves once a servant's first pull reaches it; stopped after that.
      const taskSage = `${encodeURIComponent('/grand-elder/claude-elder/task-sage')}.snapshot`;
      const run = await start([fixture('chaos-elder-tree.mjs'), '--data-dir', dataDir], (out) => out.includes('running on the embedded transport') && existsSync(join(dataDir, taskSage)), 'SIGTERM');
      expect(run.code).toBe(0);
      const started = run.lines.filter((l) => l.type === 'started').map((l) => l.path);
      expect(started.filter((p) => String(p).startsWith('/grand-elder/servants/servant-'))).toEqual(['/grand-elder/servants/servant-1', '/grand-elder/servants/servant-2']);
      // The Elder Tree's services: its sages' snapshots go to the data directory.
      expect(readdirSync(dataDir)).toContain(taskSage);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a failing root exits non-zero with a clear fatal line', async () => {
    const run = await start([fixture('escalating-tree.mjs')]);
    expect(run.code).toBe(1);
    const fatal = run.lines.filter((l) => l.level === 60).map((l) => l.msg);
    expect(fatal).toContain('node ' + String(run.lines[0]!.node) + ' exits: root supervisor /fragile failed: reached_max_restart_intensity');
    expect(run.lines.filter((l) => l.type === 'crashed')).toHaveLength(3);
    expect(run.lines.find((l) => l.type === 'escalated')).toMatchObject({
      path: '/fragile',
      reason: 'reached max restart intensity: more than 2 restarts in 10000 ms',
    });
  });

  it("the package imports as 'eldertree' (the user's API), 'eldertree/internals' and 'eldertree/elder-tree'", async () => {
    const mod = await import('eldertree');
    for (const name of ['Node', 'supervisor', 'worker', 'kind', 'Ref', 'reply', 'tell', 'ask', 'runtimeOf', 'ClusterClient', 'ClusterNode', 'validateTree', 'AskTimeoutError']) {
      expect(mod).toHaveProperty(name);
    }
    // Plumbing is not the user's API.
    for (const name of ['ActorCell', 'Mailbox', 'ActorSystem', 'Supervisor', 'RestartIntensity', 'LeaseStore', 'LeaseKeeper', 'NatsTransport', 'placeTree', 'elderTree']) {
      expect(mod).not.toHaveProperty(name);
    }
    const internals = await import('eldertree/internals');
    for (const name of ['ActorCell', 'Mailbox', 'RestartIntensity', 'LeaseStore', 'NatsTransport', 'Node']) expect(internals).toHaveProperty(name);
    const elder = await import('eldertree/elder-tree');
    for (const name of ['elderTree', 'startElderTree', 'isElderTree', 'roleOf']) expect(elder).toHaveProperty(name);
  });
});

describe('node dist/runtime.js --inspect', () => {
  it('serves the inspector on 127.0.0.1 while the node runs; a busy port is one clear line', async () => {
    const { freePort } = await import('./nats-server.js');
    const port = await freePort();
    const child = spawn(process.execPath, [runtime, '--inspect', String(port), '--no-demo', '--log-level', 'warn', '--data-dir', fixture('.inspect-data')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let health: Response | undefined;
      for (let i = 0; i < 100 && !health?.ok; i++) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (!health?.ok) await new Promise((r) => setTimeout(r, 100));
      }
      expect(health?.status).toBe(200);
      const tree = (await (await fetch(`http://127.0.0.1:${port}/api/tree`)).json()) as Record<string, unknown>;
      expect(JSON.stringify(tree)).toContain('/grand-elder/claude-elder/knowledge-sage');
      // Serving the page, the node times its messages: the histograms are there, and the
      // Elder Tree's own start-up traffic (its sages load) has already been processed.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/^# TYPE eldertree_message_processing_seconds histogram$/m);
      expect(metrics).toMatch(/^# TYPE eldertree_node_up gauge$/m);
      // Actions need a token; none was given, so they are off.
      const act = await fetch(`http://127.0.0.1:${port}/api/actions/stop`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-eldertree-role': 'operator' },
        body: JSON.stringify({ path: '/grand-elder/demo' }),
      });
      expect(act.status).toBe(403);
      expect(((await act.json()) as { error: string }).error).toBe('actions_disabled');

      const busy = await start(['--inspect', String(port), '--no-demo', '--log-level', 'warn', '--data-dir', fixture('.inspect-data2')]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`eldertree: --inspect ${port}: the port is in use`);
    } finally {
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      expect(code).toBe(0);
      rmSync(fixture('.inspect-data'), { recursive: true, force: true });
      rmSync(fixture('.inspect-data2'), { recursive: true, force: true });
    }
  });
});
