import { connect } from '@nats-io/transport-node';
import { pack, unpack } from 'msgpackr';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AskRejectedError, NatsTransport, supervisor, worker, type Node } from '../src/internals.js';
import { eventually, startNode, testMachine, type Recorder } from './helpers.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server.stop();
});

async function twoNodes(retry?: { initialMs: number; maxMs: number; giveUpMs: number }) {
  const a = await startNode(supervisor('a', {}, [worker('w', testMachine)]), {
    nodeId: 'na',
    transport: new NatsTransport({ servers: server.url, retry, maxFrameBytes: 65_536 }),
  });
  const b = await startNode(supervisor('b', {}, [worker('w', testMachine)]), {
    nodeId: 'nb',
    transport: new NatsTransport({ servers: server.url, retry, maxFrameBytes: 65_536 }),
  });
  return { a, b, stop: () => Promise.all([a.node.stop(), b.node.stop()]) };
}

/** Runs a test body with two nodes and always stops them: a leftover subscriber would share the queue group. */
async function withTwoNodes(
  body: (n: Awaited<ReturnType<typeof twoNodes>>) => Promise<void>,
  retry?: { initialMs: number; maxMs: number; giveUpMs: number },
): Promise<void> {
  const nodes = await twoNodes(retry);
  try {
    await body(nodes);
  } finally {
    await nodes.stop();
  }
}

describe('NATS transport (real nats-server)', () => {
  it('tell and ask an actor on another node by path', async () => {
    const { a, b, stop } = await twoNodes();
    try {
    for (let i = 0; i < 10; i++) a.node.tell('/b/w', 'inc');
    expect(await a.node.ask('/b/w', 'get')).toEqual({ count: 10 });
    expect(await b.node.ask('/a/w', 'ping')).toEqual({ pong: true });
    } finally {
      await stop();
    }
  });

  it('an ask to a path nobody hosts is rejected at once (no-responders), a tell is a dead letter', () =>
    withTwoNodes(async ({ a }) => {
    const t0 = performance.now();
    const err = await a.node.ask('/nobody/here', 'ping', {}, { timeout: 5000 }).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err).toBeInstanceOf(AskRejectedError);
    expect((err as Error).message).toBe('no node hosts /nobody/here');
    a.node.tell('/nobody/there', 'inc');
    expect(await eventually(() => a.rec.deadLetters().some((d) => d.detail === 'no node hosts /nobody/there'))).toBe(true);
    }));

  it('bad frames on an actor subject are dead letters with a reason; the node keeps serving', () =>
    withTwoNodes(async ({ a, b }) => {
    const nc = await connect({ servers: server.url });
    nc.publish('elders.elders.actor.operator.b.w', new Uint8Array([0x93, 0x01]));
    nc.publish('elders.elders.actor.operator.b.w', pack({ message_id: 'x', target_elder: '/b/w' }));
    nc.publish('elders.elders.actor.operator.b.w', new Uint8Array(100_000));
    await nc.flush();
    await nc.close();
    expect(await eventually(() => b.rec.deadLetters().length >= 3)).toBe(true);
    expect(b.rec.deadLetters().map((d) => [d.reason, d.detail])).toEqual([
      ['malformed', 'malformed frame rejected: on elders.elders.actor.operator.b.w: not msgpack: Unexpected end of MessagePack data'],
      ['malformed', 'malformed frame rejected: missing field source_elder'],
      ['malformed', 'malformed frame rejected: on elders.elders.actor.operator.b.w: frame of 100000 bytes exceeds the 65536 byte limit'],
    ]);
    expect(await a.node.ask('/b/w', 'ping')).toEqual({ pong: true });
    }));
});

