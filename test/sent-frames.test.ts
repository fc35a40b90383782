import { describe, expect, it } from 'vitest';
import { recordFrame, recordRoute } from '../src/transport/reply-inbox.js';
import { SentFrames } from '../src/transport/sent-frames.js';
import type { Envelope } from '../src/index.js';

const env = (id: string, extra: Partial<Envelope> = {}): Envelope => ({
  message_id: id,
  source_elder: '@n1',
  target_elder: '/a/w',
  message_type: 'inc',
  payload: {},
  priority: 5,
  timestamp: 1,
  requires_ack: false,
  seq: 0,
  ...extra,
});

describe('reply tokens and the frames they stand for', () => {
  it('tokens are 72 random bits in base64url, never repeated', () => {
    const frames = new SentFrames();
    const tokens = Array.from({ length: 20_000 }, () => frames.token());
    for (const t of tokens.slice(0, 100)) expect(t).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(new Set(tokens).size).toBe(tokens.length);
  });

  it('a frame records what its answers may be: its acked ids and its asks by correlation id', () => {
    const frame = recordFrame('/a/w', [env('t1'), env('k1', { requires_ack: true, stream: 's', seq: 1 }), env('q1', { reply_to: '@n1', correlation_id: 'q1' })]);
    expect([...frame.acked!]).toEqual(['k1']);
    expect([...frame.asks!]).toEqual([['q1', 2]]);
    expect(frame.entries.map((e) => e.id)).toEqual(['t1', 'k1', 'q1']);
    // A routed frame: asks answered on the sender's reply subject; nothing to relay to without one.
    expect(recordRoute('/a/w', [env('q2', { correlation_id: 'c2' }), 7, null], '_INBOX.x')).toMatchObject({
      entries: [{ id: 'q2', correlation: 'c2', replyTo: '@_INBOX.x' }],
      relayTo: '_INBOX.x',
    });
    expect(recordRoute('/a/w', [env('q3', { correlation_id: 'c3' })], undefined)).toMatchObject({ entries: [{ id: 'q3' }], relayTo: '' });
  });

  it('frames are kept past the bounce window only while they wait for an ack or a reply', async () => {
    const frames = new SentFrames();
    const pending = new Set(['k1']);
    frames.add('tell', recordFrame('/a/w', [env('t1')]));
    frames.add('acked', recordFrame('/a/w', [env('k1', { requires_ack: true, stream: 's', seq: 1 })]));
    frames.add('ask', recordFrame('/a/w', [env('q1', { reply_to: '@n1', correlation_id: 'q1' })]));
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1050));
      frames.sweep((id) => pending.has(id));
    }
    expect(frames.get('tell')).toBeUndefined();
    expect(frames.get('acked')).toBeDefined();
    expect(frames.get('ask')).toBeDefined();
    pending.clear(); // acknowledged through a resend: this frame can no longer matter
    frames.get('ask')!.asks!.clear(); // answered
    await new Promise((r) => setTimeout(r, 1050));
    frames.sweep((id) => pending.has(id));
    expect(frames.get('acked')).toBeUndefined();
    expect(frames.get('ask')).toBeUndefined();
  });
});
