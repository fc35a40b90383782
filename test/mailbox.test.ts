import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Mailbox, shifted, type LocalFields } from '../src/internals.js';

describe('priority mailbox', () => {
  it('takes 9 first and keeps FIFO within a priority', () => {
    const box = new Mailbox<{ priority: number; n: number }>();
    [
      [5, 1],
      [9, 2],
      [0, 3],
      [5, 4],
      [9, 5],
    ].forEach(([priority, n]) => box.push({ priority: priority!, n: n! }));
    expect(box.drain({ made: () => { throw new Error('no local tells were pushed'); } }).map((m) => m.n)).toEqual([2, 5, 1, 4, 3]);
    expect(box.size).toBe(0);
    expect(box.shift()).toBeUndefined();
  });

  it('matches a stable sort by descending priority (property, 500 runs)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.boolean()), { maxLength: 3000 }), (ops) => {
        const box = new Mailbox<{ priority: number; n: number }>();
        const model: { priority: number; n: number }[] = [];
        const out: number[] = [];
        const expected: number[] = [];
        ops.forEach(([priority, take], n) => {
          box.push({ priority, n });
          model.push({ priority, n });
          if (take) {
            out.push((box.shift() as { n: number }).n);
            model.sort((a, b) => b.priority - a.priority || a.n - b.n);
            expected.push(model.shift()!.n);
          }
        });
        expect(out).toEqual(expected);
        expect(box.size).toBe(model.length);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps local tells as fields among message objects: one FIFO per priority, growing past its first rings, drained as messages (property, 300 runs)', () => {
    type M = { priority: number; n: number; local?: { type: string; payload: unknown; source: string; t: number } };
    const maker = { made: (type: string, f: LocalFields): M => ({ priority: f.priority, n: f.n, local: { type, payload: f.payload, source: f.source, t: f.t + f.seq } }) };
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.boolean(), fc.boolean()), { maxLength: 400 }), fc.boolean(), (ops, drainAtEnd) => {
        const box = new Mailbox<M>();
        const model: M[] = [];
        const out: M[] = [];
        const expected: M[] = [];
        const take = () => {
          const item = box.shift();
          out.push(typeof item === 'string' ? maker.made(item, shifted) : item!);
          model.sort((a, b) => b.priority - a.priority || a.n - b.n);
          expected.push(model.shift()!);
        };
        ops.forEach(([priority, local, shift], n) => {
          if (local) {
            const payload = { n };
            box.pushLocal(priority, `t${n}`, payload, `/s${n}`, 1, n, n * 10);
            model.push({ priority, n, local: { type: `t${n}`, payload, source: `/s${n}`, t: n * 10 + 1 } });
          } else {
            const m = { priority, n };
            box.push(m);
            model.push(m);
          }
          if (shift) take();
        });
        if (drainAtEnd) {
          model.sort((a, b) => b.priority - a.priority || a.n - b.n);
          expected.push(...model.splice(0));
          out.push(...box.drain(maker));
        } else {
          while (model.length > 0) take();
        }
        expect(out).toEqual(expected);
        expect(box.size).toBe(0);
        expect(box.shift()).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});
