/**
 * What schema validation at the node boundary costs per message, next to the schema
 * library's own parse: the same zod schema and payloads on every side, n checks.
 *   zod:       schema.parse(payload)
 *   standard:  schema['~standard'].validate(payload)     (what any Standard Schema user pays)
 *   boundary:  checkEvent(schemas, 'task', payload)      (what a node does per message from the wire)
 * Result: { ns } per message.
 */
import { z } from 'zod';
import { checkEvent } from 'eldertree/internals';
import { caseArgs, gc, intArg, report } from './lib.js';

const args = caseArgs();
const n = intArg(args, 'n');
const task = z.object({ title: z.string().min(1).max(200), description: z.string().max(10_000), priority: z.number().int().min(0).max(9) });
const schemas = { task };
const payloads = Array.from({ length: 1024 }, (_, i) => ({ title: `task ${i}`, description: 'sha256 of a payload', priority: i % 10 }));

let sink = 0;
const run = (check: (p: (typeof payloads)[number]) => unknown) => {
  for (let i = 0; i < 20_000; i++) sink += check(payloads[i & 1023]!) ? 1 : 0; // warm-up
  gc();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink += check(payloads[i & 1023]!) ? 1 : 0;
  return ((performance.now() - t0) * 1e6) / n;
};
const ns =
  args.side === 'zod'
    ? run((p) => task.parse(p))
    : args.side === 'standard'
      ? run((p) => task['~standard'].validate(p))
      : run((p) => checkEvent(schemas, 'task', p));
report({ ns, sink: sink > 0 ? 1 : 0 });
