import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, Node } from '../src/index.js';
import { InspectorTokens, LocalSource, startInspector, type ActorDetail, type FullState, type Inspector, type LiveUpdate, type TreeSnapshot } from '../src/inspector/index.js';
import { eventually, sleep } from './helpers.js';
import { inspectorTree, openStream, parsePrometheus } from './inspector-fixtures.js';

let node: Node;
let inspector: Inspector;
const OPERATOR_TOKEN = 'op-0123456789abcdef';
const VIEWER_TOKEN = 'view-0123456789abcdef';
const tokens = InspectorTokens.parse(`# token role name\n${OPERATOR_TOKEN} operator alice\n${VIEWER_TOKEN} viewer bob\n`);
const logLines: Record<string, unknown>[] = [];

beforeAll(async () => {
  node = await Node.start({ tree: inspectorTree(), nodeId: 'n1', telemetry: { metrics: true } });
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  inspector = await startInspector({ source: new LocalSource(node), port: 0, logger, pushMs: 100, idleMs: 200, tokens, metrics: [node.telemetry!.metrics!.registry] });
});

afterAll(async () => {
  await inspector.close();
  await node.stop();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

function call(method: string, path: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${inspector.url}${path}`, { method, headers: options.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: <T>() => JSON.parse(text) as T }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const operator = { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR_TOKEN}` };
const post = (action: string, body: unknown, headers: Record<string, string> = operator) =>
  call('POST', `/api/actions/${action}`, { body: typeof body === 'string' ? body : JSON.stringify(body), headers });
const lastTree = (updates: LiveUpdate[]) => updates.filter((u) => u.tree).pop()?.tree;
const actor = (tree: TreeSnapshot, path: string) => tree.actors.find((a) => a.path === path)!;

describe('inspector API on a local node', () => {
  it('binds to 127.0.0.1 by default', () => {
    expect(inspector.host).toBe('127.0.0.1');
    expect(inspector.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('/api/tree is a JSON snapshot of the supervision tree with intensity, mailbox and status', async () => {
    const r = await call('GET', '/api/tree');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    const tree = r.json<TreeSnapshot>();
    expect(tree.source).toEqual({ kind: 'node', label: 'node n1' });
    expect(tree.nodes).toEqual([{ node: 'n1', status: 'up', heartbeatAgeMs: 0, actors: 7 }]);
    expect(tree.actors.map((a) => [a.path, a.depth, a.kind])).toEqual([
      ['/elders', 0, 'supervisor'],
      ['/elders/light', 1, 'worker'],
      ['/elders/sage', 1, 'worker'],
      ['/elders/servants', 1, 'supervisor'],
      ['/elders/servants/servant-1', 2, 'worker'],
      ['/elders/servants/servant-2', 2, 'worker'],
      ['/elders/servants/servant-3', 2, 'worker'],
    ]);
    const servant = actor(tree, '/elders/servants/servant-1');
    expect(servant).toMatchObject({ node: 'n1', parent: '/elders/servants', status: 'running', state: 'idle', incarnation: 1, restarts: 0, mailbox: 0 });
    expect(servant.supervisor).toMatchObject({ path: '/elders/servants', intensity: 10, period: 10_000, restartsInPeriod: 0 });
    expect(actor(tree, '/elders').own).toMatchObject({ strategy: 'one_for_one', intensity: 20 });
  });

  it('the stream opens with the full state, then pushes coalesced updates; tracing runs only while someone watches', async () => {
    expect(node.system.trace).toBeUndefined();
    const stream = openStream(`${inspector.url}/api/stream`);
    try {
      const init = JSON.parse((await stream.next('init')).data) as FullState;
      expect(init.tree.source.kind).toBe('node');
      expect(await eventually(() => node.system.trace !== undefined)).toBe(true);
      node.tell('/elders/light', 'next');
      node.tell('/elders/servants/servant-1', 'crash');
      const seen: LiveUpdate[] = [];
      const ok = await eventually(() => {
        seen.push(...stream.events.splice(0).filter((e) => e.event === 'update').map((e) => JSON.parse(e.data) as LiveUpdate));
        const tree = lastTree(seen);
        return (
          !!tree &&
          actor(tree, '/elders/light').state === 'yellow' &&
          actor(tree, '/elders/servants/servant-1').restarts === 1 &&
          seen.some((u) => u.messages?.some((m) => m.type === 'next' && m.to === '/elders/light'))
        );
      }, 5000);
      expect(ok).toBe(true);
      const feed = seen.flatMap((u) => u.feed ?? []);
      expect(feed.map((e) => `${e.type} ${e.path ?? e.envelope?.to}`)).toEqual(
        expect.arrayContaining(['crashed /elders/servants/servant-1', 'restarted /elders/servants/servant-1', 'dead_letter /elders/servants/servant-1']),
      );
      expect(feed.find((e) => e.type === 'dead_letter')).toMatchObject({ reason: 'crashed', envelope: { type: 'crash' } });
      expect(seen.flatMap((u) => u.incidents ?? []).map((i) => i.title)).toContain('/elders/servants/servant-1 crashed');
      const tree = lastTree(seen)!;
      expect(actor(tree, '/elders/servants/servant-1').supervisor!.restartsInPeriod).toBe(1);
      // One restart of the 10 allowed is routine: no alert until half the intensity is used.
      expect(tree.alerts.map((a) => a.key)).not.toContain('intensity:n1/elders/servants');
      // Pushes are coalesced: at most one per push interval, not one per message.
      const burst = stream.events.length;
      for (let i = 0; i < 2000; i++) node.tell('/elders/light', 'get');
      await sleep(350);
      expect(stream.events.length - burst).toBeLessThanOrEqual(5);
    } finally {
      stream.close();
    }
    expect(await eventually(() => node.system.trace === undefined)).toBe(true);
  });

  it('/api/actor gives the statechart from machine.toJSON(), the active configuration, the events it can take now and its history', async () => {
    const stream = openStream(`${inspector.url}/api/stream`);
    try {
      await stream.next('init');
      await eventually(() => node.system.trace !== undefined);
      node.tell('/elders/light', 'next'); // yellow -> red.walk
      node.tell('/elders/light', 'countdown'); // red.blink
      await node.settled();
      const r = await call('GET', '/api/actor?node=n1&path=/elders/light');
      expect(r.status).toBe(200);
      const d = r.json<ActorDetail>();
      expect(d.available).toBe(true);
      expect(d.machineId).toBe('light');
      expect(d.chart!.children.map((c) => c.key)).toEqual(['green', 'yellow', 'red']);
      const red = d.chart!.children[2]!;
      expect(red).toMatchObject({ type: 'compound', initial: 'walk' });
      expect(red.children.map((c) => c.path)).toEqual(['red.walk', 'red.blink']);
      expect(d.chart!.children[0]!.transitions).toEqual([{ event: 'next', targets: ['yellow'], guard: 'calm', actions: [] }]);
      expect(d.snapshot!.value).toEqual({ red: 'blink' });
      expect(d.snapshot!.active).toEqual(['', 'red', 'red.blink']);
      expect(d.events).toEqual(['countdown', 'crash', 'emergency', 'get', 'next']);
      expect(d.canTake).toEqual(expect.arrayContaining(['countdown', 'next', 'emergency']));
      const steps = d.history.filter((h) => h.event).map((h) => [h.event!.type, h.snapshot.value]);
      expect(steps.slice(-2)).toEqual([
        ['next', { red: 'walk' }],
        ['countdown', { red: 'blink' }],
      ]);
      // Without a node the path is enough when only one node hosts it.
      expect((await call('GET', '/api/actor?path=/elders/light')).status).toBe(200);
    } finally {
      stream.close();
    }
  });

  it('keeps each actor history bounded', async () => {
    const stream = openStream(`${inspector.url}/api/stream`);
    try {
      await stream.next('init');
      await eventually(() => node.system.trace !== undefined);
      for (let i = 0; i < 300; i++) node.tell('/elders/light', 'get');
      await node.settled();
      const d = (await call('GET', '/api/actor?node=n1&path=/elders/light')).json<ActorDetail>();
      expect(d.history.length).toBeLessThanOrEqual(51);
    } finally {
      stream.close();
    }
  });

  it('/metrics is Prometheus text: messages, restarts, mailbox depth, dead letters, node up', async () => {
    // /metrics reads a tree snapshot up to 1 s old: wait for the one with the 300 messages
    // processed and none left waiting (on a busy machine a snapshot can catch the tail queued).
    const settled = (text: string) =>
      /eldertree_messages_processed_total\{node="n1",supervisor="\/elders"\} (\d{3,})/.test(text) &&
      /eldertree_mailbox_depth\{[^}]*supervisor="\/elders"[^}]*\} 0\b/.test(text);
    let r = await call('GET', '/metrics');
    for (let i = 0; i < 50 && !settled(r.text); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = await call('GET', '/metrics');
    }
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types, samples } = parsePrometheus(r.text);
    expect(types.get('eldertree_messages_processed_total')).toBe('counter');
    expect(types.get('eldertree_restarts_total')).toBe('counter');
    expect(types.get('eldertree_mailbox_depth')).toBe('gauge');
    expect(types.get('eldertree_dead_letters_total')).toBe('counter');
    expect(types.get('eldertree_node_up')).toBe('gauge');
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    // Labels are bounded: a node and a supervisor path, never an actor's own path.
    expect(samples.every((s) => s.labels.path === undefined)).toBe(true);
    expect(value('eldertree_messages_processed_total', { node: 'n1', supervisor: '/elders' })).toBeGreaterThanOrEqual(300);
    expect(value('eldertree_restarts_total', { supervisor: '/elders/servants' })).toBe(1);
    expect(value('eldertree_mailbox_depth', { supervisor: '/elders' })).toBe(0);
    expect(value('eldertree_dead_letters_total', { node: 'n1', reason: 'crashed' })).toBe(1);
    expect(value('eldertree_node_up', { node: 'n1' })).toBe(1);
    expect(value('eldertree_supervisor_intensity', { supervisor: '/elders/servants' })).toBe(10);
  });

  it('/metrics has latency histograms whose buckets, sums and counts move with traffic, and the node counters', async () => {
    const scrape = async () => parsePrometheus((await call('GET', '/metrics')).text);
    const sample = (s: Awaited<ReturnType<typeof scrape>>, name: string, labels: Record<string, string>) =>
      s.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value ?? 0;
    const before = await scrape();
    for (const name of ['eldertree_message_processing_seconds', 'eldertree_mailbox_wait_seconds', 'eldertree_ask_duration_seconds']) {
      expect(before.types.get(name)).toBe('histogram');
    }
    for (const name of ['eldertree_node_messages_sent_total', 'eldertree_node_messages_processed_total', 'eldertree_node_dead_letters_total', 'eldertree_ask_timeouts_total', 'eldertree_node_restarts_total', 'eldertree_acked_resends_total']) {
      expect(before.types.get(name)).toBe('counter');
    }
    expect(before.types.get('eldertree_live_actors')).toBe('gauge');
    expect(before.types.get('eldertree_node_mailbox_depth')).toBe('gauge');
    const light = { node: 'n1', supervisor: '/elders' };
    for (let i = 0; i < 40; i++) node.tell('/elders/light', 'get');
    expect(await node.ask('/elders/light', 'get')).toHaveProperty('cycles');
    // The sage takes task.submit without answering: the ask times out.
    await expect(node.ask('/elders/sage', 'task.submit', { servant: '/elders/nobody', task: 't' }, { timeout: 50 })).rejects.toThrow('50 ms');
    await node.settled();
    const after = await scrape();
    const count = (s: typeof before, name: string) => sample(s, `${name}_count`, light);
    expect(count(after, 'eldertree_message_processing_seconds') - count(before, 'eldertree_message_processing_seconds')).toBeGreaterThanOrEqual(41);
    expect(count(after, 'eldertree_mailbox_wait_seconds') - count(before, 'eldertree_mailbox_wait_seconds')).toBeGreaterThanOrEqual(41);
    expect(sample(after, 'eldertree_message_processing_seconds_sum', light)).toBeGreaterThan(sample(before, 'eldertree_message_processing_seconds_sum', light));
    // Buckets are cumulative and end at +Inf = _count.
    const buckets = after.samples.filter((s) => s.name === 'eldertree_message_processing_seconds_bucket' && s.labels.supervisor === '/elders');
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b));
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf' }, value: count(after, 'eldertree_message_processing_seconds') });
    const asks = after.samples.filter((s) => s.name === 'eldertree_ask_duration_seconds_count').reduce((n, s) => n + s.value, 0);
    expect(asks).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'eldertree_ask_timeouts_total', { node: 'n1' }) - sample(before, 'eldertree_ask_timeouts_total', { node: 'n1' })).toBe(1);
    expect(sample(after, 'eldertree_node_messages_sent_total', { node: 'n1' }) - sample(before, 'eldertree_node_messages_sent_total', { node: 'n1' })).toBeGreaterThanOrEqual(42);
    expect(sample(after, 'eldertree_live_actors', light)).toBeGreaterThanOrEqual(2);
    // No label names a message, an entity key or one actor's path.
    expect(after.samples.some((s) => 'path' in s.labels || 'message_id' in s.labels || 'key' in s.labels)).toBe(false);
  });

  it('/healthz and /readyz answer; unknown routes and methods are JSON errors', async () => {
    expect((await call('GET', '/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready' });
    const missing = await call('GET', '/api/nothing');
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'no such endpoint: /api/nothing' });
    expect((await call('DELETE', '/api/tree')).status).toBe(405);
    expect((await call('GET', '/api/actor')).json()).toMatchObject({ error: 'missing_parameter' });
    expect((await call('GET', '/api/actor?path=/elders/nobody')).status).toBe(404);
    expect((await call('GET', '/app/../../package.json')).status).toBe(404);
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<script type="module" src="/app/main.js">');
    expect((await call('GET', '/app/main.js')).headers['content-type']).toMatch(/text\/javascript/);
  });

  it('refuses a Host header that is not loopback (DNS rebinding) and actions from another origin', async () => {
    const evil = await call('GET', '/api/tree', { headers: { host: 'evil.example:80' } });
    expect(evil.status).toBe(403);
    expect(evil.json()).toMatchObject({ error: 'bad_host' });
    const cross = await post('send', { path: '/elders/light', type: 'get' }, { ...operator, origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.json()).toMatchObject({ error: 'cross_origin' });
  });
});

