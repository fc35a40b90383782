/**
 * Bounded mailboxes: a tell over capacity is one dead letter `overflow`, an ask is
 * rejected at once, an acked tell from another node is left unacknowledged (its
 * sender's resends are the backpressure) and ends up processed, in order, once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AskRejectedError, entities, kind, NatsTransport, reply, supervisor, validateTree, worker } from '../src/internals.js';
import { DEFAULT_MAILBOX_CAPACITY } from '../src/actors/cell.js';
import { eventually, seenOf, slow, startNode, testMachine } from './helpers.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const Slow = kind('slow', slow);

describe('bounded mailboxes (one node)', () => {
  it('a plain tell over capacity is exactly one dead letter overflow; the rest is processed', async () => {
    const { node, rec } = await startNode(supervisor('s', {}, [worker('w', slow, { capacity: 10 })]));
    try {
      // All in one turn: nothing is processed before the last tell.
      for (let i = 0; i < 25; i++) node.tell('/s/w', 'work', { i });
      const overflow = rec.deadLetters().filter((d) => d.reason === 'overflow');
      expect(overflow.map((d) => (d.envelope!.payload as { i: number }).i)).toEqual(Array.from({ length: 15 }, (_, k) => k + 10));
      expect(await eventually(() => seenOf(node, '/s/w').length === 10)).toBe(true);
      expect(seenOf(node, '/s/w')).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(rec.deadLetters()).toHaveLength(15);
    } finally {
      await node.stop();
    }
  });

  it('an ask over capacity is rejected at once with overflow; capacity: Infinity has no bound', async () => {
    const { node } = await startNode(
      supervisor('s', {}, [worker('w', testMachine, { capacity: 3 }), worker('u', testMachine, { capacity: Infinity })]),
    );
    try {
      for (let i = 0; i < 3; i++) node.tell('/s/w', 'inc');
      const started = performance.now();
      const err = await node.ask('/s/w', 'get', undefined, { timeout: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AskRejectedError);
      expect((err as AskRejectedError).reason).toBe('overflow');
      expect(performance.now() - started).toBeLessThan(5000); // at once, not at the timeout
      for (let i = 0; i < DEFAULT_MAILBOX_CAPACITY + 10; i++) node.tell('/s/u', 'inc');
      expect(await node.ask('/s/u', 'get', undefined, { timeout: 30_000 })).toEqual({ count: DEFAULT_MAILBOX_CAPACITY + 10 });
      expect(node.getChildspec('/s', 'w')).toMatchObject({ capacity: 3 });
    } finally {
      await node.stop();
    }
  });

  it('the default capacity is 100_000 per actor', async () => {
    const { node, rec } = await startNode(supervisor('s', {}, [worker('w', testMachine)]));
    try {
      for (let i = 0; i < DEFAULT_MAILBOX_CAPACITY + 5; i++) node.tell('/s/w', 'inc');
      expect(DEFAULT_MAILBOX_CAPACITY).toBe(100_000);
      expect(rec.deadLetters().map((d) => d.reason)).toEqual(['overflow', 'overflow', 'overflow', 'overflow', 'overflow']);
      expect(node.getChildspec('/s', 'w')).toMatchObject({ capacity: 100_000 });
    } finally {
      await node.stop();
    }
  });

  it('an acked tell over capacity with nobody to resend it (same node) is a dead letter overflow', async () => {
    const { node, rec } = await startNode(supervisor('s', {}, [worker('w', slow, { capacity: 2 })]));
    try {
      for (let i = 0; i < 4; i++) node.tell('/s/w', 'work', { i }, { requiresAck: true });
      expect(rec.deadLetters().map((d) => [d.reason, (d.envelope!.payload as { i: number }).i])).toEqual([
        ['overflow', 2],
        ['overflow', 3],
      ]);
    } finally {
      await node.stop();
    }
  });

  it('mail waiting for an entity activation counts against its capacity', async () => {
    const { node, rec } = await startNode(supervisor('app', {}, [entities('slows', Slow, { capacity: 4 })]));
    try {
      for (let i = 0; i < 10; i++) node.tell('slow/k1', 'work', { i });
      expect(rec.deadLetters().filter((d) => d.reason === 'overflow')).toHaveLength(6);
      expect(await eventually(() => seenOf(node, '/app/slows/k1').length === 4)).toBe(true);
      expect(seenOf(node, '/app/slows/k1')).toEqual([0, 1, 2, 3]);
    } finally {
      await node.stop();
    }
  });

  it('capacity is checked like every spec key', () => {
    const tree = (capacity: unknown) => supervisor('s', {}, [{ ...worker('w', testMachine), capacity } as never]);
    for (const bad of [0, -1, 1.5, 'many', null, Number.NaN]) {
      const problems = validateTree(tree(bad));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^\/s\/w: capacity must be an integer >= 1 or Infinity, got /);
    }
    expect(validateTree(tree(Infinity))).toEqual([]);
    expect(validateTree(tree(1))).toEqual([]);
    expect(validateTree(supervisor('s', {}, [{ ...worker('w', testMachine), capacty: 5 } as never]))[0]).toMatch(/capacty/);
  });
});

describe('bounded mailboxes across NATS (real nats-server)', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('an acked tell over capacity is not acked: resent until it fits, then processed once, in order', async () => {
    const retry = { initialMs: 20, maxMs: 200, giveUpMs: 60_000 };
    const a = await startNode(supervisor('a', {}, [worker('w', testMachine)]), {
      nodeId: 'oa',
      transport: new NatsTransport({ servers: server.url, retry }),
    });
    const b = await startNode(supervisor('b', {}, [worker('slow', slow, { capacity: 10, input: { costMs: 1 } })]), {
      nodeId: 'ob',
      transport: new NatsTransport({ servers: server.url, retry }),
    });
    try {
      const N = 150;
      for (let i = 0; i < N; i++) a.node.tell('/b/slow', 'work', { i }, { requiresAck: true });
      expect(await eventually(() => seenOf(b.node, '/b/slow').length >= N, 60_000)).toBe(true);
      expect(seenOf(b.node, '/b/slow')).toEqual(Array.from({ length: N }, (_, i) => i));
      // The receiver turned frames away (backpressure), and nothing became a dead letter.
      expect(b.node.system.counters.refused).toBeGreaterThan(0);
      expect(a.rec.deadLetters()).toEqual([]);
      expect(b.rec.deadLetters()).toEqual([]);
      const transport = (a.node.system as unknown as { transport: NatsTransport }).transport;
      expect(await eventually(() => !transport.unacknowledged('x') && (transport as unknown as { outbox: { size: number } }).outbox.size === 0, 10_000)).toBe(true);
    } finally {
      await Promise.all([a.node.stop(), b.node.stop()]);
    }
  }, 90_000);

  it('an ask over capacity on another node is rejected at once with overflow', async () => {
    const a = await startNode(supervisor('a', {}, [worker('w', testMachine)]), { nodeId: 'pa', transport: new NatsTransport({ servers: server.url }) });
    const b = await startNode(supervisor('b', {}, [worker('slow', slow, { capacity: 1, input: { costMs: 200 } })]), {
      nodeId: 'pb',
      transport: new NatsTransport({ servers: server.url }),
    });
    try {
      // One turn, one frame: the first fits, the next two find the mailbox full.
      const asks = [0, 1, 2].map(() => a.node.ask('/b/slow', 'get', undefined, { timeout: 20_000 }).catch((e: unknown) => e));
      const results = await Promise.all(asks);
      expect(results[0]).toEqual({ n: 0 });
      for (const r of results.slice(1)) {
        expect(r).toBeInstanceOf(AskRejectedError);
        expect((r as AskRejectedError).reason).toBe('overflow');
      }
      expect(b.rec.deadLetters().map((d) => d.reason)).toEqual(['overflow', 'overflow']);
    } finally {
      await Promise.all([a.node.stop(), b.node.stop()]);
    }
  }, 60_000);
});
