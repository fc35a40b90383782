/**
 * The task sage's state as plain data and pure functions: tasks by id, the priority
 * queue, servants waiting for work, and the rules that keep every task running at
 * most once at a time and never lost:
 *
 * - queue order: higher priority first, then submission order (a re-queued task keeps
 *   its place among equals);
 * - every assignment is a numbered attempt with a deadline; the servant must confirm
 *   the start of that attempt (holding the task's lock) before it runs the handler;
 * - a task is re-queued when its servant crashed, went away, or missed a deadline,
 *   and fails for good after `maxAttempts` attempts or a non-retryable error;
 * - the first `done` report completes a task; later ones (a stale attempt) are
 *   counted as duplicates and change nothing.
 */
import type { Envelope } from '../../actors/envelope.js';
import type { Payload } from './messages.js';

export type TaskStatus = 'queued' | 'assigned' | 'running' | 'completed' | 'failed';

/** One servant incarnation: paths repeat across nodes (servants run on every node). */
export interface ServantRef {
  node: string;
  path: string;
  incarnation: number;
}

export interface TaskSpec {
  title: string;
  description: string;
  /** 0..9, 9 first. */
  priority: number;
  handler: string;
  input: Payload;
  /** ms the handler may run. */
  timeoutMs: number;
}

export interface Task extends TaskSpec {
  id: string;
  /** Submission order: FIFO among equal priorities. */
  seq: number;
  status: TaskStatus;
  /** Attempts made so far; the current attempt's number. */
  attempts: number;
  submittedAt: number;
  updatedAt: number;
  /** A re-queued task whose lock was still held waits until then. */
  notBefore?: number;
  servant?: ServantRef;
  deadline?: number;
  /** Order of the first assignment among all tasks (for checking priority order). */
  firstAssigned?: number;
  result?: Payload;
  error?: string;
  completedAt?: number;
  durationMs?: number;
  history: { at: number; what: string }[];
}

export interface Waiter {
  servant: ServantRef;
  /** The servant's pending ask: answered with a task, or with none when it expires. */
  envelope: Envelope | undefined;
  since: number;
}

export interface BoardConfig {
  /** ms a servant's ask for work is held before it is answered "no task". */
  pollMs: number;
  /** ms a servant has to confirm the start of an assignment. */
  assignTimeoutMs: number;
  /** ms past a task's own timeout before it is taken back. */
  graceMs: number;
  maxAttempts: number;
  /** Finished tasks kept for status queries; older ones are forgotten (the board is one snapshot). */
  maxFinished: number;
}

export interface BoardStats {
  submitted: number;
  completed: number;
  failed: number;
  requeued: number;
  crashes: number;
  timeouts: number;
  duplicates: number;
}

export interface Board {
  tasks: Record<string, Task>;
  /** Ids of queued tasks in the order they are handed out. */
  queue: string[];
  waiters: Waiter[];
  nextSeq: number;
  assignCount: number;
  paused: boolean;
  /** Finished ids, oldest first (eviction order). */
  finished: string[];
  stats: BoardStats;
}

export const emptyBoard = (): Board => ({
  tasks: {},
  queue: [],
  waiters: [],
  nextSeq: 1,
  assignCount: 0,
  paused: false,
  finished: [],
  stats: { submitted: 0, completed: 0, failed: 0, requeued: 0, crashes: 0, timeouts: 0, duplicates: 0 },
});

// Bounded: the board is one snapshot (a NATS KV value, at most 1 MiB by default).
const HISTORY = 12;

function note(task: Task, now: number, what: string): Task {
  const history = task.history.length >= HISTORY ? task.history.slice(1 - HISTORY) : task.history.slice();
  history.push({ at: now, what });
  return { ...task, history, updatedAt: now };
}

export const sameServant = (a: ServantRef, b: ServantRef) => a.node === b.node && a.path === b.path;

export const servantName = (s: ServantRef) => `${s.path}#${s.incarnation}@${s.node}`;

/** Before `b` in the queue? Higher priority first, then earlier submission. */
function before(a: Task, b: Task): boolean {
  return a.priority !== b.priority ? a.priority > b.priority : a.seq < b.seq;
}

function enqueue(board: Board, task: Task): string[] {
  const queue = board.queue.slice();
  let lo = 0;
  let hi = queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(board.tasks[queue[mid]!]!, task)) lo = mid + 1;
    else hi = mid;
  }
  queue.splice(lo, 0, task.id);
  return queue;
}

/**
 * The task table is updated in place: it holds up to thousands of tasks, and a copy
 * per message would make every message cost O(tasks). Every other field of the board
 * is replaced, so each step still yields a new board (a new XState context), and a
 * persisted snapshot is encoded at once, before the next message changes the table.
 */