describe('batch frames', () => {
  it('sends what one turn tells a subject as one frame, in order; asks and replies batch too', () =>
    withTwoNodes(async ({ a }) => {
      const nc = await connect({ servers: server.url });
      const frames: number[] = [];
      const sub = nc.subscribe('elders.elders.actor.*.b.w', { callback: (_, msg) => void frames.push(msg.data.byteLength) });
      await nc.flush();
      for (let i = 0; i < 200; i++) a.node.tell('/b/w', 'inc');
      const asks = Array.from({ length: 50 }, () => a.node.ask<{ count: number }>('/b/w', 'get'));
      const counts = (await Promise.all(asks)).map((r) => r.count);
      // FIFO per pair: every ask comes after the 200 tells, in one frame with them.
      expect(counts).toEqual(Array.from({ length: 50 }, () => 200));
      expect(frames).toHaveLength(1);
      sub.unsubscribe();
      await nc.close();
    }));

  it('a batch to a path nobody hosts: each tell is a dead letter with its own id, each ask fails at once', () =>
    withTwoNodes(async ({ a }) => {
      const ids = Array.from({ length: 5 }, () => a.node.tell('/nobody/home', 'inc'));
      const asks = Array.from({ length: 3 }, () => a.node.ask('/nobody/home', 'ping', {}, { timeout: 5000 }).catch((e: unknown) => e));
      const t0 = performance.now();
      const errors = await Promise.all(asks);
      expect(performance.now() - t0).toBeLessThan(1000);
      for (const err of errors) expect((err as Error).message).toBe('no node hosts /nobody/home');
      expect(await eventually(() => a.rec.deadLetters().filter((d) => d.reason === 'unknown_target').length >= 5)).toBe(true);
      const lost = a.rec.deadLetters().filter((d) => d.detail === 'no node hosts /nobody/home' && !d.envelope?.reply_to);
      expect(lost.map((d) => d.envelope?.message_id).sort()).toEqual(ids.sort());
    }));

  it('bad batches: an empty or mixed array is one dead letter; each bad envelope in a batch is its own', () =>
    withTwoNodes(async ({ a, b }) => {
      const nc = await connect({ servers: server.url });
      const good = { message_id: 'g-1', source_elder: '@x', target_elder: '/b/w', message_type: 'inc', payload: {}, priority: 5, timestamp: Date.now(), requires_ack: false, seq: 1 };
      nc.publish('elders.elders.actor.operator.b.w', pack([]));
      nc.publish('elders.elders.actor.operator.b.w', pack([good, 7]));
      nc.publish('elders.elders.actor.operator.b.w', pack([{ ...good, message_id: 'g-2', seq: 2 }, { ...good, message_id: 'g-3', priority: 'high' }, { ...good, message_id: 'g-4', target_elder: '/b/other' }]));
      await nc.flush();
      await nc.close();
      expect(await eventually(() => b.rec.deadLetters().length >= 4)).toBe(true);
      expect(b.rec.deadLetters().map((d) => d.detail)).toEqual([
        'malformed frame rejected: on elders.elders.actor.operator.b.w: a batch frame must be a non-empty array of envelopes (maps)',
        'malformed frame rejected: on elders.elders.actor.operator.b.w: a batch frame must be a non-empty array of envelopes (maps)',
        expect.stringContaining('priority'),
        'malformed frame rejected: on elders.elders.actor.operator.b.w: target_elder /b/other is not /b/w',
      ]);
      // The good envelope of the last batch was processed, once.
      expect(await a.node.ask('/b/w', 'get')).toEqual({ count: 1 });
    }));
});

