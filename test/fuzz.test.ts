import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { encode } from '@msgpack/msgpack';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../src/index.js';
import { startCluster } from './cluster-harness.js';

const FRAMES = 100_000;
/** Frames sent ahead of the dead letters counted, at most. */
const WINDOW = 5000;
const tree = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));
const SUBJECT = 'elders.elders.actor.operator.app.everywhere';
const PATH = '/app/everywhere';

const base = (): Envelope => ({
  message_id: 'fuzz-1',
  source_elder: '/fuzzer',
  target_elder: PATH,
  message_type: 'whoami',
  payload: {},
  priority: 5,
  timestamp: Date.now(),
  requires_ack: false,
  seq: 1,
});

const FIELDS = ['message_id', 'source_elder', 'target_elder', 'message_type', 'payload', 'priority', 'timestamp', 'requires_ack', 'seq'] as const;
// A value of the wrong type for each field.
const WRONG: Record<(typeof FIELDS)[number], fc.Arbitrary<unknown>> = {
  message_id: fc.oneof(fc.integer(), fc.constant(null), fc.constant('')),
  source_elder: fc.oneof(fc.integer(), fc.boolean(), fc.constant('')),
  target_elder: fc.oneof(fc.integer(), fc.array(fc.string(), { maxLength: 2 })),
  message_type: fc.oneof(fc.integer(), fc.constant(''), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 2 })),
  payload: fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(null)),
  priority: fc.oneof(fc.integer({ min: 10, max: 1e6 }), fc.integer({ min: -1e6, max: -1 }), fc.double({ min: 0.1, max: 8.9, noInteger: true }), fc.string()),
  timestamp: fc.oneof(fc.string(), fc.double({ noInteger: true, noNaN: true }), fc.boolean()),
  requires_ack: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
  seq: fc.oneof(fc.integer({ min: -1e6, max: -1 }), fc.string(), fc.double({ noInteger: true, noNaN: true })),
};

type Frame = { bytes: Uint8Array; expect: 'malformed' | 'unhandled' | 'forbidden' };

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  // random bytes
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((bytes) => ({ bytes, expect: 'malformed' as const })),
  // a good frame, truncated
  fc.tuple(fc.string({ maxLength: 200 }), fc.double({ min: 0, max: 0.999, noNaN: true })).map(([text, at]) => {
    const full = pack({ ...base(), payload: { text } });
    return { bytes: full.subarray(0, Math.max(1, Math.floor(full.length * at))), expect: 'malformed' as const };
  }),
  // a field missing (seq may be: plain messages need none) or of the wrong type
  fc.constantFrom(...FIELDS).chain((field) =>
    (field === 'seq' ? WRONG[field] : fc.oneof(fc.constant(undefined), WRONG[field])).map((value) => {
      const env: Record<string, unknown> = { ...base() };
      if (value === undefined) delete env[field];
      else env[field] = value;
      return { bytes: pack(env), expect: 'malformed' as const };
    }),
  ),
  // an envelope for another actor than the subject it came on
  fc.stringMatching(/^(\/[a-z]{1,6}){1,3}$/).filter((p) => p !== PATH).map((target) => ({
    bytes: pack({ ...base(), target_elder: target }),
    expect: 'malformed' as const,
  })),
  // a type the machine does not handle, with random payloads
  fc.tuple(fc.stringMatching(/^[a-z]{1,8}(\.[a-z]{1,8}){0,2}$/), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 })).filter(([t]) => !['whoami', 'spin'].includes(t) && !t.startsWith('xstate') && !t.startsWith('eldertree')).map(([type, payload]) => ({
    bytes: pack({ ...base(), message_type: type, payload }),
    expect: 'unhandled' as const,
  })),
  // batches in the rows form nodes send each other: one row, broken in a field or of an unhandled type
  fc.tuple(fc.constantFrom(...FIELDS), fc.boolean(), fc.integer({ min: 0, max: 1000 })).chain(([field, broken, seed]) =>
    WRONG[field].map((wrong) => {
      const env: Record<string, unknown> = { ...base(), message_id: `row-${seed}`, message_type: broken ? 'whoami' : 'not.handled' };
      if (broken) env[field] = wrong;
      const keys = Object.keys(env);
      // nil in a row is an absent field: a required one missing is malformed too.
      return { bytes: pack({ keys, rows: [keys.map((k) => env[k] ?? null)] }), expect: broken ? ('malformed' as const) : ('unhandled' as const) };
    }),
  ),
  // a rows frame of the wrong shape, or truncated: one dead letter for the frame
  fc.oneof(
    fc.constant({ keys: [], rows: [[1]] }),
    fc.constant({ keys: ['__proto__'], rows: [[{}]] }),
    fc.constant({ keys: ['a', 'b'], rows: [[1]] }),
    fc.constant({ keys: ['message_id'], rows: 'x' }),
  ).map((frame) => ({ bytes: pack(frame), expect: 'malformed' as const })),
  fc.double({ min: 0.05, max: 0.95, noNaN: true }).map((at) => {
    const keys = Object.keys(base());
    const full = pack({ keys, rows: [keys.map((k) => (base() as unknown as Record<string, unknown>)[k])] });
    return { bytes: full.subarray(0, Math.max(1, Math.floor(full.length * at))), expect: 'malformed' as const };
  }),
  // integers of other widths (uint64 timestamp, as msgpack-c writes it): valid, so only unhandled
  fc.integer({ min: 0, max: 1000 }).map((n) => ({
    bytes: encode({ ...base(), message_type: 'not.handled', timestamp: BigInt(Date.now() + n) }, { useBigInt64: true }),
    expect: 'unhandled' as const,
  })),
  // reserved XState and runtime event types
  fc.constantFrom('xstate.stop', 'xstate.init', 'xstate.error.actor.x', 'eldertree.shutdown', 'eldertree.sup.failed').map((type) => ({
    bytes: pack({ ...base(), message_type: type }),
    expect: 'forbidden' as const,
  })),
);

