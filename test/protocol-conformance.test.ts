/**
 * Wire protocol v1 conformance, written from PROTOCOL.md alone: another msgpack
 * implementation (@msgpack/msgpack) over raw nats.js against a real `node
 * dist/runtime.js` on a real nats-server. No eldertree code is imported here (nor
 * test helpers that import it): this is what a client in another language does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, encode, ExtData } from '@msgpack/msgpack';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));
const tree = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));
const ROOT = 'elders.elders';
/** PROTOCOL.md section 1: an outside client publishes under the `operator` role token. */
const subjectOf = (path: string) => `${ROOT}.actor.operator${path.replaceAll('/', '.')}`;

let dir: string;
let natsProc: ChildProcess;
let node: ChildProcess;
let nc: NatsConnection;
const events: Record<string, unknown>[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until<T>(attempt: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const got = await attempt().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** PROTOCOL.md section 2: no extension types, anywhere in a value. */
function hasExtension(value: unknown): boolean {
  if (value instanceof ExtData) return true;
  if (Array.isArray(value)) return value.some(hasExtension);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) return Object.values(value).some(hasExtension);
  return false;
}

let ids = 0;
/** An envelope as PROTOCOL.md section 3 lists it; timestamp as a uint64 (what msgpack-c writes). */
function envelope(target: string, type: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    message_id: `conf-${process.pid}-${++ids}`,
    source_elder: '@conformance',
    target_elder: target,
    message_type: type,
    payload: {},
    priority: 5,
    timestamp: BigInt(Date.now()),
    requires_ack: false,
    ...extra,
  };
}
const pack = (value: unknown) => encode(value, { useBigInt64: true });
const unpack = (msg: Msg) => decode(msg.data) as Record<string, unknown>;

async function ask(path: string, type: string, payload: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const correlation = `q-${++ids}`;
  const msg = await nc.request(subjectOf(path), pack(envelope(path, type, { payload, correlation_id: correlation })), { timeout: 5000 });
  const reply = unpack(msg);
  expect(reply).toMatchObject({ message_type: 'eldertree.reply', correlation_id: correlation });
  return reply.payload as Record<string, unknown>;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eldertree-conformance-'));
  const port = await freePort();
  natsProc = spawn('/usr/sbin/nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'js')], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  nc = await until(() => connect({ servers: url }), 10_000);
  nc.subscribe(`${ROOT}.sys.events.*`, { callback: (_e, msg) => void events.push(unpack(msg)) });
  node = spawn(process.execPath, [runtime, tree, '--nats', url, '--node', 'c1', '--log-level', 'warn'], { stdio: 'ignore' });
  await until(() => ask('/app/everywhere', 'whoami'), 30_000);
}, 60_000);

