import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Mailbox } from '../src/internals.js';

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
    expect(box.drain().map((m) => m.n)).toEqual([2, 5, 1, 4, 3]);
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
            out.push(box.shift()!.n);
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
});
