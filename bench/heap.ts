/**
 * Heap per idle actor: heapUsed after a full GC, before and after starting --n actors.
 *   raw:       createActor(counter).start(), kept in an array.
 *   eldertree: one node, a root supervisor with --n/1000 supervisors of 1000 workers each.
 * Result: { bytes } per actor (the eldertree figure includes its share of the supervisors).
 */
import { Node, supervisor, worker } from 'eldertree';
import { createActor } from 'xstate';
import { caseArgs, counter, gc, intArg, report } from './lib.js';

const args = caseArgs();
const PER_SUPERVISOR = 1000;
const n = Math.ceil(intArg(args, 'n') / PER_SUPERVISOR) * PER_SUPERVISOR;

gc();
const before = process.memoryUsage().heapUsed;
let keep: unknown;
if (args.side === 'raw') {
  const actors = [];
  for (let i = 0; i < n; i++) actors.push(createActor(counter).start());
  keep = actors;
} else {
  const groups = [];
  for (let g = 0; g < n / PER_SUPERVISOR; g++) {
    const workers = [];
    for (let i = 0; i < PER_SUPERVISOR; i++) workers.push(worker(`w${i}`, counter));
    groups.push(supervisor(`s${g}`, {}, workers));
  }
  keep = await Node.start({ tree: supervisor('bench', {}, groups) });
}
gc();
const after = process.memoryUsage().heapUsed;
// Reading `keep` after the gc() keeps the actors reachable through it.
if (keep === undefined) throw new Error('nothing was kept alive');
report({ bytes: (after - before) / n });
