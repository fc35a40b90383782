/**
 * What servants can do: named task handlers. The built-in ones are real but safe (no
 * file system, no network, no shell); a tree adds its own through the servants'
 * `handlers` input.
 */
import { createHash } from 'node:crypto';
import type { Payload } from './messages.js';

export interface HandlerContext {
  taskId: string;
  attempt: number;
  /** Aborted when the servant stops (crash, quarantine, shutdown): stop working. */
  signal: AbortSignal;
  /**
   * True while this attempt still holds the task's lock: check it right before a side
   * effect that must not happen twice (no I/O, so nothing can come between). The lock
   * keeps any other attempt from running until it has lapsed, so a side effect made
   * while this is true never overlaps another attempt's. The last answer decides the
   * attempt: told true, a handler that returns is done even if the lock lapses after;
   * told false, it was fenced off and the attempt is retried, whatever it returns.
   */
  holdsLock(): boolean;
}

export type TaskHandler = (input: Payload, ctx: HandlerContext) => Payload | Promise<Payload>;
export type Handlers = Record<string, TaskHandler>;

/** Thrown by a handler to make its servant crash (let it crash), not only fail the task. */
export class ServantCrash extends Error {
  override name = 'ServantCrash';
}

/** A failure that retrying cannot fix (bad input, unknown handler): the task fails at once. */
export class PermanentTaskError extends Error {
  override name = 'PermanentTaskError';
}

const MAX_SLEEP_MS = 60_000;
const TRANSFORMS: Record<string, (s: string) => string> = {
  upper: (s) => s.toUpperCase(),
  lower: (s) => s.toLowerCase(),
  reverse: (s) => [...s].reverse().join(''),
  title: (s) => s.replace(/\b\p{L}/gu, (c) => c.toUpperCase()),
  slug: (s) =>
    s
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, ''),
};

function textOf(input: Payload, field: string): string {
  const value = input[field];
  if (typeof value === 'string') return value;
  if (value === undefined) throw new PermanentTaskError(`input.${field} is required (a string)`);
  throw new PermanentTaskError(`input.${field} must be a string`);
}

/** A number in [0, 1) from a string: the same task and attempt always draw the same. */
export function draw(seed: string): number {
  return createHash('sha256').update(seed).digest().readUInt32BE(0) / 2 ** 32;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

const hash: TaskHandler = (input) => {
  const algorithm = input.algorithm ?? 'sha256';
  if (algorithm !== 'sha256' && algorithm !== 'sha512') throw new PermanentTaskError('input.algorithm must be sha256 or sha512');
  const data = typeof input.data === 'string' ? input.data : JSON.stringify(input.data ?? '');
  return { algorithm, digest: createHash(algorithm).update(data).digest('hex'), bytes: Buffer.byteLength(data) };
};

export const builtinHandlers: Handlers = {
  /** sha256 (or sha512) of `data`. */
  hash,
  /** `text` through `op`: upper, lower, reverse, title, slug, or words (a count). */
  transform: (input) => {
    const text = textOf(input, 'text');
    const op = typeof input.op === 'string' ? input.op : 'upper';
    if (op === 'words') return { op, words: text.split(/\s+/).filter(Boolean).length };
    const fn = TRANSFORMS[op];
    if (!fn) throw new PermanentTaskError(`input.op must be one of ${[...Object.keys(TRANSFORMS), 'words'].join(', ')}`);
    return { op, text: fn(text) };
  },
  /** Waits `ms` (at most a minute), for testing timeouts and load. */
  sleep: async (input, ctx) => {
    const ms = input.ms;
    if (typeof ms !== 'number' || !(ms >= 0 && ms <= MAX_SLEEP_MS)) throw new PermanentTaskError(`input.ms must be 0..${MAX_SLEEP_MS}`);
    await sleep(ms, ctx.signal);
    return { slept: ms };
  },
  /** Fails the attempt (retried) or, with `permanent: true`, the task. */
  fail: (input) => {
    const message = typeof input.message === 'string' ? input.message : 'failed on purpose';
    throw input.permanent === true ? new PermanentTaskError(message) : new Error(message);
  },
  /** Crashes the servant on the first `times` attempts (default 1), then succeeds. */
  crash: (input, ctx) => {
    const times = typeof input.times === 'number' ? input.times : 1;
    if (ctx.attempt <= times) throw new ServantCrash(typeof input.message === 'string' ? input.message : 'injected servant crash');
    return { survived: true, attempt: ctx.attempt };
  },
  /** Crashes the servant with probability `rate` per attempt (drawn from task id and attempt), else hashes `data`. */
  flaky: (input, ctx) => {
    const rate = typeof input.rate === 'number' ? input.rate : 0.2;
    if (draw(`${ctx.taskId}#${ctx.attempt}`) < rate) throw new ServantCrash('flaky handler crashed its servant');
    return hash(input, ctx);
  },
};

export const HANDLER_NAMES = Object.keys(builtinHandlers);
