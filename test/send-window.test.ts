/**
 * The sender's window for acked tells across a real nats-server: a sender flooding a
 * slow receiver (a small mailbox that refuses what does not fit) keeps at most `window`
 * unacknowledged on the wire and `maxWaiting` behind it, refuses the rest at once as
 * one dead letter `overflow` each, and everything else is processed once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AskRejectedError, ClusterClient, NatsTransport, supervisor, worker, type DeadLetterEvent } from '../src/internals.js';
import { eventually, seenOf, sleep, slow, startNode, testMachine } from './helpers.js';
import { parsePrometheus } from './inspector-fixtures.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** A ClusterClient's transport (private: its outbox counts are what the test checks). */
const transportOf = (client: ClusterClient) => (client as unknown as { transport: NatsTransport }).transport;

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server.stop();
});

describe('the send window for acked tells (real nats-server)', () => {
  it('a flood at a slow receiver: never over the window or the bound; each tell processed once, in order, or one dead letter overflow', async () => {
    const window = 64;
    const maxWaiting = 300;
    // Give-up far off: every tell is either taken or refused at once, nothing times out.
    const sender = new NatsTransport({ servers: server.url, retry: { initialMs: 20, maxMs: 200, giveUpMs: 120_000, window, maxWaiting } });
    const a = await startNode(supervisor('a', {}, [worker('w', testMachine)]), { nodeId: 'wa', transport: sender });
    const b = await startNode(supervisor('b', {}, [worker('slow', slow, { capacity: 50, input: { costMs: 2 } })]), {
      nodeId: 'wb',
      transport: new NatsTransport({ servers: server.url }),
    });
    try {
      const N = 3000;
      const ids = new Map<string, number>();
      // 100 tells a turn, a turn every 5 ms: the flood outruns the receiver (~500/s) from the start.
      for (let i = 0; i < N; i++) {
        ids.set(a.node.tell('/b/slow', 'work', { i }, { requiresAck: true }), i);
        expect(sender.outboxCounts.inFlight).toBeLessThanOrEqual(window);
        expect(sender.outboxCounts.waiting).toBeLessThanOrEqual(maxWaiting);
        if (i % 100 === 99) await sleep(5);
      }
      const refusedAtOnce = a.rec.deadLetters().length;
      expect(refusedAtOnce).toBeGreaterThan(0);
      expect(await eventually(() => sender.outboxCounts.inFlight + sender.outboxCounts.waiting === 0, 60_000)).toBe(true);

      const dead = a.rec.deadLetters() as DeadLetterEvent[];
      expect(new Set(dead.map((d) => d.reason))).toEqual(new Set(['overflow']));
      const deadIs = dead.map((d) => ids.get(d.envelope!.message_id)!);
      expect(new Set(deadIs).size).toBe(dead.length); // one dead letter each
      const seen = seenOf(b.node, '/b/slow');
      // Processed once each, in order; processed + dead letters = sent, with no overlap.
      expect(seen).toEqual([...seen].sort((x, y) => x - y));
      expect(new Set(seen).size).toBe(seen.length);
      if (process.env.WINDOW_DEBUG) console.log(JSON.stringify({ processed: seen.length, dead: dead.length, refused: b.node.system.counters.refused, resends: sender.resends }));
      expect(seen.length + dead.length).toBe(N);
      expect(new Set([...seen, ...deadIs]).size).toBe(N);
      // The window and the bound were both reached, and never passed (per stream, high-water marks).
      expect(sender.outboxCounts).toMatchObject({ peakInFlight: window, peakWaiting: maxWaiting });
      // The receiver turned frames away (its mailbox was full) and dead-lettered nothing.
      expect(b.node.system.counters.refused).toBeGreaterThan(0);
      expect(b.rec.deadLetters()).toEqual([]);
    } finally {
      await Promise.all([a.node.stop(), b.node.stop()]);
    }
  }, 90_000);

  it('refused at the sender: an acked ask is rejected at once, a ClusterClient acked tell fails with overflow', async () => {
    const b = await startNode(supervisor('b', {}, [worker('slow', slow, { capacity: 1000, input: { costMs: 300 } })]), {
      nodeId: 'wc',
      transport: new NatsTransport({ servers: server.url }),
    });
    const client = await ClusterClient.connect({ servers: server.url, nodeId: 'wclient', retry: { window: 1, maxWaiting: 1 } });
    try {
      // One on the wire (the actor holds it 300 ms), one waiting: the third is refused.
      const first = client.tellAcked('/b/slow', 'work', { i: 0 }, { timeoutMs: 30_000 });
      const second = client.tellAcked('/b/slow', 'work', { i: 1 }, { timeoutMs: 30_000 });
      await expect(client.tellAcked('/b/slow', 'work', { i: 2 }, { timeoutMs: 30_000 })).rejects.toThrow('overflow: send window to /b/slow full: 1 acked messages unacknowledged and 1 waiting');
      const ask = await client.ask('/b/slow', 'work', { i: 3 }, { requiresAck: true, timeout: 30_000 }).catch((e: unknown) => e);
      expect(ask).toBeInstanceOf(AskRejectedError);
      expect((ask as AskRejectedError).reason).toBe('overflow');
      // At once: before the receiver processed anything (no turn of I/O has passed).
      expect(seenOf(b.node, '/b/slow')).toEqual([]);
      expect(transportOf(client).outboxCounts).toMatchObject({ inFlight: 1, waiting: 1 });
      await Promise.all([first, second]);
      expect(seenOf(b.node, '/b/slow')).toEqual([0, 1]);
    } finally {
      await client.close();
      await b.node.stop();
    }
  }, 60_000);

  it('the outbox gauge counts in flight and waiting; stop turns both into dead letters', async () => {
    const sender = new NatsTransport({ servers: server.url, retry: { window: 2 } });
    const a = await startNode(supervisor('a', {}, [worker('w', testMachine)]), { nodeId: 'wd', transport: sender, telemetry: { metrics: true } });
    const b = await startNode(supervisor('b', {}, [worker('slow', slow, { input: { costMs: 500 } })]), {
      nodeId: 'we',
      transport: new NatsTransport({ servers: server.url }),
    });
    try {
      for (let i = 0; i < 6; i++) a.node.tell('/b/slow', 'work', { i }, { requiresAck: true });
      expect(sender.outboxCounts).toMatchObject({ inFlight: 2, waiting: 4 });
      const { samples, types } = parsePrometheus(await a.node.telemetry!.metrics!.registry.metrics());
      expect(types.get('eldertree_acked_outbox')).toBe('gauge');
      const gauge = (state: string) => samples.find((x) => x.name === 'eldertree_acked_outbox' && x.labels.state === state)?.value;
      expect([gauge('in_flight'), gauge('waiting')]).toEqual([2, 4]);
      await a.node.stop();
      const dead = a.rec.deadLetters();
      expect(dead.map((d) => d.reason)).toEqual(Array(6).fill('undelivered'));
      expect(dead.map((d) => (d.envelope!.payload as { i: number }).i).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await Promise.all([a.node.stop(), b.node.stop()]);
    }
  }, 60_000);
});

describe('send window options', () => {
  it('a bad window or bound is a clear error before anything connects', async () => {
    expect(() => new NatsTransport({ servers: server.url, retry: { window: 0 } })).toThrow('retry.window must be a positive integer, got 0');
    await expect(ClusterClient.connect({ servers: server.url, retry: { maxWaiting: -5 } })).rejects.toThrow('retry.maxWaiting must be an integer >= 0 or Infinity, got -5');
    // Infinity is a bound (none); Infinity is no window.
    expect(() => new NatsTransport({ servers: server.url, retry: { maxWaiting: Infinity } })).not.toThrow();
    expect(() => new NatsTransport({ servers: server.url, retry: { window: Infinity } })).toThrow(/retry.window/);
  });
});
