/**
 * `npm run bench [-- --quick] [names...]`: runs each case in fresh child processes,
 * raw baseline and eldertree alternating, and prints the medians as one markdown table.
 * A name selects the case of that name and the cases named `<name>-...`: `cluster` runs
 * every cluster case (they start their own nats-server on a free loopback port).
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
  /** undefined: a reference row, no goal. */
  met: boolean | undefined;
}

interface Case {
  name: string;
  /** The script, build/bench/<file>.js; default the name. */
  file?: string;
  /** Arguments every side gets. */
  args: string[];
  /** Label -> the case's arguments for that side; every side runs once per round. */
  sides: Record<string, string[]>;
  /** m: the median over runs of a side's figure; max: its largest. */
  rows(m: (side: string, key: string) => number, max: (side: string, key: string) => number): Row[];
}

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const filter = argv.filter((a) => !a.startsWith('--'));
const RUNS = quick ? 3 : 5;

const k = (x: number) =>
  x >= 1e6 ? `${+(x / 1e6).toPrecision(3)}M` : x >= 10_000 ? `${Math.round(x / 1000)}k` : `${Math.round(x)}`;
const us = (x: number) => (x >= 100 ? `${Math.round(x)}` : x.toFixed(1));

function ratioRow(
  benchmark: string,
  e: number,
  r: number,
  unit: (x: number) => string,
  goal: number,
  atLeast: boolean,
  baseline = 'raw',
): Row {
  const ratio = e / r;
  return {
    benchmark,
    eldertree: unit(e),
    raw: unit(r),
    ratio,
    goal: `${atLeast ? '>=' : '<='} ${goal}x ${baseline}`,
    met: atLeast ? ratio >= goal : ratio <= goal,
  };
}

function latencyRow(benchmark: string, side: string, m: (side: string, key: string) => number, limitUs: number): Row {
  const p99 = m(side, 'p99');
  return {
    benchmark,
    eldertree: `${us(m(side, 'p50'))} / ${us(p99)} µs`,
    raw: `${us(m('raw', 'p50'))} / ${us(m('raw', 'p99'))} µs`,
    ratio: p99 / m('raw', 'p99'),
    goal: `p99 <= ${limitUs} µs`,
    met: p99 <= limitUs,
  };
}

/** A figure beside its baseline for reference only: no goal is set on it. */
function infoRow(row: Row): Row {
  return { ...row, goal: '(reference)', met: undefined };
}

/** A time in ms, median / max over every run, judged on the max. */
function worstRow(benchmark: string, key: string, limitMs: number, m: (side: string, key: string) => number, max: (side: string, key: string) => number): Row {
  const cell = (side: string) => `${Math.round(m(side, key))} / ${Math.round(max(side, key + 'Max'))} ms`;
  return {
    benchmark,
    eldertree: cell('eldertree'),
    raw: cell('raw'),
    ratio: m('eldertree', key) / m('raw', key),
    goal: `max <= ${limitMs} ms`,
    met: max('eldertree', key + 'Max') <= limitMs,
  };
}