/** A pino logger into an array: the audit lines a transport writes. */
function capture(): { logger: Logger; lines: { audit?: boolean; subject?: string; msg: string }[] } {
  const lines: { audit?: boolean; subject?: string; msg: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('a node inbox: only answers a frame invited', () => {
  it('a forged ack (unknown reply token, or a real token with an id that frame did not carry) drops nothing; audit lines', async () => {
    const { logger, lines } = capture();
    const a = await startNode(supervisor('a', {}, []), { nodeId: 'na', transport: new NatsTransport({ servers: server.url, logger, retry: { initialMs: 100, maxMs: 200, giveUpMs: 20_000 } }) });
    const spy = await connect({ servers: server.url });
    let c: Awaited<ReturnType<typeof startNode>> | undefined;
    try {
      // The spy stands where the actor will be and learns a real reply subject.
      const seen: { reply: string; id: string }[] = [];
      spy.subscribe('elders.elders.actor.*.c.w', { callback: (_e, msg) => {
        const value = unpack(msg.data) as { message_id: string } | { message_id: string }[];
        for (const env of Array.isArray(value) ? value : [value]) seen.push({ reply: msg.reply!, id: env.message_id });
      } });
      await spy.flush();
      const id = a.node.tell('/c/w', 'inc', {}, { requiresAck: true });
      expect(await eventually(() => seen.some((s) => s.id === id))).toBe(true);
      const other = a.node.tell('/c/w', 'inc', {}, { requiresAck: true }); // its own frame: a later turn
      expect(await eventually(() => seen.some((s) => s.id === other))).toBe(true);
      const real = seen.find((s) => s.id === other)!.reply;
      expect(real).toMatch(/^elders\.elders\.inbox\.operator\.na\.[A-Za-z0-9_-]{12}$/);
      spy.publish('elders.elders.inbox.operator.na.guessed0000', pack([id])); // never issued
      spy.publish(real, pack([id])); // a real token, but of other's frame
      await spy.flush();
      expect(await eventually(() => lines.filter((l) => l.audit).length >= 2)).toBe(true);
      expect(lines.filter((l) => l.audit).map((l) => l.msg)).toEqual([
        'reply inbox: an answer on a reply subject this node never issued (or issued over 10 min ago): ignored',
        `reply inbox: an ack of ${id}, which that frame did not carry: ignored`,
      ]);
      spy.close();
      // The actor comes up: the acked message was never dropped, and is processed once.
      c = await startNode(supervisor('c', {}, [worker('w', testMachine)]), { nodeId: 'nc', transport: new NatsTransport({ servers: server.url }) });
      expect(await eventually(() => c!.node.system.cell('/c/w')!.processed >= 2, 10_000)).toBe(true);
      expect(await a.node.ask('/c/w', 'get')).toEqual({ count: 2 });
    } finally {
      await spy.close().catch(() => undefined);
      await c?.node.stop();
      await a.node.stop();
    }
  });

  it("a forged reply to another frame's ask is ignored with an audit line; the ask gets its real reply", () =>
    withTwoNodes(async ({ a }) => {
      const { logger, lines } = capture();
      const x = await startNode(supervisor('x', {}, []), { nodeId: 'nx', transport: new NatsTransport({ servers: server.url, logger }) });
      const spy = await connect({ servers: server.url });
      try {
        const frames: { reply: string; env: Record<string, unknown> }[] = [];
        // A second subscriber on /b/w's subject sees x's frames (an open broker lets it).
        spy.subscribe('elders.elders.actor.*.b.w', { callback: (_e, msg) => void frames.push({ reply: msg.reply!, env: unpack(msg.data) }) });
        await spy.flush();
        x.node.tell('/b/w', 'inc');
        expect(await eventually(() => frames.length === 1)).toBe(true);
        const tellReply = frames[0]!.reply;
        const asked = x.node.ask('/b/w', 'get', {}, { timeout: 5000 });
        expect(await eventually(() => frames.length === 2)).toBe(true);
        const ask = frames[1]!.env;
        const forged = { message_id: 'f', source_elder: '/b/w', target_elder: '@nx', message_type: 'eldertree.reply', payload: { count: 999 }, priority: 9, timestamp: Date.now(), requires_ack: false, correlation_id: ask.correlation_id };
        spy.publish(tellReply, pack(forged)); // the tell's reply subject: it invited no reply
        spy.publish('elders.elders.inbox.operator.nx.AAAAAAAAAAAA', pack(forged));
        await spy.flush();
        expect(await asked).toEqual({ count: 1 });
        expect(await eventually(() => lines.filter((l) => l.audit).length >= 2)).toBe(true);
        expect(lines.filter((l) => l.audit).map((l) => l.msg).sort()).toEqual([
          `reply inbox: a reply to ${String(ask.correlation_id)}, which is no open ask of that frame: ignored`,
          'reply inbox: an answer on a reply subject this node never issued (or issued over 10 min ago): ignored',
        ]);
        void a;
      } finally {
        await spy.close();
        await x.node.stop();
      }
    }));

  it('a node answers only request and node inboxes: a reply subject elsewhere (an actor, the JetStream API) gets nothing', () =>
    withTwoNodes(async ({ b }) => {
      const nc = await connect({ servers: server.url });
      try {
        const got: string[] = [];
        nc.subscribe('not.an.inbox', { callback: (_e, msg) => void got.push(msg.subject) });
        nc.subscribe('elders.elders.actor.*.a.w', { callback: (_e, msg) => void got.push(msg.subject) });
        await nc.flush();
        const base = { source_elder: '@outside', target_elder: '/b/w', payload: {}, priority: 5, timestamp: Date.now() };
        nc.publish('elders.elders.actor.operator.b.w', pack({ ...base, message_id: 'r-1', message_type: 'ping', requires_ack: false, correlation_id: 'r-1' }), { reply: 'not.an.inbox' });
        nc.publish('elders.elders.actor.operator.b.w', pack({ ...base, message_id: 'r-2', message_type: 'inc', requires_ack: true, stream: 's', seq: 1 }), { reply: 'elders.elders.actor.operator.a.w' });
        nc.publish('elders.elders.actor.operator.b.w', new Uint8Array([0xc1]), { reply: 'not.an.inbox' });
        await nc.flush();
        expect(await eventually(() => b.rec.deadLetters().length >= 2)).toBe(true);
        expect(b.rec.deadLetters().map((d) => d.reason).sort()).toEqual(['malformed', 'no_reply_target']);
        expect(await b.node.ask('/b/w', 'get')).toEqual({ count: 1 }); // the acked tell was processed
        await new Promise((r) => setTimeout(r, 200));
        expect(got).toEqual([]);
      } finally {
        await nc.close();
      }
    }));

  it('asks over plain NATS request/reply: the reply comes back on the _INBOX subject, whatever reply_to claims', () =>
    withTwoNodes(async ({ b }) => {
      const nc = await connect({ servers: server.url });
      try {
        const ask = { message_id: 'q-1', source_elder: '@outside', target_elder: '/b/w', message_type: 'ping', payload: {}, priority: 5, timestamp: Date.now(), requires_ack: false, correlation_id: 'c-1', reply_to: '@nb' };
        const msg = await nc.request('elders.elders.actor.operator.b.w', pack(ask), { timeout: 5000 });
        expect(msg.subject).toMatch(/^_INBOX\./);
        expect(unpack(msg.data)).toMatchObject({ message_type: 'eldertree.reply', correlation_id: 'c-1', payload: { pong: true }, target_elder: `@${msg.subject}` });
        // Nothing went to the node named in reply_to.
        expect(b.rec.deadLetters()).toEqual([]);
      } finally {
        await nc.close();
      }
    }));
});

describe('acked messages over NATS', () => {
  async function pump(from: Node, to: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(from.tell(to, 'inc', {}, { requiresAck: true }));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    return ids;
  }

  it('are processed exactly once across a receiving-actor restart', () =>
    withTwoNodes(async ({ a, b }) => {
      await pump(a.node, '/b/w', 500);
      b.node.tell('/b/w', 'crash');
      await pump(a.node, '/b/w', 500);
      const cell = b.node.system.cell('/b/w')!;
      expect(await eventually(() => cell.processed >= 1000, 5000)).toBe(true);
      await new Promise((r) => setTimeout(r, 300)); // let any resend arrive: it must be dropped
      expect(cell.processed).toBe(1000);
      expect(cell.incarnation).toBe(2);
      expect(b.rec.deadLetters().map((d) => d.reason)).toEqual(['crashed']);
      expect(a.rec.deadLetters()).toEqual([]);
    }));

  it('survive a nats-server restart mid-stream: every acked message processed exactly once', () =>
    withTwoNodes(async ({ a, b }) => {
    const before = await pump(a.node, '/b/w', 2000);
    await server.restart();
    const after = await pump(a.node, '/b/w', 2000);
    expect(before.length + after.length).toBe(4000);
    expect(await eventually(() => b.node.system.cell('/b/w')!.processed === 4000, 20_000)).toBe(true);
    expect(await b.node.ask('/b/w', 'get', {}, { timeout: 10_000 })).toEqual({ count: 4000 });
    await new Promise((r) => setTimeout(r, 300)); // resends still in flight must be dropped as duplicates
    expect(b.node.system.cell('/b/w')!.processed).toBe(4000 + 1); // + the ask
    expect(a.rec.deadLetters()).toEqual([]);
    }, { initialMs: 50, maxMs: 500, giveUpMs: 30_000 }));
});
