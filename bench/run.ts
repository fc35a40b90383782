/**
 * `npm run bench [-- --quick] [names...]`: runs each case in fresh child processes,
 * raw baseline and eldertree alternating, and prints the medians as one markdown table.
 * A full unfiltered run also writes bench/results.md; quick or filtered runs write
 * build/bench/results.md, so a smoke check never overwrites the recorded figures.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { median, runCase, type Metrics } from './lib.js';

interface Row {
  benchmark: string;
  eldertree: string;
  raw: string;
  /** eldertree / raw. */
  ratio: number;
  goal: string;
  met: boolean;
}

interface Case {
  name: string;
  /** Arguments every side gets. */
  args: string[];
  /** Label -> the case's arguments for that side; every side runs once per round. */
  sides: Record<string, string[]>;
  rows(m: (side: string, key: string) => number): Row[];
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const filter = argv.filter((a) => !a.startsWith('--'));
const RUNS = quick ? 3 : 5;

const k = (x: number) =>
  x >= 1e6 ? `${+(x / 1e6).toPrecision(3)}M` : x >= 10_000 ? `${Math.round(x / 1000)}k` : `${Math.round(x)}`;
const us = (x: number) => (x >= 100 ? `${Math.round(x)}` : x.toFixed(1));

function ratioRow(benchmark: string, e: number, r: number, unit: (x: number) => string, goal: number, atLeast: boolean): Row {
  const ratio = e / r;
  return {
    benchmark,
    eldertree: unit(e),
    raw: unit(r),
    ratio,
    goal: `${atLeast ? '>=' : '<='} ${goal}x raw`,
    met: atLeast ? ratio >= goal : ratio <= goal,
  };
}

function latencyRow(benchmark: string, side: string, m: (side: string, key: string) => number): Row {
  const p99 = m(side, 'p99');
  return {
    benchmark,
    eldertree: `${us(m(side, 'p50'))} / ${us(p99)} µs`,
    raw: `${us(m('raw', 'p50'))} / ${us(m('raw', 'p99'))} µs`,
    ratio: p99 / m('raw', 'p99'),
    goal: 'p99 <= 1 ms',
    met: p99 <= 1000,
  };
}

const n = {
  tell: quick ? 200_000 : 1_000_000,
  restart: quick ? 1000 : 5000,
  heap: quick ? 20_000 : 100_000,
  spawn: quick ? 5000 : 20_000,
};
// The first ~2000 restarts of a process run cold code (JIT, young-generation sizing)
// and are several times slower; they are not recorded, on either side.
const RESTART_WARMUP = 2000;

const CASES: Case[] = [
  {
    name: 'tell',
    args: ['--n', String(n.tell)],
    sides: {
      raw: ['--side', 'raw'],
      eldertree: ['--side', 'eldertree', '--window', '16'],
      flood: ['--side', 'eldertree', '--window', '0'],
    },
    rows: (m) => [
      ratioRow(`local tell, msg/s (${k(n.tell)} msgs, 16 bursts of 1000 in flight)`, m('eldertree', 'rate'), m('raw', 'rate'), k, 0.8, true),
      ratioRow(`local tell, msg/s (${k(n.tell)} msgs, all bursts told at once)`, m('flood', 'rate'), m('raw', 'rate'), k, 0.8, true),
    ],
  },
  {
    name: 'restart',
    args: ['--samples', String(n.restart), '--warmup', String(RESTART_WARMUP)],
    sides: {
      raw: ['--side', 'raw'],
      eldertree: ['--side', 'eldertree', '--period', '1000'],
      short: ['--side', 'eldertree', '--period', '1'],
    },
    rows: (m) => [
      latencyRow(`restart p50 / p99 (${k(n.restart)} after ${k(RESTART_WARMUP)} warm-up; intensity 1e6 per 1000 ms)`, 'eldertree', m),
      latencyRow(`restart p50 / p99 (same, intensity 1e6 per 1 ms)`, 'short', m),
    ],
  },
  {
    name: 'heap',
    args: ['--n', String(n.heap)],
    sides: { raw: ['--side', 'raw'], eldertree: ['--side', 'eldertree'] },
    rows: (m) => [
      ratioRow(`heap per idle actor, bytes (${k(n.heap)} alive)`, m('eldertree', 'bytes'), m('raw', 'bytes'), (x) => String(Math.round(x)), 1.5, false),
    ],
  },
  {
    name: 'spawn',
    args: ['--n', String(n.spawn)],
    sides: { raw: ['--side', 'raw'], startChild: ['--side', 'startChild'], tree: ['--side', 'tree'] },
    rows: (m) => [
      ratioRow(`spawn, actors/s: ${k(n.spawn)} x await startChild`, m('startChild', 'rate'), m('raw', 'rate'), k, 0.7, true),
      ratioRow(`spawn, actors/s: Node.start of a ${k(n.spawn)}-worker tree`, m('tree', 'rate'), m('raw', 'rate'), k, 0.7, true),
    ],
  },
];

const unknown = filter.filter((f) => !CASES.some((c) => c.name === f));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
  process.exit(2);
}

const rows: Row[] = [];
const details: string[] = [];
for (const c of CASES) {
  if (filter.length && !filter.includes(c.name)) continue;
  const labels = Object.keys(c.sides);
  const results: Record<string, Metrics[]> = Object.fromEntries(labels.map((l) => [l, []]));
  for (let round = 0; round < RUNS; round++) {
    // Alternate, and rotate who goes first, so drift on a noisy machine hits every side.
    const order = labels.map((_, i) => labels[(i + round) % labels.length]!);
    for (const label of order) {
      const args = [...c.sides[label]!, ...c.args];
      process.stderr.write(`${c.name} ${label} run ${round + 1}/${RUNS} ... `);
      const metrics = await runCase(c.name, args, 600_000);
      process.stderr.write(`${JSON.stringify(metrics)}\n`);
      results[label]!.push(metrics);
    }
  }
  const m = (side: string, key: string) => median(results[side]!.map((r) => r[key]!));
  rows.push(...c.rows(m));
  for (const label of labels) {
    for (const key of Object.keys(results[label]![0]!)) {
      details.push(`- ${c.name} ${label} ${key}: ${results[label]!.map((r) => +r[key]!.toPrecision(4)).join(', ')}`);
    }
  }
}

const table = [
  '| benchmark | eldertree | raw baseline | ratio | goal | met |',
  '|---|---:|---:|---:|---|:---:|',
  ...rows.map((r) => `| ${r.benchmark} | ${r.eldertree} | ${r.raw} | ${r.ratio >= 0.1 ? r.ratio.toFixed(2) : r.ratio.toPrecision(2)}x | ${r.goal} | ${r.met ? 'yes' : 'no'} |`),
].join('\n');
const cpu = cpus();
const header =
  `${new Date().toISOString()} · node ${process.version} · ${cpu[0]?.model ?? 'unknown cpu'} × ${cpu.length} · ` +
  `${quick ? 'quick' : 'full'}: median of ${RUNS} fresh processes per figure`;

console.log(`${header}\n\n${table}`);
const full = !quick && filter.length === 0;
const out = fileURLToPath(new URL(full ? '../../bench/results.md' : './results.md', import.meta.url));
writeFileSync(
  out,
  `# eldertree benchmarks\n\n${header}. Written by \`npm run bench\`; restart cells are p50 / p99, ` +
    `the ratio there is p99 / raw p99.\n\n${table}\n\n## Every run\n\n${details.join('\n')}\n`,
);
console.error(`written to ${out}`);