const n = {
  tell: quick ? 200_000 : 1_000_000,
  restart: quick ? 1000 : 5000,
  heap: quick ? 20_000 : 100_000,
  spawn: quick ? 5000 : 20_000,
  remoteTell: quick ? 100_000 : 300_000,
  remoteAsk: quick ? 10_000 : 40_000,
  askSamples: quick ? 1000 : 5000,
  failovers: quick ? 2 : 4,
  lease: quick ? 500 : 2000,
  schema: quick ? 200_000 : 1_000_000,
  activations: quick ? 2000 : 10_000,
  flood: quick ? 1_000_000 : 5_000_000,
};
/** The unbounded side of the flood queues every message: past ~1M it meets the heap limit. */
const FLOOD_UNBOUNDED = 1_000_000;
/** What a flooded node may hold (the flood test's bound for a runtime process is 250 MB). */
const FLOOD_RSS_MB = 256;
/** Issue 17: Erlang's sustained restart p99 on this machine is 137-544 µs. */
const RESTART_P99_US = 250;
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
  // Telemetry's cost per message: metrics on (histograms timed with performance.now), and
  // tracing forced on with no OpenTelemetry SDK registered (by default it stays off then).
  {
    name: 'telemetry',
    file: 'tell',
    args: ['--n', String(n.tell), '--side', 'eldertree', '--window', '16'],
    sides: {
      off: [],
      metrics: ['--metrics', '1'],
      tracing: ['--tracing', '1'],
    },
    rows: (m) => [
      ratioRow(`local tell, msg/s, metrics on (${k(n.tell)} msgs) vs telemetry off`, m('metrics', 'rate'), m('off', 'rate'), k, 0.8, true, 'off'),
      ratioRow(`local tell, msg/s, tracing forced on, no SDK registered vs off`, m('tracing', 'rate'), m('off', 'rate'), k, 0.8, true, 'off'),
    ],
  },
  // Typed references must cost nothing per message next to the string API.
  {
    name: 'tell-typed',
    file: 'tell',
    args: ['--n', String(n.tell), '--side', 'eldertree', '--window', '16'],
    sides: { string: ['--style', 'string'], typed: ['--style', 'typed'], stringField: ['--style', 'string-field'], typedField: ['--style', 'typed-field'] },
    rows: (m) => [
      ratioRow(`local tell through a typed reference, msg/s, event without fields (${k(n.tell)} msgs) vs string tell`, m('typed', 'rate'), m('string', 'rate'), k, 0.97, true, 'string API'),
      ratioRow(`same, event with a field ({ type: 'inc', by: 1 }) vs string tell with payload { by: 1 }`, m('typedField', 'rate'), m('stringField', 'rate'), k, 0.97, true, 'string API'),
    ],
  },
  // Schema validation at the node boundary, next to the schema library's own cost.
  {
    name: 'schema',
    args: ['--n', String(n.schema)],
    sides: { zod: ['--side', 'zod'], standard: ['--side', 'standard'], boundary: ['--side', 'boundary'] },
    rows: (m) => [
      {
        benchmark: `schema check of a message from the wire (3-field zod object), ns/msg: node boundary vs zod parse (${k(n.schema)} msgs; zod's Standard Schema validate: ${Math.round(m('standard', 'ns'))} ns)`,
        eldertree: String(Math.round(m('boundary', 'ns'))),
        raw: String(Math.round(m('zod', 'ns'))),
        ratio: m('boundary', 'ns') / m('zod', 'ns'),
        goal: 'report',
        met: true,
      },
    ],
  },
  // Keyed entities on one node, each figure next to raw XState (or a pre-placed actor) in the same run.
  {
    name: 'entities-heap',
    file: 'entities',
    args: ['--n', String(n.heap)],
    sides: { raw: ['--side', 'raw-heap'], entity: ['--side', 'entity-heap'] },
    rows: (m) => [ratioRow(`heap per idle entity, bytes (${k(n.heap)} keys active) vs raw XState actor`, m('entity', 'bytes'), m('raw', 'bytes'), (x) => String(Math.round(x)), 1.5, false)],
  },
  {
    name: 'entities-activate',
    file: 'entities',
    args: ['--n', String(n.activations)],
    sides: { raw: ['--side', 'raw-activate'], entity: ['--side', 'entity-activate'] },
    rows: (m) => [
      {
        benchmark: `activation of a cold key, first message to answer, p50 / p99 µs (${k(n.activations)} keys, one node, not persistent) vs createActor().start() + send`,
        eldertree: `${us(m('entity', 'p50'))} / ${us(m('entity', 'p99'))}`,
        raw: `${us(m('raw', 'p50'))} / ${us(m('raw', 'p99'))}`,
        ratio: m('entity', 'p99') / m('raw', 'p99'),
        goal: 'report',
        met: true,
      },
    ],
  },
  {
    name: 'entities-rate',
    file: 'entities',
    args: ['--n', String(n.tell / 2)],
    sides: { one: ['--side', 'one-actor'], many: ['--side', 'many-keys'] },
    rows: (m) => [
      {
        benchmark: `local tell to random keys among 100k active entities, msg/s (${k(n.tell / 2)} msgs) vs the same load to one pre-placed actor`,
        eldertree: k(m('many', 'rate')),
        raw: k(m('one', 'rate')),
        ratio: m('many', 'rate') / m('one', 'rate'),
        goal: 'report',
        met: true,
      },
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
      latencyRow(`restart p50 / p99 (${k(n.restart)} after ${k(RESTART_WARMUP)} warm-up; intensity 1e6 per 1000 ms)`, 'eldertree', m, RESTART_P99_US),
      latencyRow(`restart p50 / p99 (same, intensity 1e6 per 1 ms)`, 'short', m, RESTART_P99_US),
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
  {
    name: 'cluster-tell',
    args: ['--n', String(n.remoteTell)],
    sides: { raw: ['--side', 'raw'], ceiling: ['--side', 'ceiling'], eldertree: ['--side', 'eldertree'], records: ['--side', 'records'], acked: ['--side', 'acked'], moleculer: ['--side', 'moleculer'] },
    rows: (m) => [
      ratioRow(`remote tell, msg/s (same) vs the design's ceiling (nats.js, frames of <= 512 rows, receiver decodes + actor.send of the same machine)`, m('eldertree', 'rate'), m('ceiling', 'rate'), k, 0.8, true, 'ceiling'),
      ratioRow(`remote tell, msg/s (same), standard msgpack batch frames vs v0 msgpackr-record frames`, m('eldertree', 'rate'), m('records', 'rate'), k, 0.9, true, 'record frames'),
      infoRow(ratioRow(`remote tell, msg/s, 100 B, 2 processes (${k(n.remoteTell)} msgs) vs nats.js pub/sub + msgpackr, no XState`, m('eldertree', 'rate'), m('raw', 'rate'), k, 0.75, true)),
      ratioRow(`remote tell, msg/s (same) vs Moleculer 0.15 emit`, m('eldertree', 'rate'), m('moleculer', 'rate'), k, 1.5, true, 'Moleculer'),
      ratioRow(`remote tell with requiresAck, msg/s (same) vs plain remote tell`, m('acked', 'rate'), m('eldertree', 'rate'), k, 0.6, true, 'plain tell'),
    ],
  },
  {
    name: 'cluster-ask',
    args: ['--n', String(n.remoteAsk), '--samples', String(n.askSamples), '--warmup', '1000'],
    sides: { raw: ['--side', 'raw'], ceiling: ['--side', 'ceiling'], eldertree: ['--side', 'eldertree'], records: ['--side', 'records'], moleculer: ['--side', 'moleculer'] },
    rows: (m) => [
      ratioRow(`remote ask, asks/s, 64 in flight (${k(n.remoteAsk)} asks) vs the design's ceiling on request/reply (nats.js request, the receiver decodes, actor.send of an echo machine whose action responds)`, m('eldertree', 'rate'), m('ceiling', 'rate'), k, 0.8, true, 'ceiling'),
      ratioRow(`remote ask, asks/s, 64 in flight (same), standard msgpack batch frames vs v0 msgpackr-record frames`, m('eldertree', 'rate'), m('records', 'rate'), k, 0.9, true, 'record frames'),
      ratioRow(`remote ask, asks/s, 64 in flight (same) vs Moleculer 0.15 call`, m('eldertree', 'rate'), m('moleculer', 'rate'), k, 1.5, true, 'Moleculer'),
      ratioRow(`remote ask p50, sequential, µs (${k(n.askSamples)} asks) vs nats.js request`, m('eldertree', 'p50'), m('raw', 'p50'), us, 1.2, false),
    ],
  },
  {
    name: 'cluster-failover',
    args: ['--reps', String(n.failovers)],
    sides: { raw: ['--side', 'raw'], eldertree: ['--side', 'eldertree'] },
    rows: (m, max) => [
      worstRow(`SIGKILL of the singleton's node, 3 nodes: until a survivor declares it down, median / max (${n.failovers * RUNS} kills) vs the same heartbeats in nats.js`, 'detect', 1000, m, max),
      worstRow(`same: until the singleton answers from another node, median / max vs the same KV lease in nats.js`, 'failover', 2000, m, max),
    ],
  },
  {
    name: 'cluster-lease',
    file: 'lease',
    args: ['--n', String(n.lease)],
    sides: { kv: ['--side', 'kv'] },
    rows: (m) => [
      ratioRow('lease acquire p50 (fresh key) vs kv.create, µs', m('kv', 'acquire'), m('kv', 'create'), us, 1.2, false),
      ratioRow('lease renew p50 vs kv.update, µs', m('kv', 'renew'), m('kv', 'update'), us, 1.2, false),
    ],
  },
  // Overload: a flood at a slow actor, with the default mailbox capacity and without one.
  {
    name: 'flood',
    args: [],
    sides: { bounded: ['--side', 'bounded', '--n', String(n.flood)], unbounded: ['--side', 'unbounded', '--n', String(FLOOD_UNBOUNDED)] },
    rows: (m, max) => {
      const series = (side: string) => Array.from({ length: 8 }, (_, i) => Math.round(m(side, `rss${i}`))).join(' ');
      return [
        {
          benchmark: `overload: ${k(n.flood)} tells at a 1 ms/message actor (one node), RSS max MB: default capacity (100k) vs capacity Infinity (${k(FLOOD_UNBOUNDED)} tells); RSS over the flood: ${series('bounded')} vs ${series('unbounded')}`,
          eldertree: String(Math.round(max('bounded', 'rssMax'))),
          raw: String(Math.round(max('unbounded', 'rssMax'))),
          ratio: m('bounded', 'rssMax') / m('unbounded', 'rssMax'),
          goal: `max <= ${FLOOD_RSS_MB} MB`,
          met: max('bounded', 'rssMax') <= FLOOD_RSS_MB,
        },
        {
          benchmark: `same, tells/s offered while flooded (processed ${Math.round(m('bounded', 'processed'))}, overflow ${k(m('bounded', 'overflow'))}, still queued ${k(m('bounded', 'queued'))}) vs capacity Infinity`,
          eldertree: k(m('bounded', 'rate')),
          raw: k(m('unbounded', 'rate')),
          ratio: m('bounded', 'rate') / m('unbounded', 'rate'),
          goal: 'processed + overflow + queued = sent',
          met: max('bounded', 'lost') === 0,
        },
      ];
    },
  },
  // The inspector's cost: local tell with it off, serving with nobody connected, and with one live client.
  {
    name: 'inspector',
    args: ['--n', String(n.tell)],
    sides: { off: ['--side', 'off'], idle: ['--side', 'idle'], watched: ['--side', 'watched'] },
    rows: (m) => [
      ratioRow(`local tell, msg/s, inspector on + 1 live client (${k(n.tell)} msgs) vs inspector off`, m('watched', 'rate'), m('off', 'rate'), k, 0.9, true, 'off'),
      ratioRow(`local tell, msg/s, inspector on, nobody watching vs inspector off`, m('idle', 'rate'), m('off', 'rate'), k, 0.9, true, 'off'),
    ],
  },
];

const matches = (c: Case, f: string) => c.name === f || c.name.startsWith(`${f}-`);
const unknown = filter.filter((f) => !CASES.some((c) => matches(c, f)));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
  process.exit(2);
}