function put(board: Board, task: Task): Board {
  board.tasks[task.id] = task;
  return { ...board };
}

/** A new task, queued. */
export function submit(board: Board, spec: TaskSpec, now: number, id?: string): { board: Board; task: Task } {
  const seq = board.nextSeq;
  const task: Task = note(
    { ...spec, id: id ?? `t${seq}`, seq, status: 'queued', attempts: 0, submittedAt: now, updatedAt: now, history: [] },
    now,
    `queued at priority ${spec.priority}`,
  );
  let next = put({ ...board, nextSeq: seq + 1, stats: { ...board.stats, submitted: board.stats.submitted + 1 } }, task);
  next = { ...next, queue: enqueue(next, task) };
  return { board: next, task };
}

/**
 * Takes a task back into the queue (or fails it for good once its attempts are used
 * up). `why` goes to its history.
 */
export function requeue(
  board: Board,
  id: string,
  now: number,
  why: string,
  config: BoardConfig,
  opts: { notBefore?: number; crash?: boolean; timeout?: boolean } = {},
): { board: Board; task: Task } {
  const old = board.tasks[id]!;
  const stats = {
    ...board.stats,
    crashes: board.stats.crashes + (opts.crash ? 1 : 0),
    timeouts: board.stats.timeouts + (opts.timeout ? 1 : 0),
  };
  if (old.attempts >= config.maxAttempts) {
    return finish({ ...board, stats }, id, now, 'failed', { error: `gave up after ${old.attempts} attempts; last: ${why}` });
  }
  const { servant: _s, deadline: _d, notBefore: _n, ...rest } = old;
  const task = note({ ...rest, status: 'queued', ...(opts.notBefore ? { notBefore: opts.notBefore } : {}) }, now, `re-queued: ${why}`);
  let next = put({ ...board, stats: { ...stats, requeued: stats.requeued + 1 } }, task);
  next = { ...next, queue: enqueue(next, task) };
  return { board: next, task };
}

function finish(
  board: Board,
  id: string,
  now: number,
  status: 'completed' | 'failed',
  outcome: { result?: Payload; error?: string; durationMs?: number },
): { board: Board; task: Task } {
  const old = board.tasks[id]!;
  const { deadline: _d, notBefore: _n, ...rest } = old;
  const task = note(
    { ...rest, status, completedAt: now, ...outcome },
    now,
    status === 'completed' ? 'completed' : `failed: ${outcome.error ?? 'unknown error'}`,
  );
  const stats = { ...board.stats, [status]: board.stats[status] + 1 };
  const queue = old.status === 'queued' ? board.queue.filter((q) => q !== id) : board.queue;
  const next = put({ ...board, stats, queue, finished: [...board.finished, id] }, task);
  return { board: next, task };
}

/** Forgets the oldest finished tasks past `max` (status queries for them say unknown). */
export function evict(board: Board, max: number): Board {
  if (board.finished.length <= max) return board;
  const drop = board.finished.slice(0, board.finished.length - max);
  const tasks = board.tasks;
  for (const id of drop) delete tasks[id];
  return { ...board, finished: board.finished.slice(drop.length) };
}

/** Tasks held (assigned or running) by this servant path on this node, by any incarnation. */
function heldBy(board: Board, servant: ServantRef, olderThan?: number): Task[] {
  return Object.values(board.tasks).filter(
    (t) =>
      (t.status === 'assigned' || t.status === 'running') &&
      t.servant !== undefined &&
      sameServant(t.servant, servant) &&
      (olderThan === undefined || t.servant.incarnation <= olderThan),
  );
}

/**
 * A servant asks for work. It is working on nothing, so whatever the board thinks it
 * holds (a reply that never reached it, a task of a crashed earlier incarnation) goes
 * back to the queue; an older wait of the same servant is dropped.
 */
export function ready(board: Board, waiter: Waiter, config: BoardConfig): { board: Board; requeued: Task[]; dropped: Waiter[] } {
  const dropped = board.waiters.filter((w) => sameServant(w.servant, waiter.servant));
  let next: Board = { ...board, waiters: [...board.waiters.filter((w) => !sameServant(w.servant, waiter.servant)), waiter] };
  const requeued: Task[] = [];
  for (const task of heldBy(next, waiter.servant)) {
    const crashed = task.servant!.incarnation < waiter.servant.incarnation;
    // A crash may be the task's doing and counts; a lost assignment is not, and does not.
    if (!crashed) next = put(next, { ...task, attempts: Math.max(0, task.attempts - 1) });
    const r = requeue(next, task.id, waiter.since, crashed ? `${servantName(task.servant!)} restarted` : `${servantName(task.servant!)} asked for new work`, config, { crash: crashed });
    next = r.board;
    requeued.push(r.task);
  }
  return { board: next, requeued, dropped };
}

