/**
 * Shared by the runner (spawning cases, medians) and the cases (args, result line).
 * A case is `node build/bench/<case>.js --side <side> [--key value ...]`; it prints one
 * JSON line of numbers as its last stdout line and exits.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assign, setup } from 'xstate';

export type Metrics = Record<string, number>;

// ---- runner side ---------------------------------------------------------------------

/** Runs one measurement in a fresh process, so JIT state, heap and GC history never carry over. */
export function runCase(file: string, args: string[], timeoutMs = 300_000): Promise<Metrics> {
  const script = fileURLToPath(new URL(`./${file}.js`, import.meta.url));
  // --expose-gc everywhere: heap cases need it, the others collect before timing to cut noise.
  const argv = ['--expose-gc', script, ...args];
  return new Promise((resolve, reject) => {
    // execFile's timeout kills this child (by its pid) if it hangs.
    execFile(process.execPath, argv, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Metrics);
      } catch {
        reject(new Error(`${file} ${args.join(' ')} printed no result line:\n${stdout}\n${stderr}`));
      }
    });
  });
}

export function median(xs: readonly number[]): number {
  return percentile([...xs].sort((a, b) => a - b), 50);
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

// ---- case side -----------------------------------------------------------------------

/** `--side raw --n 1000` -> { side: 'raw', n: '1000' }. */
export function caseArgs(): Record<string, string> {
  const out: Record<string, string> = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i + 1 < argv.length; i += 2) out[argv[i]!.replace(/^--/, '')] = argv[i + 1]!;
  return out;
}

export function intArg(args: Record<string, string>, key: string): number {
  const v = Number(args[key]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${key} must be a positive integer, got ${args[key]}`);
  return v;
}

export function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with --expose-gc');
  collect();
  collect();
}

/** Prints the result line and ends the process (no graceful stop of 100k actors to wait for). */
export function report(metrics: Metrics): void {
  process.stdout.write(JSON.stringify(metrics) + '\n', () => process.exit(0));
}

/** The idle actor of the heap and spawn cases: 1 state + assign, as in BASELINES.md. */
export const counter = setup({
  types: { context: {} as { n: number }, events: {} as { type: 'inc' } },
}).createMachine({
  context: { n: 0 },
  initial: 'on',
  states: { on: { on: { inc: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
});