describe('fuzzing a live node over NATS', () => {
  it(`${FRAMES} random and mutated frames: no crash, one dead letter each with a reason, good traffic all processed`, { timeout: 240_000 }, async () => {
    const cluster = await startCluster(tree, ['n1']);
    try {
      await cluster.ready(['n1']);
      const { client } = cluster;
      const nc = client.connection;
      const frames = fc.sample(frameArb, { numRuns: FRAMES, seed: 42 });
      // A few huge ones too (up to the broker's 1 MiB limit), broken in a field.
      for (let i = 0; i < 20; i++) {
        frames.push({ bytes: pack({ ...base(), priority: 'x', payload: { blob: 'z'.repeat(500_000 + i * 20_000) } }), expect: 'malformed' });
      }
      const expected = { malformed: 0, unhandled: 0, forbidden: 0 };
      for (const f of frames) expected[f.expect]++;

      const got = { malformed: 0, unhandled: 0, forbidden: 0, other: [] as string[] };
      const sub = client.events((e) => {
        if (e.type !== 'dead_letter') return;
        const reason = (e as { reason: string }).reason;
        if (reason === 'malformed' || reason === 'unhandled' || reason === 'forbidden') got[reason]++;
        else got.other.push(`${reason}: ${(e as { detail: string }).detail}`);
      });
      let good = 0;
      const total = () => got.malformed + got.unhandled + got.forbidden + got.other.length;
      for (let i = 0; i < frames.length; i++) {
        nc.publish(SUBJECT, frames[i]!.bytes);
        if (i % 50 === 0) {
          client.tell(PATH, 'spin', {}, { requiresAck: i % 100 === 0 }); // well-formed, interleaved
          good++;
        }
        if (i % 500 === 0) {
          await nc.flush();
          await new Promise((r) => setImmediate(r));
          // Flow control: at most WINDOW frames the node has not accounted for yet, so a busy
          // machine cannot pile up a backlog the broker would cut off as a slow consumer.
          const stall = Date.now() + 60_000;
          while (i + 1 - total() > WINDOW && Date.now() < stall) await new Promise((r) => setTimeout(r, 10));
        }
      }
      await nc.flush();
      const deadline = Date.now() + 120_000;
      while (total() < frames.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 500)); // nothing more may come
      sub.unsubscribe();

      console.log(`fuzz: ${frames.length} frames -> dead letters ${JSON.stringify({ ...got, other: got.other.length })}; ${good} good messages`);
      expect(got.other).toEqual([]);
      expect({ malformed: got.malformed, unhandled: got.unhandled, forbidden: got.forbidden }).toEqual(expected);
      const view = (await client.inspect()).find((r) => r.node === 'n1')!;
      expect(view.actors.find((a) => a.path === PATH)!.processed).toBe(good);
      expect(cluster.nodes.get('n1')!.proc.exitCode).toBeNull(); // alive all along
    } finally {
      await cluster.stop();
    }
  });
});
