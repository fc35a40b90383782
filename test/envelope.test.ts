import { describe, expect, it } from 'vitest';
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
import { encodeBatch } from '../src/transport/codec.js';
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
  it('a batch frame decodes on its own, whatever frames came before it (no shared record structures)', () => {
    const batch = (n: number) => Array.from({ length: 3 }, (_, i) => ({ ...good, message_id: `m${n}-${i}`, seq: i + 1 }));
    encodeBatch(batch(1));
    const second = encodeBatch(batch(2));
    expect(decodeFrame(second)).toEqual({ ok: true, value: batch(2) });
    // Smaller than the same envelopes as separate maps: the keys are written once.
    expect(second.byteLength).toBeLessThan(batch(2).reduce((n, e) => n + encodeEnvelope(e).byteLength, 0));
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
