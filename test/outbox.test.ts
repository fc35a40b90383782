/**
 * The sender's outbox on its own: the per-stream send window (at most `window` acked
 * envelopes unacknowledged on the wire, the rest waiting in seq order), the bound on
 * what waits (past it: refused, the caller's one dead letter), give-up of waiting ones,
 * and `ack_base`. A hand-driven clock: the subject is the bookkeeping, not time.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_RETRY, Outbox, retryPolicy, type RetryPolicy } from '../src/transport/outbox.js';
import { InOrder } from '../src/transport/in-order.js';
import type { Envelope } from '../src/index.js';

function env(seq: number, target = '/b/w', source = '/a/x'): Envelope {
  return {
    message_id: `${source}>${target}#${seq}`,
    source_elder: source,
    target_elder: target,
    message_type: 'work',
    payload: { seq },
    priority: 5,
    timestamp: 1,
    requires_ack: true,
    seq,
    stream: 'run1',
  };
}

/** An outbox with a hand clock; `wire` is every envelope put on the wire (first sends and releases), in order. */
function outbox(policy: Partial<RetryPolicy>) {
  let t = 0;
  const wire: Envelope[] = [];
  const box = new Outbox({ ...policy }, (e) => wire.push({ ...e }), () => t);
  const send = (e: Envelope) => {
    const taken = box.add(e);
    if (taken === 'send') wire.push({ ...e });
    return taken;
  };
  return { box, wire, send, advance: (ms: number) => void (t += ms) };
}