describe('debug actions', () => {
  it('send: an operator sends an event and the state changes; the action is logged', async () => {
    const before = (await call('GET', '/api/actor?node=n1&path=/elders/servants/servant-2')).json<ActorDetail>();
    expect(before.snapshot!.value).toBe('idle');
    const r = await post('send', { node: 'n1', path: '/elders/servants/servant-2', type: 'task.execute', payload: { task: 'sweep' } });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ ok: true, action: 'send', path: '/elders/servants/servant-2', type: 'task.execute' });
    await node.settled();
    const after = (await call('GET', '/api/actor?node=n1&path=/elders/servants/servant-2')).json<ActorDetail>();
    expect(after.snapshot).toMatchObject({ value: 'working', context: { task: 'sweep' } });
    expect(after.canTake).toEqual(['crash', 'task.done']);
    expect(logLines.find((l) => l.inspector === 'action' && l.action === 'send' && l.outcome === 'done')).toMatchObject({
      who: 'alice',
      role: 'operator',
      path: '/elders/servants/servant-2',
      type: 'task.execute',
      audit: true,
    });
  });

  const bodies: Record<string, unknown> = {
    send: { path: '/elders/light', type: 'next' },
    restart: { path: '/elders/servants/servant-1' },
    stop: { path: '/elders/servants/servant-1' },
  };
  const json = { 'content-type': 'application/json' };
  describe.each(['send', 'restart', 'stop'])('%s checks who is asking', (action) => {
    it('no token: 401 with a Bearer challenge, logged', async () => {
      const r = await post(action, bodies[action], json);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="eldertree inspector"');
      expect(r.json()).toEqual({ error: 'unauthorized', message: `${action} needs the inspector token (send Authorization: Bearer TOKEN)` });
      expect(logLines.some((l) => l.action === action && l.outcome === 'unauthenticated' && l.level === 40)).toBe(true);
    });

    it('a role the caller asserts is not a token: X-Eldertree-Role and ?role= are ignored (401)', async () => {
      const r = await call('POST', `/api/actions/${action}?role=operator`, { body: JSON.stringify(bodies[action]), headers: { ...json, 'x-eldertree-role': 'operator' } });
      expect(r.status).toBe(401);
    });

    it('a wrong token: 403 bad_token, logged', async () => {
      const r = await post(action, bodies[action], { ...json, authorization: 'Bearer not-a-token-we-know-of' });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'bad_token' });
      expect(logLines.some((l) => l.action === action && l.outcome === 'bad_token')).toBe(true);
    });

    it("a known token whose role may not: 403 forbidden, the audit line names who", async () => {
      const r = await post(action, bodies[action], { ...json, authorization: `Bearer ${VIEWER_TOKEN}` });
      expect(r.status).toBe(403);
      expect(r.json<{ error: string; message: string }>()).toMatchObject({ error: 'forbidden' });
      expect(r.json<{ message: string }>().message).toContain(`role "viewer" may not ${action}`);
      expect(logLines.some((l) => l.action === action && l.outcome === 'forbidden' && l.who === 'bob' && l.role === 'viewer')).toBe(true);
    });

    it('the right token: the action is done and the audit line names who', async () => {
      const r = await post(action, bodies[action], operator);
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ ok: true, action });
      expect(logLines.some((l) => l.action === action && l.outcome === 'done' && l.who === 'alice' && l.role === 'operator')).toBe(true);
      if (action === 'stop') expect((await post('restart', bodies.restart, operator)).status).toBe(200); // back up for the rest
    });
  });

  it.each([
    ['malformed JSON', '{"path": "/elders/light", ', operator, 400, 'bad_json'],
    ['a JSON array', '[1]', operator, 400, 'bad_json'],
    ['no type', { path: '/elders/light' }, operator, 400, 'missing_field'],
    ['a payload that is not an object', { path: '/elders/light', type: 'next', payload: [1] }, operator, 400, 'bad_field'],
    ['an unknown actor', { node: 'n1', path: '/elders/nobody', type: 'next' }, operator, 404, 'unknown_actor'],
    ['an unknown actor without node', { path: '/elders/nobody', type: 'next' }, operator, 404, 'unknown_actor'],
    ['an unknown node', { node: 'n9', path: '/elders/light', type: 'next' }, operator, 404, 'unknown_node'],
    ['an unknown event type', { path: '/elders/light', type: 'fly' }, operator, 422, 'unknown_event'],
    ['a reserved event type', { path: '/elders/light', type: 'xstate.init' }, operator, 422, 'reserved_event'],
    ['a form post', 'path=/elders/light', { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${OPERATOR_TOKEN}` }, 415, 'unsupported_media_type'],
  ])('send with %s is a clear 4xx', async (_what, body, headers, status, error) => {
    const r = await post('send', body, headers);
    expect(r.status).toBe(status);
    const json = r.json<{ error: string; message: string }>();
    expect(json.error).toBe(error);
    expect(json.message.length).toBeGreaterThan(10);
  });

  it('an unknown event type names what the machine takes', async () => {
    const r = await post('send', { path: '/elders/light', type: 'fly' });
    expect(r.json<{ message: string }>().message).toBe('the machine at /elders/light takes no event "fly"; it takes: countdown, crash, emergency, get, next');
  });

  it('restart: a running child gets a new incarnation; stop: it stays down; the root cannot be restarted', async () => {
    const restarted = await post('restart', { path: '/elders/servants/servant-3' });
    expect(restarted.status).toBe(200);
    expect(restarted.json()).toMatchObject({ ok: true, action: 'restart', incarnation: 2 });
    const stopped = await post('stop', { path: '/elders/servants/servant-3' });
    expect(stopped.status).toBe(200);
    const tree = (await call('GET', '/api/tree')).json<TreeSnapshot>();
    expect(actor(tree, '/elders/servants/servant-3')).toMatchObject({ status: 'down', rawStatus: 'stopped' });
    const again = await post('restart', { path: '/elders/servants/servant-3' });
    expect(again.json()).toMatchObject({ incarnation: 3 });
    const root = await post('restart', { path: '/elders' });
    expect(root.status).toBe(409);
    expect(root.json()).toMatchObject({ error: 'root' });
    expect(
      logLines.filter((l) => l.inspector === 'action' && l.action === 'restart' && (l.path === '/elders' || l.path === '/elders/servants/servant-3')).map((l) => l.outcome),
    ).toEqual(['done', 'done', 'failed']);
  });
});

describe('authorize option and tokens', () => {
  it("maps the token's role to actions: here a viewer may send but not stop", async () => {
    const n = await Node.start({ tree: inspectorTree(), nodeId: 'n2' });
    const insp = await startInspector({
      source: new LocalSource(n),
      port: 0,
      tokens: InspectorTokens.single(VIEWER_TOKEN, 'viewer'),
      authorize: (role, action) => (role === 'viewer' && action === 'send') || `${role} may only send`,
    });
    try {
      const go = (action: string, body: unknown) =>
        fetch(`${insp.url}/api/actions/${action}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${VIEWER_TOKEN}` },
          body: JSON.stringify(body),
        });
      expect((await go('send', { path: '/elders/light', type: 'next' })).status).toBe(200);
      const stop = await go('stop', { path: '/elders/light' });
      expect(stop.status).toBe(403);
      expect(await stop.json()).toEqual({ error: 'forbidden', message: 'viewer may only send' });
    } finally {
      await insp.close();
      await n.stop();
    }
  });

  it('without tokens actions are off (403 actions_disabled); looking still works', async () => {
    const n = await Node.start({ tree: inspectorTree(), nodeId: 'n3' });
    const insp = await startInspector({ source: new LocalSource(n), port: 0 });
    try {
      const r = await fetch(`${insp.url}/api/actions/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-eldertree-role': 'operator' },
        body: JSON.stringify({ path: '/elders/light', type: 'next' }),
      });
      expect(r.status).toBe(403);
      expect(await r.json()).toMatchObject({ error: 'actions_disabled' });
      expect((await fetch(`${insp.url}/api/tree`)).status).toBe(200);
    } finally {
      await insp.close();
      await n.stop();
    }
  });

  it('refuses to bind a non-loopback address without tokens', async () => {
    const n = await Node.start({ tree: inspectorTree(), nodeId: 'n4' });
    try {
      await expect(startInspector({ source: new LocalSource(n), port: 0, host: '0.0.0.0' })).rejects.toThrow(
        'refusing to serve the inspector on 0.0.0.0 without a token: give --inspect-token or --inspect-token-file (or bind 127.0.0.1)',
      );
    } finally {
      await n.stop();
    }
  });

  it('token files: TOKEN ROLE [NAME] a line; short, duplicate and malformed lines are clear errors', () => {
    const t = InspectorTokens.parse(`\n# comment\n${OPERATOR_TOKEN} operator\n${VIEWER_TOKEN} viewer bob\n`);
    expect(t.holder(OPERATOR_TOKEN)).toEqual({ who: 'operator', role: 'operator' });
    expect(t.holder(VIEWER_TOKEN)).toEqual({ who: 'bob', role: 'viewer' });
    expect(t.holder('op-0123456789abcdeX')).toBeUndefined();
    expect(() => InspectorTokens.parse('short operator')).toThrow('token file line 1: a token must be at least 16 characters');
    expect(() => InspectorTokens.parse(`${OPERATOR_TOKEN}`)).toThrow('token file line 1: expected "TOKEN ROLE [NAME]"');
    expect(() => InspectorTokens.parse(`${OPERATOR_TOKEN} a\n${OPERATOR_TOKEN} b`)).toThrow('token file line 2: the same token is given twice');
    expect(() => InspectorTokens.parse('# nothing\n')).toThrow('token file has no tokens');
  });
});