/** A servant incarnation is gone (crashed, stopped, removed): its tasks go back. */
export function servantDown(board: Board, servant: ServantRef, now: number, why: string, config: BoardConfig): { board: Board; requeued: Task[]; dropped: Waiter[] } {
  const gone = (w: Waiter) => sameServant(w.servant, servant) && w.servant.incarnation <= servant.incarnation;
  const dropped = board.waiters.filter(gone);
  let next: Board = { ...board, waiters: board.waiters.filter((w) => !gone(w)) };
  const requeued: Task[] = [];
  for (const task of heldBy(next, servant, servant.incarnation)) {
    const r = requeue(next, task.id, now, `${servantName(task.servant!)} ${why}`, config, { crash: why.startsWith('crashed') });
    next = r.board;
    requeued.push(r.task);
  }
  return { board: next, requeued, dropped };
}

/** A node is gone: its servants' waits are dropped and their tasks go back. */
export function nodeDown(board: Board, node: string, now: number, why: string, config: BoardConfig): { board: Board; requeued: Task[] } {
  let next: Board = { ...board, waiters: board.waiters.filter((w) => w.servant.node !== node) };
  const requeued: Task[] = [];
  for (const task of Object.values(next.tasks)) {
    if ((task.status === 'assigned' || task.status === 'running') && task.servant?.node === node) {
      const r = requeue(next, task.id, now, `node ${node} went down (${why})`, config, { crash: true });
      next = r.board;
      requeued.push(r.task);
    }
  }
  return { board: next, requeued };
}

/**
 * Hands queued tasks to waiting servants, best task to the longest waiter, unless
 * paused. A task waiting out a held lock (notBefore) is skipped until then.
 */
export function dispatch(board: Board, now: number, config: BoardConfig): { board: Board; assignments: { waiter: Waiter; task: Task }[] } {
  if (board.paused || board.waiters.length === 0 || board.queue.length === 0) return { board, assignments: [] };
  const assignments: { waiter: Waiter; task: Task }[] = [];
  const waiters = board.waiters.slice();
  const kept: string[] = [];
  let assignCount = board.assignCount;
  let i = 0;
  for (; i < board.queue.length && waiters.length > 0; i++) {
    const id = board.queue[i]!;
    const task = board.tasks[id]!;
    if (task.notBefore !== undefined && task.notBefore > now) {
      kept.push(id);
      continue;
    }
    const waiter = waiters.shift()!;
    const attempts = task.attempts + 1;
    const { notBefore: _n, ...rest } = task;
    const assigned = note(
      {
        ...rest,
        status: 'assigned',
        attempts,
        servant: waiter.servant,
        deadline: now + config.assignTimeoutMs,
        firstAssigned: task.firstAssigned ?? ++assignCount,
      },
      now,
      `attempt ${attempts} assigned to ${servantName(waiter.servant)}`,
    );
    board.tasks[id] = assigned;
    assignments.push({ waiter, task: assigned });
  }
  if (assignments.length === 0) return { board, assignments };
  // Untouched past the last servant served: the rest of the queue stays as it is.
  const queue = i < board.queue.length ? kept.concat(board.queue.slice(i)) : kept;
  return { board: { ...board, queue, waiters, assignCount }, assignments };
}

export type StartAnswer = { go: true; task: Task } | { go: false; reason: string };

/** A servant holding the task's lock asks to start attempt `attempt`. */
export function confirmStart(board: Board, id: string, attempt: number, servant: ServantRef, now: number, config: BoardConfig): { board: Board; answer: StartAnswer } {
  const task = board.tasks[id];
  if (!task) return { board, answer: { go: false, reason: `unknown task ${id}` } };
  if (task.status !== 'assigned' || task.attempts !== attempt || !task.servant || !sameServant(task.servant, servant)) {
    return { board, answer: { go: false, reason: `attempt ${attempt} of ${id} is not current (task is ${task.status}, attempt ${task.attempts})` } };
  }
  const running = note(
    { ...task, status: 'running', servant, deadline: now + task.timeoutMs + config.graceMs },
    now,
    `attempt ${attempt} running on ${servantName(servant)}`,
  );
  return { board: put(board, running), answer: { go: true, task: running } };
}

/** The first `done` completes the task; a later one is a duplicate and changes nothing. */
export function complete(board: Board, id: string, result: Payload, durationMs: number, now: number): { board: Board; task?: Task; duplicate: boolean } {
  const task = board.tasks[id];
  if (!task) return { board, duplicate: false };
  if (task.status === 'completed' || task.status === 'failed') {
    return { board: { ...board, stats: { ...board.stats, duplicates: board.stats.duplicates + 1 } }, task, duplicate: true };
  }
  const r = finish(board, id, now, 'completed', { result, durationMs });
  return { board: r.board, task: r.task, duplicate: false };
}