const rows: Row[] = [];
const details: string[] = [];
for (const c of CASES) {
  if (filter.length && !filter.some((f) => matches(c, f))) continue;
  const labels = Object.keys(c.sides);
  const results: Record<string, Metrics[]> = Object.fromEntries(labels.map((l) => [l, []]));
  for (let round = 0; round < RUNS; round++) {
    // Alternate, and rotate who goes first, so drift on a noisy machine hits every side.
    const order = labels.map((_, i) => labels[(i + round) % labels.length]!);
    for (const label of order) {
      const args = [...c.sides[label]!, ...c.args];
      process.stderr.write(`${c.name} ${label} run ${round + 1}/${RUNS} ... `);
      const metrics = await runCase(c.file ?? c.name, args, 600_000);
      process.stderr.write(`${JSON.stringify(metrics)}\n`);
      results[label]!.push(metrics);
    }
  }
  const m = (side: string, key: string) => median(results[side]!.map((r) => r[key]!));
  const max = (side: string, key: string) => Math.max(...results[side]!.map((r) => r[key]!));
  rows.push(...c.rows(m, max));
  for (const label of labels) {
    for (const key of Object.keys(results[label]![0]!)) {
      details.push(`- ${c.name} ${label} ${key}: ${results[label]!.map((r) => +r[key]!.toPrecision(4)).join(', ')}`);
    }
  }
}

const table = [
  '| benchmark | eldertree | raw baseline | ratio | goal | met |',
  '|---|---:|---:|---:|---|:---:|',
  ...rows.map((r) => `| ${r.benchmark} | ${r.eldertree} | ${r.raw} | ${r.ratio >= 0.1 ? r.ratio.toFixed(2) : r.ratio.toPrecision(2)}x | ${r.goal} | ${r.met === undefined ? '–' : r.met ? 'yes' : 'no'} |`),
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
    `the ratio there is p99 / raw p99; SIGKILL cells are median / max, the ratio median / raw median.\n\n${table}\n\n## Every run\n\n${details.join('\n')}\n`,
);
console.error(`written to ${out}`);
