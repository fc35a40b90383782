import { describe, expect, it } from 'vitest';
import { decode as standardDecode, encode as standardEncode } from '@msgpack/msgpack';
import { pack } from 'msgpackr';
import {
  AskRejectedError,
  decodeFrame,
  encodeEnvelope,
  LocalHub,
  LocalTransport,
  supervisor,
  validateEnvelope,
  worker,
  type Envelope,
} from '../src/internals.js';
import { encodeWire } from '../src/cluster/events-wire.js';
import { encodeBatch, fromRows } from '../src/transport/codec.js';
import { startNode, testMachine } from './helpers.js';

const good: Envelope = {
  message_id: 'm1',
  source_elder: '/a',
  target_elder: '/b',
  message_type: 'sage.knowledge.query',
  payload: { q: 'x' },
  priority: 5,
  timestamp: 1_700_000_000_000,
  requires_ack: false,
  seq: 1,
};

describe('envelope', () => {
  it('a batch frame is standard msgpack: another msgpack library decodes it to keys and rows that rebuild the envelopes', () => {
    const batch = (n: number) => Array.from({ length: 3 }, (_, i) => ({ ...good, message_id: `m${n}-${i}`, seq: i + 1 }));
    encodeBatch(batch(1));
    const second = encodeBatch(batch(2));
    const plain = standardDecode(second) as { keys: string[]; rows: unknown[][] };
    expect(plain.keys).toEqual(['message_id', 'source_elder', 'target_elder', 'message_type', 'payload', 'priority', 'timestamp', 'requires_ack', 'seq']);
    expect(plain.rows.map((row) => Object.fromEntries(plain.keys.map((k, i) => [k, row[i]])))).toEqual(batch(2));
    // Fields only some envelopes have: nil in the others' rows, absent once rebuilt.
    const mixed = [good, { ...good, message_id: 'm2', reply_to: '@n1', correlation_id: 'm2' }];
    const decoded = decodeFrame(encodeBatch(mixed));
    expect(fromRows((decoded as { value: Record<string, unknown> }).value)).toEqual({ ok: true, items: mixed });
    // Replies go as an array of maps; msgpackr's records (v0) are not standard msgpack.
    expect(standardDecode(encodeBatch(batch(2), 'maps'))).toEqual(batch(2));
    expect(() => expect(standardDecode(encodeBatch(batch(2), 'records'))).toEqual(batch(2))).toThrow();
  });

  it("the frames nodes send most decode through their own layouts: plain, acked and ask rows round-trip field for field", () => {
    const rows = (value: Uint8Array) => fromRows((decodeFrame(value) as { value: Record<string, unknown> }).value);
    const plain = [good, { ...good, message_id: 'm2', seq: 2 }];
    const acked = [1, 2, 3].map((seq) => ({ ...good, message_id: `a${seq}`, requires_ack: true, seq, stream: 's-1', ack_base: 1 }));
    const asks = [1, 2].map((seq) => ({ ...good, message_id: `q${seq}`, seq, reply_to: '@n1', correlation_id: `q${seq}` }));
    expect(rows(encodeBatch(plain))).toEqual({ ok: true, items: plain });
    expect(rows(encodeBatch(acked))).toEqual({ ok: true, items: acked });
    expect(rows(encodeBatch(asks))).toEqual({ ok: true, items: asks });
    // Each layout builds its object with the fields in the order they were sent (one shape).
    const items = (rows(encodeBatch(acked)) as { items: Record<string, unknown>[] }).items;
    expect(items.map((e) => Object.keys(e))).toEqual(acked.map((e) => Object.keys(e)));
  });

  it.each([
    [{ keys: [], rows: [[1]] }, 'a rows batch needs keys: an array of 1..64 field names'],
    [{ keys: ['__proto__'], rows: [[{}]] }, 'a rows batch\'s keys must be field names, got "__proto__"'],
    [{ keys: ['a', 'a'], rows: [[1, 2]] }, "a rows batch's keys must not repeat"],
    [{ keys: ['a'], rows: [] }, 'a rows batch needs rows: a non-empty array'],
    [{ keys: ['a', 'b'], rows: [[1]] }, 'row 0 of a rows batch is not an array of 2 values'],
  ])('a bad rows batch %j is refused with a reason', (frame, reason) => {
    expect(fromRows(frame)).toEqual({ ok: false, reason });
  });

  it('undefined never becomes msgpackr\'s extension: a map key holding it is left out (envelopes and events)', () => {
    const withUndefined = { ...good, payload: { kept: 1, gone: undefined, list: [undefined, 2] } };
    expect(standardDecode(encodeEnvelope(withUndefined as Envelope))).toEqual({ ...good, payload: { kept: 1, list: [null, 2] } });
    const event = encodeWire({ type: 'started', node: 'n1', path: '/a', incarnation: 1, kind: 'worker', reason: undefined, at: 5 });
    expect(standardDecode(event)).toEqual({ type: 'started', node: 'n1', path: '/a', incarnation: 1, kind: 'worker', at: 5 });
  });

  it('integers of any msgpack width are integers: a uint64 timestamp and priority pass', () => {
    const wide = { ...good, timestamp: BigInt(good.timestamp), priority: 7n, seq: 3n };
    const frame = standardEncode(wide, { useBigInt64: true });
    const decoded = decodeFrame(frame);
    expect(decoded.ok).toBe(true);
    expect(validateEnvelope((decoded as { value: unknown }).value)).toEqual({ ok: true, envelope: { ...good, priority: 7, seq: 3 } });
    // Past 2^53 an integer cannot be a number exactly: refused with a reason, not misread.
    const huge = decodeFrame(standardEncode({ ...good, timestamp: 2n ** 60n }, { useBigInt64: true }));
    expect(validateEnvelope((huge as { value: unknown }).value)).toEqual({
      ok: false,
      reason: 'field timestamp must be an integer, got integer 1152921504606846976 (out of range)',
    });
  });

  it('streams are named: acked messages need stream and seq >= 1, plain ones need neither seq nor stream', () => {
    const { seq: _seq, ...noSeq } = good;
    expect(validateEnvelope({ ...noSeq })).toEqual({ ok: true, envelope: { ...good, seq: 0 } });
    expect(validateEnvelope({ ...good, requires_ack: true })).toEqual({
      ok: false,
      reason: 'missing field stream',
    });
    expect(validateEnvelope({ ...good, requires_ack: true, stream: 's1', seq: 0 })).toEqual({
      ok: false,
      reason: 'field seq must be an integer >= 1 on an acked message, got number 0',
    });
    expect(validateEnvelope({ ...good, requires_ack: true, stream: 's1' }).ok).toBe(true);
  });

  it('a version other than 1 is refused with the reason; v: 1 or no v is v1', () => {
    expect(validateEnvelope({ ...good, v: 1 }).ok).toBe(true);
    expect(validateEnvelope({ ...good, v: 2 })).toEqual({ ok: false, reason: 'protocol version number 2 is not supported (this node speaks v1)' });
  });

  it('round-trips through msgpackr with every field kept', () => {
    const withReply = { ...good, reply_to: '@n1', correlation_id: 'm1' };
    const decoded = decodeFrame(encodeEnvelope(withReply));
    expect(decoded).toEqual({ ok: true, value: withReply });
    expect(validateEnvelope((decoded as { value: unknown }).value)).toEqual({ ok: true, envelope: withReply });
  });

  it.each([
    [null, 'frame is null, not an envelope map'],
    [[1, 2], 'frame is an array, not an envelope map'],
    [{ ...good, message_id: undefined }, 'missing field message_id'],
    [{ ...good, target_elder: 7 }, 'field target_elder must be a string, got number 7'],
    [{ ...good, message_type: '' }, 'field message_type is empty'],
    [{ ...good, payload: 'x' }, 'field payload must be a map, got a string "x"'],
    [{ ...good, priority: 12 }, 'field priority must be an integer 0..9, got number 12'],
    [{ ...good, requires_ack: 'yes' }, 'field requires_ack must be a boolean, got a string "yes"'],
    [{ ...good, seq: -1 }, 'field seq must be a non-negative integer, got number -1'],
    [{ ...good, reply_to: 3 }, 'field reply_to must be a string when present, got number 3'],
  ])('rejects %j with a precise reason', (frame, reason) => {
    expect(validateEnvelope(frame)).toEqual({ ok: false, reason });
  });

  it('refuses undecodable and oversized frames without throwing', () => {
    expect(decodeFrame(new Uint8Array([0x81, 0xa1, 0x61]))).toMatchObject({ ok: false, reason: expect.stringMatching(/^not msgpack/) });
    expect(decodeFrame(new Uint8Array(0))).toEqual({ ok: false, reason: 'empty frame' });
    expect(decodeFrame(new Uint8Array(2048), 1024)).toEqual({
      ok: false,
      reason: 'frame of 2048 bytes exceeds the 1024 byte limit',
    });
  });

  it('a node turns bad frames into dead letters, answers the asker, and keeps serving', async () => {
    const hub = new LocalHub();
    const transport = new LocalTransport({ hub, serialize: true });
    const { node, rec } = await startNode(supervisor('app', {}, [worker('w', testMachine)]), {
      nodeId: 'n1',
      transport,
    });
    // A second node in the same hub asks through the wire codec.
    const peer = await startNode(supervisor('peer', {}, []), { nodeId: 'n2', transport: new LocalTransport({ hub, serialize: true }) });

    transport.inject('n1', new Uint8Array([0x93, 0x01])); // truncated msgpack
    transport.inject('n1', pack({ ...good, target_elder: '/app/w', priority: 'high' }));
    transport.inject('n1', pack({ ...good, target_elder: '/app/w', message_type: 'inc', seq: 2 }));
    // A malformed ask still gets an error reply instead of a timeout.
    const pending = peer.node.ask('/app/w', 'ping', {}, { timeout: 2000 });
    transport.inject('n1', pack({ ...good, priority: 99, reply_to: '@n2', correlation_id: 'nope' }));
    await expect(pending).resolves.toEqual({ pong: true });

    const reasons = rec.deadLetters().map((d) => [d.reason, d.detail]);
    expect(reasons).toContainEqual(['malformed', expect.stringMatching(/malformed frame rejected: not msgpack/)]);
    expect(reasons).toContainEqual([
      'malformed',
      'malformed frame rejected: field priority must be an integer 0..9, got a string "high"',
    ]);
    expect(await node.ask('/app/w', 'get')).toEqual({ count: 1 });
    // The error reply for the malformed ask reached n2 and found no pending ask there.
    expect(peer.rec.deadLetters().map((d) => d.reason)).toContain('ask_timeout');
    await peer.node.stop();
    await node.stop();
  });

  it('an ask to a path no node hosts is rejected at once with the reason', async () => {
    const hub = new LocalHub();
    const a = await startNode(supervisor('a', {}, [worker('w', testMachine)]), { nodeId: 'a', transport: new LocalTransport({ hub }) });
    const err = await a.node.ask('/b/w', 'ping').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskRejectedError);
    expect((err as AskRejectedError).reason).toBe('unknown_target');
    expect((err as Error).message).toBe('no node hosts /b/w');
    await a.node.stop();
  });
});

describe('frames that decode to something that is not an envelope', () => {
  it('are rejected by validation with a reason', () => {
    const decoded = decodeFrame(new Uint8Array([0xc1])); // msgpack's "never used" byte
    expect(decoded.ok).toBe(true);
    expect(validateEnvelope((decoded as { value: unknown }).value)).toEqual({ ok: false, reason: 'missing field message_id' });
  });
});