/**
 * An attempt failed. Retryable failures (a crash, a timeout) go back to the queue;
 * others (an unknown handler, bad input) fail the task now. A report about an attempt
 * that is no longer current changes nothing.
 */
export function failAttempt(
  board: Board,
  id: string,
  attempt: number,
  error: string,
  retryable: boolean,
  crash: boolean,
  now: number,
  config: BoardConfig,
): { board: Board; task?: Task; stale: boolean } {
  const task = board.tasks[id];
  if (!task || task.attempts !== attempt || (task.status !== 'assigned' && task.status !== 'running')) return { board, stale: true, ...(task ? { task } : {}) };
  const r = retryable
    ? requeue(board, id, now, crash ? `servant crashed: ${error}` : error, config, { crash })
    : finish(board, id, now, 'failed', { error });
  return { board: r.board, task: r.task, stale: false };
}

/** The servant could not take the task's lock: try again once the holder's lock lapses. */
export function lockBusy(board: Board, id: string, attempt: number, retryAfterMs: number, now: number, config: BoardConfig): { board: Board; task?: Task } {
  const task = board.tasks[id];
  if (!task || task.attempts !== attempt || task.status !== 'assigned') return { board };
  // A lock conflict is not the task's fault: give the attempt back.
  const r = requeue(put(board, { ...task, attempts: task.attempts - 1 }), id, now, 'its lock is still held', config, {
    notBefore: now + Math.max(20, Math.min(retryAfterMs, 5000)),
  });
  return { board: r.board, task: r.task };
}

/**
 * The clock: attempts past their deadline go back to the queue (the lock still keeps
 * a slow servant's copy from running next to the new one); waits past `pollMs` are
 * answered with no task so servants ask again.
 */
export function expire(board: Board, now: number, config: BoardConfig): { board: Board; timedOut: Task[]; expired: Waiter[] } {
  let next = board;
  const timedOut: Task[] = [];
  for (const task of Object.values(board.tasks)) {
    if ((task.status === 'assigned' || task.status === 'running') && task.deadline !== undefined && task.deadline <= now) {
      const what = task.status === 'assigned' ? 'the servant did not confirm the start' : `no report within ${task.timeoutMs} ms`;
      const r = requeue(next, task.id, now, `timed out: ${what} (${servantName(task.servant!)})`, config, { timeout: true });
      next = r.board;
      timedOut.push(r.task);
    }
  }
  const expired = next.waiters.filter((w) => now - w.since >= config.pollMs);
  if (expired.length > 0) next = { ...next, waiters: next.waiters.filter((w) => now - w.since < config.pollMs) };
  return { board: next, timedOut, expired };
}

/**
 * The sage (re)started, possibly from a snapshot on another node after a failover:
 * whatever was in flight is re-checked (and the sage answers the restored waits). Safe even where the servant is still at it:
 * its lock keeps a second copy from running, and its report, if it comes, completes
 * the task first.
 */
export function recheckInFlight(board: Board, now: number, config: BoardConfig): { board: Board; requeued: Task[] } {
  let next = board;
  const requeued: Task[] = [];
  for (const task of Object.values(board.tasks)) {
    if (task.status !== 'assigned' && task.status !== 'running') continue;
    // Not the task's fault: the attempt it was on is given back.
    next = put(next, { ...task, attempts: Math.max(0, task.attempts - 1) });
    const r = requeue(next, task.id, now, 'the task sage restarted while it was in flight', config);
    next = r.board;
    requeued.push(r.task);
  }
  return { board: next, requeued };
}

/** What a status answer shows of a task. */
export function taskView(task: Task): Payload {
  const { seq: _seq, ...view } = task;
  return view as unknown as Payload;
}

/** The short form that goes into reports. */
export function taskSummary(task: Task): Payload {
  return {
    id: task.id,
    title: task.title,
    priority: task.priority,
    handler: task.handler,
    status: task.status,
    attempts: task.attempts,
    ...(task.servant ? { servant: servantName(task.servant) } : {}),
    ...(task.error !== undefined ? { error: task.error } : {}),
    ...(task.durationMs !== undefined ? { durationMs: task.durationMs } : {}),
  };
}

export function counts(board: Board): Record<TaskStatus, number> {
  const c: Record<TaskStatus, number> = { queued: 0, assigned: 0, running: 0, completed: 0, failed: 0 };
  for (const t of Object.values(board.tasks)) c[t.status]++;
  return c;
}