afterAll(async () => {
  await nc?.close();
  if (node && node.exitCode === null) {
    node.kill('SIGTERM');
    await new Promise((r) => node.once('exit', r));
  }
  if (natsProc && natsProc.exitCode === null) {
    natsProc.kill('SIGTERM');
    await new Promise((r) => natsProc.once('exit', r));
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('wire protocol v1, from PROTOCOL.md with @msgpack/msgpack and raw nats.js', () => {
  it('tell: a plain envelope (no seq, uint64 timestamp) is processed', async () => {
    const before = (await ask('/app/singleton', 'get')).n as number;
    nc.publish(subjectOf('/app/singleton'), pack(envelope('/app/singleton', 'inc')));
    nc.publish(subjectOf('/app/singleton'), pack([envelope('/app/singleton', 'inc'), envelope('/app/singleton', 'inc')])); // a batch
    expect(await until(async () => ((await ask('/app/singleton', 'get')).n === before + 3 ? true : undefined), 5000)).toBe(true);
  });

  it('several asks in flight, each a plain NATS request; and a batch of asks answered on one reply subject', async () => {
    const replies = await Promise.all(Array.from({ length: 16 }, () => ask('/app/everywhere', 'whoami')));
    expect(replies).toEqual(Array.from({ length: 16 }, () => ({ node: 'c1' })));

    const inbox = `_INBOX.conformance.${process.pid}.batch`;
    const got: Record<string, unknown>[] = [];
    const sub = nc.subscribe(inbox, {
      callback: (_e, msg) => {
        const value = decode(msg.data);
        for (const item of Array.isArray(value) ? value : [value]) got.push(item as Record<string, unknown>);
      },
    });
    const asks = ['b1', 'b2', 'b3'].map((c) => envelope('/app/everywhere', 'whoami', { correlation_id: c }));
    nc.publish(subjectOf('/app/everywhere'), pack(asks), { reply: inbox });
    expect(await until(async () => (got.length >= 3 ? true : undefined), 5000)).toBe(true);
    expect(got.map((r) => r.correlation_id).sort()).toEqual(['b1', 'b2', 'b3']);
    for (const r of got) expect(r).toMatchObject({ message_type: 'eldertree.reply', payload: { node: 'c1' }, target_elder: `@${inbox}` });
    sub.unsubscribe();
  });

  it('acked tell: acked once processed, a resend is deduplicated and acked again; a restarted sender with a new stream is processed', async () => {
    const inbox = `_INBOX.conformance.${process.pid}.acks`;
    const acks: string[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, msg) => void acks.push(...(decode(msg.data) as string[])) });
    await nc.flush();
    const before = (await ask('/app/singleton', 'get')).n as number;
    const stream1 = `s-${process.pid}-${Date.now()}-a`;
    const first = envelope('/app/singleton', 'inc', { requires_ack: true, stream: stream1, seq: 1, ack_base: 1 });
    nc.publish(subjectOf('/app/singleton'), pack(first), { reply: inbox });
    expect(await until(async () => (acks.includes(first.message_id as string) ? true : undefined), 5000)).toBe(true);
    // The same envelope again (as if its ack were lost): not processed twice, acked again.
    nc.publish(subjectOf('/app/singleton'), pack(first), { reply: inbox });
    expect(await until(async () => (acks.filter((a) => a === first.message_id).length === 2 ? true : undefined), 5000)).toBe(true);
    expect((await ask('/app/singleton', 'get')).n).toBe(before + 1);

    // The sender restarts: a new stream, seq from 1 again (v0 took this for a duplicate).
    const stream2 = `s-${process.pid}-${Date.now()}-b`;
    const again = envelope('/app/singleton', 'inc', { requires_ack: true, stream: stream2, seq: 1 });
    nc.publish(subjectOf('/app/singleton'), pack(again), { reply: inbox });
    expect(await until(async () => (acks.includes(again.message_id as string) ? true : undefined), 5000)).toBe(true);
    expect((await ask('/app/singleton', 'get')).n).toBe(before + 2);
    sub.unsubscribe();
  });

  it('malformed frames: an error reply to the asker, a dead letter with the reason on the events subject', async () => {
    const seen = events.length;
    // Not msgpack at all.
    const garbage = unpack(await nc.request(subjectOf('/app/everywhere'), new Uint8Array([0xc1, 0xff, 0x00]), { timeout: 5000 }));
    expect(garbage).toMatchObject({ message_type: 'eldertree.error', payload: { reason: 'malformed' } });
    // An ask with a field of the wrong type.
    const bad = envelope('/app/everywhere', 'whoami', { priority: 'high', correlation_id: 'bad-1' });
    const reply = unpack(await nc.request(subjectOf('/app/everywhere'), pack(bad), { timeout: 5000 }));
    expect(reply).toMatchObject({
      message_type: 'eldertree.error',
      correlation_id: 'bad-1',
      payload: { reason: 'malformed', message: 'field priority must be an integer 0..9, got a string "high"' },
    });
    // A version this node does not speak.
    const v2 = unpack(await nc.request(subjectOf('/app/everywhere'), pack(envelope('/app/everywhere', 'whoami', { v: 2, correlation_id: 'v2' })), { timeout: 5000 }));
    expect(v2).toMatchObject({ message_type: 'eldertree.error', payload: { reason: 'malformed', message: expect.stringContaining('protocol version') } });
    const malformed = await until(async () => {
      const found = events.slice(seen).filter((e) => e.type === 'dead_letter' && e.reason === 'malformed');
      return found.length >= 3 ? found : undefined;
    }, 5000);
    expect(malformed.map((e) => e.detail)).toContain('malformed frame rejected: field priority must be an integer 0..9, got a string "high"');
    // The node still serves.
    expect(await ask('/app/everywhere', 'whoami')).toEqual({ node: 'c1' });
  });

  it('an unknown path on the actor subject: the broker answers no responders at once', async () => {
    const t0 = Date.now();
    const err = await nc.request(subjectOf('/nobody/here'), pack(envelope('/nobody/here', 'ping', { correlation_id: 'x' })), { timeout: 5000 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(String((err as Error).message ?? err)).toMatch(/no responders|503/i);
  });

  it('through a route subject: an unknown path gets an error reply and a dead letter; a known one answers as directly', async () => {
    const route = (path: string) => `${ROOT}.route.operator${path.replaceAll('/', '.')}`;
    const seen = events.length;
    const lost = unpack(await nc.request(route('/nobody/here'), pack(envelope('/nobody/here', 'ping', { correlation_id: 'r1' })), { timeout: 5000 }));
    expect(lost).toMatchObject({ message_type: 'eldertree.error', correlation_id: 'r1', payload: { reason: 'unknown_target', message: 'no node hosts /nobody/here' } });
    nc.publish(route('/nobody/there'), pack(envelope('/nobody/there', 'inc')), { reply: `_INBOX.conformance.${process.pid}.void` });
    const dead = await until(async () => {
      const found = events.slice(seen).filter((e) => e.type === 'dead_letter' && e.reason === 'unknown_target');
      return found.length >= 2 ? found : undefined;
    }, 5000);
    expect(dead.map((e) => e.detail)).toEqual(['no node hosts /nobody/here', 'no node hosts /nobody/there']);
    // A path that exists: the reply comes back through the relay, and acks too.
    const ok = unpack(await nc.request(route('/app/everywhere'), pack(envelope('/app/everywhere', 'whoami', { correlation_id: 'r2' })), { timeout: 5000 }));
    expect(ok).toMatchObject({ message_type: 'eldertree.reply', correlation_id: 'r2', payload: { node: 'c1' } });
    const inbox = `_INBOX.conformance.${process.pid}.routed-acks`;
    const acks: string[] = [];
    const sub = nc.subscribe(inbox, { callback: (_e, msg) => void acks.push(...(decode(msg.data) as string[])) });
    const acked = envelope('/app/singleton', 'inc', { requires_ack: true, stream: `s-${process.pid}-${Date.now()}-r`, seq: 1 });
    nc.publish(route('/app/singleton'), pack(acked), { reply: inbox });
    expect(await until(async () => (acks.includes(acked.message_id as string) ? true : undefined), 5000)).toBe(true);
    sub.unsubscribe();
    // Malformed frames are answered as they would be directly (section 7: "every answer").
    const garbage = unpack(await nc.request(route('/app/everywhere'), new Uint8Array([0xc1, 0xff, 0x00]), { timeout: 5000 }));
    expect(garbage).toMatchObject({ message_type: 'eldertree.error', payload: { reason: 'malformed', message: expect.stringContaining('not msgpack') } });
    const empty = unpack(await nc.request(route('/app/everywhere'), pack([]), { timeout: 5000 }));
    expect(empty).toMatchObject({ message_type: 'eldertree.error', payload: { reason: 'malformed', message: expect.stringContaining('non-empty array') } });
    const rows = unpack(await nc.request(route('/app/everywhere'), pack({ keys: ['message_id'], rows: [['a', 'b']] }), { timeout: 5000 }));
    expect(rows).toMatchObject({ message_type: 'eldertree.error', payload: { reason: 'malformed' } });
    const bad = unpack(await nc.request(route('/app/everywhere'), pack(envelope('/app/everywhere', 'whoami', { priority: 'high', correlation_id: 'r3' })), { timeout: 5000 }));
    expect(bad).toMatchObject({ message_type: 'eldertree.error', correlation_id: 'r3', payload: { reason: 'malformed', message: 'field priority must be an integer 0..9, got a string "high"' } });
    // Error ids are unique per sender (section 3), even within one millisecond.
    const ids = await Promise.all([1, 2, 3].map(() => nc.request(subjectOf('/app/everywhere'), pack([]), { timeout: 5000 }).then((m) => unpack(m).message_id)));
    expect(new Set(ids).size).toBe(3);
  });

  it('events are standard msgpack maps with the documented fields, no extension types', () => {
    expect(events.length).toBeGreaterThan(0);
    expect(events.filter(hasExtension)).toEqual([]);
    for (const e of events) {
      expect(typeof e.type).toBe('string');
      expect(typeof e.at).toBe('number');
      if (e.type === 'dead_letter') expect(e).toMatchObject({ node: 'c1', reason: expect.any(String), detail: expect.any(String) });
      else if (e.type === 'node_up' || e.type === 'node_down') expect(e).toMatchObject({ node: expect.any(String), observer: 'c1' });
      else expect(e).toMatchObject({ node: 'c1', path: expect.any(String), incarnation: expect.any(Number), kind: expect.stringMatching(/^(worker|supervisor)$/) });
    }
  });

  it('an unhandled message to a real actor: an eldertree.error reply with reason unhandled', async () => {
    const msg = await nc.request(subjectOf('/app/everywhere'), pack(envelope('/app/everywhere', 'no.such.thing', { correlation_id: 'u1' })), { timeout: 5000 });
    expect(unpack(msg)).toMatchObject({ message_type: 'eldertree.error', correlation_id: 'u1', payload: { reason: 'unhandled' } });
  });
});
