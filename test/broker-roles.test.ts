import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { pack } from 'msgpackr';
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
  operator = await ClusterClient.connect({ servers: server.url, connectOptions: { user: 'operator', pass: pass('operator') } });
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

  it('the operator role works end to end through the CLI with its credentials', () => {
    const r = spawnSync(
      process.execPath,
      [cli, 'ask', '--nats', server.url, '--nats-user', 'operator', '--nats-pass', pass('operator'), '/grand-elder/claude-elder', 'development.task.submit', '{"title":"t","description":"d","priority":5}'],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, id: expect.any(String) });
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
