import type { AnyStateMachine } from 'xstate';
import { isKind } from '../actors/kind.js';
import type { AutoShutdown } from './spec.js';

const ID = /^[A-Za-z0-9_-]+$/;
const STRATEGIES: readonly string[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'];
const RESTARTS: readonly string[] = ['permanent', 'transient', 'temporary'];
const AUTO_SHUTDOWNS: readonly string[] = ['never', 'any_significant', 'all_significant'];

// Every key a spec may have: a typo (`stratgy`) is an error, not a silent default.
const COMMON_KEYS = ['id', 'type', 'restart', 'shutdown', 'backoff', 'placement', 'significant'];
const WORKER_KEYS = new Set([...COMMON_KEYS, 'machine', 'kind', 'input', 'persist']);
const SUPERVISOR_KEYS = new Set([
  ...COMMON_KEYS,
  'strategy',
  'intensity',
  'period',
  'autoShutdown',
  'maxChildren',
  'children',
  'agent',
]);
const BACKOFF_KEYS = new Set(['initial', 'max', 'factor', 'resetAfter']);
const PLACEMENT_KEYS = new Set(['node', 'replicas', 'singleton', 'standby']);
const PERSIST_KEYS = new Set(['version', 'every']);

/** What a child spec is checked against: its supervisor's flags. */
export interface ParentFlags {
  path: string;
  autoShutdown: AutoShutdown;
}

/**
 * Every problem in a tree, each naming the path it is at. An empty list means the tree
 * can start. Input is `unknown` because trees also come from files.
 */
export function validateTree(spec: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(spec)) return ['the tree must be a supervisor spec object'];
  if (spec.type !== 'supervisor') problems.push(`/${String(spec.id ?? '?')}: the root must have type "supervisor"`);
  checkChild(spec, { path: '', autoShutdown: 'never' }, problems);
  return problems;
}

/** The problems of one child spec added under a running supervisor (start_child). */
export function validateChild(spec: unknown, parent: ParentFlags): string[] {
  const problems: string[] = [];
  if (!isObject(spec)) return [`${parent.path}: a child spec must be an object, got ${show(spec)}`];
  checkChild(spec, parent, problems);
  return problems;
}

function checkChild(spec: Record<string, unknown>, parent: ParentFlags, problems: string[]): void {
  const id = spec.id;
  const path = `${parent.path}/${typeof id === 'string' ? id : '?'}`;
  const say = (what: string) => problems.push(`${path}: ${what}`);
  if (typeof id !== 'string' || !ID.test(id)) say(`id must match ${ID} (letters, digits, _ and -), got ${show(id)}`);
  const isSup = spec.type === 'supervisor';
  if (isSup || spec.type === undefined || spec.type === 'worker') checkKeys(spec, isSup ? SUPERVISOR_KEYS : WORKER_KEYS, '', say);
  if (spec.restart !== undefined && !RESTARTS.includes(spec.restart as string)) {
    say(`restart must be permanent, transient or temporary, got ${show(spec.restart)}`);
  }
  const shutdown = spec.shutdown;
  if (
    shutdown !== undefined &&
    shutdown !== 'brutal_kill' &&
    shutdown !== 'infinity' &&
    !(Number.isInteger(shutdown) && (shutdown as number) >= 0)
  ) {
    say(`shutdown must be an integer of ms >= 0, "brutal_kill" or "infinity", got ${show(shutdown)}`);
  }
  checkSignificant(spec, parent, say);
  if (spec.backoff !== undefined) checkBackoff(spec.backoff, say);
  if (spec.placement !== undefined) checkPlacement(spec.placement, say);
  if (isSup) checkSupervisor(spec, path, say, problems);
  else if (spec.type === undefined || spec.type === 'worker') {
    if (!isMachine(spec.machine)) say('machine must be an XState machine (setup(...).createMachine(...))');
    if (spec.kind !== undefined && !(isKind(spec.kind) && spec.kind.machine === spec.machine)) {
      say('kind must be the kind(...) of this worker\'s machine (worker(id, Kind) sets both)');
    }
    const persist = spec.persist;
    if (persist !== undefined) {
      if (!isObject(persist) || typeof persist.version !== 'string' || persist.version === '') {
        say(`persist must be { version: "1", every?: "message" | ms }, got ${show(persist)}`);
      } else {
        checkKeys(persist, PERSIST_KEYS, 'persist.', say);
        if (persist.every !== undefined && persist.every !== 'message' && !(typeof persist.every === 'number' && persist.every > 0)) {
          say(`persist.every must be "message" or ms > 0, got ${show(persist.every)}`);
        }
      }
    }
  } else {
    say(`type must be "worker" or "supervisor", got ${show(spec.type)}`);
  }
}

