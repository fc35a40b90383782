import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { pack, unpack } from 'msgpackr';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient, type WireEvent } from '../src/index.js';
import { generateNatsConf, passwordVar } from '../src/security/nats-conf.js';
import { allRoleTokens } from '../src/security/roles.js';
import { freePort, startNatsServer, type NatsServer } from './nats-server.js';

const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const committed = fileURLToPath(new URL('../nats.conf', import.meta.url));

let dir: string;
let server: NatsServer;
let node: ReturnType<typeof spawn>;
let operator: ClusterClient;
const events: WireEvent[] = [];
/** The operator client's log lines: where its transport writes audit lines. */
const operatorLog: { audit?: boolean; subject?: string; msg: string }[] = [];
const pass = (token: string) => `pw-${token}`;

beforeAll(async () => {
  // The generated config, minus the mTLS block (test/tls.test.ts covers that part).
  for (const token of allRoleTokens()) process.env[passwordVar(token)] = pass(token);
  dir = mkdtempSync(join(tmpdir(), 'eldertree-roles-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, generateNatsConf({ tls: false, listen: `127.0.0.1:${port}`, storeDir: join(dir, 'js') }));
  server = await startNatsServer({ port, configFile: conf });
  // An elder node with the grand elder's credentials: it may speak for every role.
  node = spawn(
    process.execPath,
    [runtime, '--nats', server.url, '--node', 'elders1', '--no-demo', '--log-level', 'warn', '--nats-user', 'grand_elder', '--nats-pass', pass('grand_elder')],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  operator = await ClusterClient.connect({
    servers: server.url,
    nodeId: 'op1',
    connectOptions: { user: 'operator', pass: pass('operator') },
    logger: pino({ level: 'warn' }, { write: (line: string) => void operatorLog.push(JSON.parse(line)) }),
  });
  operator.events((e) => events.push(e));
  for (let i = 0; i < 150; i++) {
    const ok = await operator.ask('/grand-elder', 'elder.status', {}, { timeout: 300 }).then(() => true, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the elder node did not come up');
}, 60_000);

afterAll(async () => {
  await operator?.close();
  node?.kill('SIGTERM');
  if (node) await new Promise((r) => node.once('exit', r));
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const forged = (type: string) => ({
  message_id: `forged-${Math.random().toString(36).slice(2)}-1`,
  source_elder: '/grand-elder/commander', // claims to be the grand elder
  target_elder: '/grand-elder/commander',
  message_type: type,
  payload: { reason: 'forged' },
  priority: 9,
  timestamp: Date.now(),
  requires_ack: false,
  seq: 1,
});

describe('roles enforced by the broker (generated nats.conf)', () => {
  it('the committed nats.conf is exactly what eldertree nats-conf generates', () => {
    const r = spawnSync(process.execPath, [cli, 'nats-conf'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(readFileSync(committed, 'utf8')).toBe(r.stdout);
    expect(r.stdout).toBe(generateNatsConf());
  });

  it("servant credentials publishing on a grand elder subject: the broker refuses it, the target never sees it", async () => {
    const nc = await connect({ servers: server.url, user: 'servant', pass: pass('servant') });
    const violations: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') violations.push(String((s as { error?: Error }).error?.message ?? s));
    })();
    const seen = events.length;
    nc.publish('elders.elders.actor.grand_elder.grand-elder.commander', pack(forged('elder.emergency_stop')));
    await nc.flush().catch(() => undefined);
    // The broker's refusal comes back asynchronously: wait for it, not for a fixed time.
    for (let end = Date.now() + 10_000; violations.length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 50));
    expect(violations.join(' ')).toMatch(/permissions violation/i);
    await new Promise((r) => setTimeout(r, 300)); // time for the forged message to arrive, if it could
    expect(events.slice(seen).filter((e) => e.type === 'dead_letter')).toEqual([]); // never arrived
    expect(await operator.ask('/grand-elder', 'elder.status')).toMatchObject({ ok: true });
    expect(JSON.stringify(await operator.ask('/grand-elder', 'elder.status'))).not.toMatch(/emergency|stopped/i);
    await nc.close();
  });

  it('a forged source_elder does not grant the forged role: the broker-checked token decides', async () => {
    const nc = await connect({ servers: server.url, user: 'servant', pass: pass('servant') });
    const seen = events.length;
    nc.publish('elders.elders.actor.servant.grand-elder.commander', pack(forged('elder.emergency_stop')));
    await nc.flush();
    let refusal: WireEvent | undefined;
    for (let i = 0; i < 50 && !refusal; i++) {
      refusal = events.slice(seen).find((e) => e.type === 'dead_letter');
      if (!refusal) await new Promise((r) => setTimeout(r, 50));
    }
    expect(refusal).toMatchObject({
      reason: 'forbidden',
      detail: 'role servant (verified by the broker; the envelope says /grand-elder/commander) may not send elder.emergency_stop',
    });
    await nc.close();
  });

  it('servant credentials cannot read grand-elder traffic: every subscription outside its own role is refused', async () => {
    const nc = await connect({ servers: server.url, user: 'servant', pass: pass('servant') });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? s));
    })();
    const got: string[] = [];
    const forbidden = [
      'elders.elders.actor.*.grand-elder.commander', // the grand elder's mailbox
      'elders.elders.actor.>', // every actor's mail
      'elders.elders.inbox.operator.*.*', // replies and acks to operator nodes
      'elders.elders.inbox.grand_elder.*.*', // ... and to grand elder nodes
      '_INBOX.>', // replies to plain NATS requests of operators and foreign clients
      '_INBOX_grand_elder.>',
    ];
    for (const subject of forbidden) nc.subscribe(subject, { callback: (err, msg) => void (!err && got.push(msg.subject)) });
    // Its own mail and inbox are allowed (no violation for these).
    nc.subscribe('elders.elders.actor.*.grand-elder.servants.>', { callback: () => undefined });
    nc.subscribe('elders.elders.inbox.servant.*.*', { callback: () => undefined });
    await nc.flush();
    expect(await operator.ask('/grand-elder', 'elder.status')).toMatchObject({ ok: true }); // traffic to read, if it could
    await new Promise((r) => setTimeout(r, 300));
    for (const subject of forbidden) expect(errors.join('\n')).toContain(`Permissions Violation for Subscription to "${subject}"`);
    expect(errors.join('\n')).not.toMatch(/servants|inbox\.servant/);
    expect(got).toEqual([]);
    await nc.close();
  });

  it('servant credentials cannot make a forged ack drop an acked message: the broker refuses it, the message is processed', async () => {
    const nc = await connect({ servers: server.url, user: 'servant', pass: pass('servant') });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? s));
    })();
    const title = `acked-${Date.now()}`;
    const id = operator.tell('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.add', { title, content: 'kept' }, { requiresAck: true });
    // The ack the servant would forge: the id on the operator node's reply inbox.
    nc.publish('elders.elders.inbox.operator.op1.AAAAAAAAAAAA', pack([id]));
    await nc.flush().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(errors.join('\n')).toContain('Permissions Violation for Publish to "elders.elders.inbox.operator.op1.AAAAAAAAAAAA"');
    const listed = await operator.ask('/grand-elder/claude-elder/knowledge-sage', 'sage.knowledge.list', {});
    expect(JSON.stringify(listed)).toContain(title);
    await nc.close();
  });

  it("servant credentials cannot forge a reply to someone else's ask: the broker refuses the direct one, the node ignores the relayed one (audit)", async () => {
    const nc = await connect({ servers: server.url, user: 'servant', pass: pass('servant') });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? s));
    })();
    const asked = operator.ask('/grand-elder', 'elder.status', {}, { timeout: 5000 });
    const forgedReply = { message_id: 'fr', source_elder: '/grand-elder', target_elder: '@op1', message_type: 'eldertree.reply', payload: { ok: false, forged: true }, priority: 9, timestamp: Date.now(), requires_ack: false, correlation_id: 'any' };
    // 1. Straight into the operator's inbox: the broker refuses it.
    nc.publish('elders.elders.inbox.operator.op1.BBBBBBBBBBBB', pack(forgedReply));
    // 2. Through a node: an ask the servant may send, with the operator's inbox as its reply
    //    subject. The node answers there (a response it is allowed), but no frame of the
    //    operator's has that token: ignored, with an audit line.
    const audits = operatorLog.length;
    nc.publish('elders.elders.actor.servant.grand-elder.commander', pack({ ...forged('elder.status'), correlation_id: 'c1' }), { reply: 'elders.elders.inbox.operator.op1.CCCCCCCCCCCC' });
    await nc.flush().catch(() => undefined);
    const real = await asked;
    expect(real).toMatchObject({ ok: true });
    expect(real).not.toHaveProperty('forged');
    for (let i = 0; i < 50 && operatorLog.length === audits; i++) await new Promise((r) => setTimeout(r, 50));
    expect(errors.join('\n')).toContain('Permissions Violation for Publish to "elders.elders.inbox.operator.op1.BBBBBBBBBBBB"');
    expect(operatorLog.slice(audits)).toContainEqual(
      expect.objectContaining({
        audit: true,
        subject: 'elders.elders.inbox.operator.op1.CCCCCCCCCCCC',
        msg: 'reply inbox: an answer on a reply subject this node never issued (or issued over 10 min ago): ignored',
      }),
    );
    await nc.close();
  });

  it('a foreign client with operator credentials asks with plain NATS request/reply', async () => {
    const nc = await connect({ servers: server.url, user: 'operator', pass: pass('operator') });
    const ask = { ...forged('elder.status'), source_elder: '@foreign', target_elder: '/grand-elder', correlation_id: 'f1' };
    const msg = await nc.request('elders.elders.actor.operator.grand-elder', pack(ask), { timeout: 5000 });
    expect(unpack(msg.data)).toMatchObject({ message_type: 'eldertree.reply', correlation_id: 'f1', payload: { ok: true } });
    await nc.close();
  });

  it('the operator role works end to end through the CLI with its credentials', () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'ask', '--nats', server.url, '--nats-user', 'operator', '--nats-pass', pass('operator'), '/grand-elder/claude-elder', 'development.task.submit', '{"title":"t","description":"d","priority":5}'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, id: expect.any(String) });
  });

  it('inspection still works under the conf: nodes answer `status` as responses (allow_responses)', () => {
    const r = spawnSync(process.execPath, [cli, 'status', '--nats', server.url, '--nats-user', 'operator', '--nats-pass', pass('operator')], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('elders1');
    expect(r.stdout).toContain('/grand-elder/claude-elder');
  });

  it('a client with the grand elder\'s credentials inspects the cluster through its own request inboxes', async () => {
    const elder = await ClusterClient.connect({ servers: server.url, nodeId: 'inspector2', connectOptions: { user: 'grand_elder', pass: pass('grand_elder') } });
    try {
      const view = await elder.inspect(3000);
      expect(view.map((r) => r.node)).toContain('elders1');
    } finally {
      await elder.close();
    }
  });

  it('wrong credentials: one clear line, non-zero exit, no stack trace', () => {
    const r = spawnSync(process.execPath, [runtime, '--nats', server.url, '--node', 'x', '--nats-user', 'servant', '--nats-pass', 'wrong'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^eldertree: cannot join the cluster at nats:\/\/127\.0\.0\.1:\d+: .*(authorization|auth)/i);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