describe('the outbox send window', () => {
  it('at most `window` envelopes of a stream are on the wire; the rest go as acks come, in seq order, with a right ack_base', () => {
    const { box, wire, send } = outbox({ window: 3 });
    expect([1, 2, 3, 4, 5, 6, 7].map((s) => send(env(s)))).toEqual(['send', 'send', 'send', 'wait', 'wait', 'wait', 'wait']);
    expect(wire.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(wire.map((e) => e.ack_base)).toEqual([1, 1, 1]);
    expect(box.stats).toMatchObject({ inFlight: 3, waiting: 4 });
    // Acks out of order: 2 frees a slot, 4 goes with ack_base 1 (1 is still owed).
    expect(box.ack(env(2).message_id)).toBe(true);
    expect(wire.map((e) => [e.seq, e.ack_base])).toEqual([[1, 1], [2, 1], [3, 1], [4, 1]]);
    expect(box.ack(env(1).message_id)).toBe(true);
    expect(wire.at(-1)).toMatchObject({ seq: 5, ack_base: 3 });
    box.ack(env(3).message_id);
    box.ack(env(4).message_id);
    expect(wire.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // Each released with the lowest seq still owed at that moment.
    expect(wire.slice(5).map((e) => e.ack_base)).toEqual([4, 5]);
    expect(box.stats).toMatchObject({ inFlight: 3, waiting: 0, peakInFlight: 3, peakWaiting: 4 });
    // A new one behind a full window waits even though nothing else does.
    expect(send(env(8))).toBe('wait');
    expect(box.ack(env(1).message_id)).toBe(false); // acked already
  });

  it('ack_base counts the waiting ones: they are still owed, so a receiver never takes them for duplicates', () => {
    const { box, wire, send } = outbox({ window: 2 });
    for (let s = 10; s < 16; s++) send(env(s));
    box.ack(env(10).message_id);
    box.ack(env(11).message_id);
    // 12 went when 11 was still owed, 13 when 12 was the lowest the sender waited for.
    expect(wire.slice(2).map((e) => [e.seq, e.ack_base])).toEqual([[12, 11], [13, 12]]);
    expect(wire.slice(2).every((e) => e.ack_base! <= e.seq)).toBe(true);
  });

  it('past maxWaiting a new envelope is refused, one by one; the stream carries on past the refused seqs', () => {
    const { box, wire, send, advance } = outbox({ window: 2, maxWaiting: 3, initialMs: 100, maxMs: 100 });
    const taken = Array.from({ length: 8 }, (_, i) => send(env(i + 1)));
    expect(taken).toEqual(['send', 'send', 'wait', 'wait', 'wait', 'overflow', 'overflow', 'overflow']);
    expect(box.size).toBe(5);
    expect(box.has(env(6).message_id)).toBe(false);
    // Room again: 9 waits behind 3..5, and ack_base skips the refused 6..8 once all before them are acked.
    box.ack(env(1).message_id);
    expect(send(env(9))).toBe('wait');
    for (const s of [2, 3, 4]) box.ack(env(s).message_id);
    expect(wire.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 9]);
    expect(wire.at(-1)!.ack_base).toBe(5); // released while 5 was still owed
    // 5 acked: the sender waits for 9 alone, and its resend says so.
    box.ack(env(5).message_id);
    advance(100);
    expect(box.due().resend.map((e) => [e.seq, e.ack_base])).toEqual([[9, 9]]);
  });

  it('maxWaiting: 0 refuses whatever finds the window full; Infinity never refuses', () => {
    const none = outbox({ window: 1, maxWaiting: 0 });
    expect([1, 2].map((s) => none.send(env(s)))).toEqual(['send', 'overflow']);
    const all = outbox({ window: 1, maxWaiting: Infinity });
    const taken = Array.from({ length: 10_000 }, (_, i) => all.send(env(i + 1)));
    expect(taken.filter((t) => t === 'wait')).toHaveLength(9_999);
  });

  it('streams do not block each other: a full window to one receiver leaves another free', () => {
    const { box, wire, send } = outbox({ window: 2, maxWaiting: 1 });
    expect([1, 2, 3, 4].map((s) => send(env(s, '/b/slow')))).toEqual(['send', 'send', 'wait', 'overflow']);
    expect([1, 2, 3].map((s) => send(env(s, '/b/fast')))).toEqual(['send', 'send', 'wait']);
    // Another sender to the same receiver is another stream too.
    expect(send(env(1, '/b/slow', '/a/other'))).toBe('send');
    box.ack(env(1, '/b/fast').message_id);
    expect(wire.at(-1)).toMatchObject({ target_elder: '/b/fast', seq: 3 });
    expect(box.stats).toMatchObject({ inFlight: 5, waiting: 1, peakInFlight: 2, peakWaiting: 1 });
  });

  it('waiting envelopes give up too, counted from when the outbox took them; what was on the wire is resent meanwhile', () => {
    const { box, wire, send, advance } = outbox({ window: 2, initialMs: 100, maxMs: 400, giveUpMs: 1000 });
    for (let s = 1; s <= 4; s++) send(env(s));
    advance(500);
    send(env(5)); // taken later: gives up later
    advance(100);
    const first = box.due();
    expect(first.resend.map((e) => e.seq)).toEqual([1, 2]);
    expect(first.expired).toEqual([]);
    advance(400); // t = 1000: 1..4 are past give-up, waiting or not; 5 is not
    const { resend, expired } = box.due();
    expect(resend).toEqual([]);
    expect(expired.map((e) => e.seq).sort()).toEqual([1, 2, 3, 4]);
    // The two slots freed by 1 and 2 went to 5, the one left waiting, with ack_base 5.
    expect(wire.map((e) => e.seq)).toEqual([1, 2, 5]);
    expect(wire.at(-1)!.ack_base).toBe(5);
    expect(box.stats).toMatchObject({ inFlight: 1, waiting: 0 });
    advance(500);
    expect(box.due().expired.map((e) => e.seq)).toEqual([5]);
    expect(box.size).toBe(0);
  });

  it('drain takes what is on the wire and what waits', () => {
    const { box, send } = outbox({ window: 2 });
    for (let s = 1; s <= 5; s++) send(env(s));
    expect(box.drain().map((e) => e.seq).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(box.size).toBe(0);
    expect(box.stats).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it('bad window and bound values are refused with a clear error; undefined means the default', () => {
    expect(() => retryPolicy({ window: 0 })).toThrow(/retry.window must be a positive integer, got 0/);
    expect(() => retryPolicy({ window: 1.5 })).toThrow(/retry.window/);
    expect(() => retryPolicy({ window: Infinity })).toThrow(/retry.window/);
    expect(() => retryPolicy({ maxWaiting: -1 })).toThrow(/retry.maxWaiting must be an integer >= 0 or Infinity, got -1/);
    expect(() => retryPolicy({ maxWaiting: NaN })).toThrow(/retry.maxWaiting/);
    expect(() => retryPolicy({ giveUpMs: 0 })).toThrow(/retry.giveUpMs must be a positive number/);
    expect(() => retryPolicy({ initialMs: 500, maxMs: 100 })).toThrow(/retry.maxMs/);
    expect(() => retryPolicy({ windw: 3 } as never)).toThrow(/retry.windw is not a retry option/);
    expect(retryPolicy({ window: undefined, maxWaiting: Infinity })).toEqual({ ...DEFAULT_RETRY, maxWaiting: Infinity });
    expect(() => new Outbox({ window: -3 })).toThrow(/retry.window/);
  });

  it('property: whatever the acks, the wire sees each stream in seq order, never over the window, and a receiver delivers all (200 runs)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 8 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat()), { minLength: 1, maxLength: 80 }),
        (window, maxWaiting, steps) => {
          const { box, wire, send, advance } = outbox({ window, maxWaiting, giveUpMs: 1e9 });
          const receiver = new InOrder();
          const delivered: number[] = [];
          let sentTo = 0;
          let next = 1;
          const refused: number[] = [];
          const onWire = new Set<number>();
          // The receiver takes each frame as it goes on the wire and acks what it delivers.
          const take = () => {
            for (; sentTo < wire.length; sentTo++) {
              const e = wire[sentTo]!;
              onWire.add(e.seq);
              const a = receiver.arrive(e, 'x');
              if (a.kind === 'deliver') for (const f of a.frames) delivered.push(f.envelope.seq);
            }
          };
          for (const [isSend, pick] of steps) {
            if (isSend) {
              if (send(env(next)) === 'overflow') refused.push(next);
              next++;
            } else if (onWire.size > 0) {
              // Ack one of those delivered and not yet acked, if any.
              const ackable = delivered.filter((s) => box.has(env(s).message_id));
              if (ackable.length > 0) {
                const s = ackable[pick % ackable.length]!;
                box.ack(env(s).message_id);
                onWire.delete(s);
              }
            }
            take();
            expect(box.stats.inFlight).toBeLessThanOrEqual(window);
            expect(box.stats.waiting).toBeLessThanOrEqual(maxWaiting);
          }
          // Ack everything delivered until nothing is left; frames held behind a refused
          // seq go when a resend (or a release) carries an ack_base past it.
          for (let guard = 0; box.size > 0 && guard < 1000; guard++) {
            const s = delivered.find((d) => box.has(env(d).message_id));
            if (s !== undefined) box.ack(env(s).message_id);
            else {
              advance(2000);
              wire.push(...box.due().resend.map((e) => ({ ...e })));
            }
            take();
          }
          // First sends only (resends come after): in seq order.
          const seqs = wire.filter((e, i) => wire.findIndex((f) => f.seq === e.seq) === i).map((e) => e.seq);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          const all = Array.from({ length: next - 1 }, (_, i) => i + 1);
          // Delivered in order, once each: every seq not refused at the sender.
          expect(delivered).toEqual(all.filter((s) => !refused.includes(s)));
          expect(box.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('the receiver past a seq its sender refused', () => {
  it('frames held behind a skipped seq go as soon as any frame carries an ack_base past it', () => {
    const receiver = new InOrder();
    const at = (seq: number, base: number) => ({ ...env(seq), ack_base: base });
    expect(receiver.arrive(at(1, 1), 'x').kind).toBe('deliver');
    // 2 was refused at the sender: 3 and 4 wait for it.
    expect(receiver.arrive(at(3, 1), 'x').kind).toBe('held');
    expect(receiver.arrive(at(4, 1), 'x').kind).toBe('held');
    // 1 acked; the next frame (5, released from the window) says the sender waits for nothing below 3.
    const a = receiver.arrive(at(5, 3), 'x');
    expect(a.kind === 'deliver' && a.frames.map((f) => f.envelope.seq)).toEqual([3, 4, 5]);
    expect(receiver.arrive(at(3, 3), 'x').kind).toBe('duplicate');
  });
});