/** supervisor.erl check_flags/1: strategy, intensity >= 0, period > 0 (integers), auto_shutdown. */
function checkSupervisor(spec: Record<string, unknown>, path: string, say: (what: string) => void, problems: string[]): void {
  if (spec.strategy !== undefined && !STRATEGIES.includes(spec.strategy as string)) {
    say(`strategy must be one_for_one, one_for_all, rest_for_one or simple_one_for_one, got ${show(spec.strategy)}`);
  }
  if (spec.intensity !== undefined && !(Number.isInteger(spec.intensity) && (spec.intensity as number) >= 0)) {
    say(`intensity must be an integer >= 0, got ${show(spec.intensity)}`);
  }
  if (spec.period !== undefined && !(Number.isInteger(spec.period) && (spec.period as number) > 0)) {
    say(`period must be an integer number of ms > 0, got ${show(spec.period)}`);
  }
  const autoShutdown = spec.autoShutdown ?? 'never';
  if (!AUTO_SHUTDOWNS.includes(autoShutdown as string)) {
    say(`autoShutdown must be never, any_significant or all_significant, got ${show(spec.autoShutdown)}`);
  }
  const dynamic = spec.strategy === 'simple_one_for_one';
  if (spec.maxChildren !== undefined) {
    if (!dynamic) say('maxChildren goes with strategy simple_one_for_one');
    else if (!(Number.isInteger(spec.maxChildren) && (spec.maxChildren as number) >= 0)) {
      say(`maxChildren must be an integer >= 0, got ${show(spec.maxChildren)}`);
    }
  }
  if (!Array.isArray(spec.children)) {
    say('children must be a list');
    return;
  }
  if (dynamic) {
    // OTP: exactly one child spec, the template every child is started from.
    const template = spec.children[0] as unknown;
    if (spec.children.length !== 1 || !isObject(template) || template.type === 'supervisor') {
      say('a simple_one_for_one supervisor takes exactly one child: the worker template its children are started from');
    }
    if (spec.agent !== undefined) say('a simple_one_for_one supervisor has no agent');
  } else if (spec.agent !== undefined) {
    const agent = (spec.children as Record<string, unknown>[]).find((c) => isObject(c) && c.id === spec.agent);
    if (!agent) say(`agent ${show(spec.agent)} must be the id of one of its children`);
    else if (agent.type === 'supervisor') say(`agent ${show(spec.agent)} must be a worker, not a supervisor`);
  }
  const flags: ParentFlags = { path, autoShutdown: AUTO_SHUTDOWNS.includes(autoShutdown as string) ? (autoShutdown as AutoShutdown) : 'never' };
  const seen = new Set<unknown>();
  for (const child of spec.children as unknown[]) {
    if (!isObject(child)) {
      say(`every child must be a spec object, got ${show(child)}`);
      continue;
    }
    if (seen.has(child.id)) say(`two children have the id ${show(child.id)}`);
    seen.add(child.id);
    checkChild(child, flags, problems);
  }
}

/** supervisor.erl check_significant/3: a boolean; never with permanent, nor under auto_shutdown never. */
function checkSignificant(spec: Record<string, unknown>, parent: ParentFlags, say: (what: string) => void): void {
  const significant = spec.significant;
  if (significant === undefined || significant === false) return;
  if (significant !== true) return void say(`significant must be true or false, got ${show(significant)}`);
  if ((spec.restart ?? 'permanent') === 'permanent') say('a significant child must be transient or temporary, not permanent');
  if (parent.autoShutdown === 'never') say(`significant: true needs autoShutdown any_significant or all_significant on ${parent.path || 'its supervisor'}`);
}

function checkKeys(spec: Record<string, unknown>, known: Set<string>, prefix: string, say: (what: string) => void): void {
  for (const key of Object.keys(spec)) {
    if (!known.has(key)) say(`unknown key ${prefix}${key} (expected one of ${[...known].map((k) => prefix + k).join(', ')})`);
  }
}

function checkPlacement(placement: unknown, say: (what: string) => void): void {
  if (!isObject(placement)) return void say('placement must be { node? , replicas?, singleton?, standby? }');
  checkKeys(placement, PLACEMENT_KEYS, 'placement.', say);
  const { node, replicas, singleton, standby } = placement;
  const kinds = [node !== undefined, replicas !== undefined, singleton !== undefined && singleton !== false];
  if (kinds.filter(Boolean).length > 1) say('placement takes one of node, replicas or singleton');
  if (node !== undefined && !(typeof node === 'string' && ID.test(node))) say(`placement.node must be a node name, got ${show(node)}`);
  if (replicas !== undefined && !(Number.isInteger(replicas) && (replicas as number) >= 1)) {
    say(`placement.replicas must be an integer >= 1, got ${show(replicas)}`);
  }
  if (singleton !== undefined && typeof singleton !== 'boolean') say(`placement.singleton must be true or false, got ${show(singleton)}`);
  if (standby !== undefined) {
    if (!(Array.isArray(standby) && standby.every((n) => typeof n === 'string' && ID.test(n)))) {
      say(`placement.standby must be a list of node names, got ${show(standby)}`);
    } else if (!singleton) say('placement.standby goes with singleton: true');
  }
}

function checkBackoff(backoff: unknown, say: (what: string) => void): void {
  if (!isObject(backoff)) return void say('backoff must be { initial, max, factor?, resetAfter? }');
  checkKeys(backoff, BACKOFF_KEYS, 'backoff.', say);
  const { initial, max, factor, resetAfter } = backoff;
  if (!(typeof initial === 'number' && initial >= 0)) say(`backoff.initial must be ms >= 0, got ${show(initial)}`);
  if (!(typeof max === 'number' && max >= 0)) say(`backoff.max must be ms >= 0, got ${show(max)}`);
  if (factor !== undefined && !(typeof factor === 'number' && factor >= 1)) say(`backoff.factor must be >= 1, got ${show(factor)}`);
  if (resetAfter !== undefined && !(typeof resetAfter === 'number' && resetAfter >= 0)) {
    say(`backoff.resetAfter must be ms >= 0, got ${show(resetAfter)}`);
  }
}

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id);
}

function isMachine(value: unknown): value is AnyStateMachine {
  return isObject(value) && typeof value.transition === 'function' && typeof value.getInitialSnapshot === 'function';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
