import type { AnyStateMachine } from 'xstate';
import { SHARD_COUNTS } from '../actors/entity-address.js';
import { isKind } from '../actors/kind.js';
import type { AutoShutdown } from './spec.js';

const ID = /^[A-Za-z0-9_-]+$/;
const STRATEGIES: readonly string[] = ['one_for_one', 'one_for_all', 'rest_for_one', 'simple_one_for_one'];
const RESTARTS: readonly string[] = ['permanent', 'transient', 'temporary'];
const AUTO_SHUTDOWNS: readonly string[] = ['never', 'any_significant', 'all_significant'];

// Every key a spec may have: a typo (`stratgy`) is an error, not a silent default.
const COMMON_KEYS = ['id', 'type', 'restart', 'shutdown', 'backoff', 'placement', 'significant'];
const WORKER_KEYS = new Set([...COMMON_KEYS, 'machine', 'kind', 'input', 'persist', 'capacity']);
const SUPERVISOR_KEYS = new Set([
  ...COMMON_KEYS,
  'strategy',
  'intensity',
  'period',
  'autoShutdown',
  'maxChildren',
  'children',
  'agent',
  'entities',
]);
const BACKOFF_KEYS = new Set(['initial', 'max', 'factor', 'resetAfter']);
const PLACEMENT_KEYS = new Set(['node', 'replicas', 'singleton', 'standby']);
const PERSIST_KEYS = new Set(['version', 'every', 'migrate']);
const ENTITY_KEYS = new Set(['kind', 'shards', 'idleAfter']);

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
  // One region per entity kind: `cart/<key>` must name one place in the cluster.
  const regions = new Map<string, string>();
  const walk = (s: Record<string, unknown>, parent: string) => {
    const path = `${parent}/${String(s.id)}`;
    const kind = isObject(s.entities) ? s.entities.kind : undefined;
    if (typeof kind === 'string') {
      const other = regions.get(kind);
      if (other !== undefined) problems.push(`${path}: a second region of entity kind ${kind} (the first is ${other})`);
      else regions.set(kind, path);
    }
    if (Array.isArray(s.children)) for (const c of s.children) if (isObject(c)) walk(c, path);
  };
  walk(spec, '');
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
    if (spec.persist !== undefined) checkPersist(spec.persist, say);
    const capacity = spec.capacity;
    if (capacity !== undefined && capacity !== Infinity && !(Number.isInteger(capacity) && (capacity as number) >= 1)) {
      say(`capacity must be an integer >= 1 or Infinity, got ${show(capacity)}`);
    }
  } else {
    say(`type must be "worker" or "supervisor", got ${show(spec.type)}`);
  }
}

function checkPersist(persist: unknown, say: (what: string) => void): void {
  const version = isObject(persist) ? persist.version : undefined;
  if (!isObject(persist) || !((typeof version === 'string' && version !== '') || (Number.isInteger(version) && (version as number) >= 1))) {
    return say(`persist must be { version: "1" | 3, every?: "message" | ms, migrate? }, got ${show(persist)}`);
  }
  checkKeys(persist, PERSIST_KEYS, 'persist.', say);
  if (persist.every !== undefined && persist.every !== 'message' && !(typeof persist.every === 'number' && persist.every > 0)) {
    say(`persist.every must be "message" or ms > 0, got ${show(persist.every)}`);
  }
  const migrate = persist.migrate;
  if (migrate === undefined) return;
  if (!Number.isInteger(version)) return say('persist.migrate needs an integer persist.version: step n upgrades a version-n snapshot to n + 1');
  if (!isObject(migrate)) return say(`persist.migrate must be { [fromVersion]: (snapshot) => snapshot }, got ${show(migrate)}`);
  for (const [from, step] of Object.entries(migrate)) {
    const n = Number(from);
    if (!Number.isInteger(n) || n < 1 || n >= (version as number)) say(`persist.migrate.${from}: a step upgrades version n (1 <= n < ${String(version)}) to n + 1`);
    else if (typeof step !== 'function') say(`persist.migrate.${from} must be a function (snapshot) => snapshot, got ${show(step)}`);
  }
}

/** A region's entity config: shards and idleAfter, and its template of that kind. */
function checkEntities(spec: Record<string, unknown>, say: (what: string) => void): void {
  const e = spec.entities;
  if (!isObject(e)) return say(`entities must be { kind, shards, idleAfter } (use entities(id, Kind, options)), got ${show(e)}`);
  checkKeys(e, ENTITY_KEYS, 'entities.', say);
  if (spec.strategy !== 'simple_one_for_one') say('an entity region is a simple_one_for_one supervisor');
  if (!SHARD_COUNTS.includes(e.shards as never)) say(`entities.shards must be one of ${SHARD_COUNTS.join(', ')}, got ${show(e.shards)}`);
  if (!(Number.isInteger(e.idleAfter) && (e.idleAfter as number) > 0)) say(`entities.idleAfter must be an integer of ms > 0, got ${show(e.idleAfter)}`);
  const template = Array.isArray(spec.children) ? (spec.children[0] as Record<string, unknown> | undefined) : undefined;
  const kind = template?.kind;
  if (!isKind(kind) || kind.name !== e.kind) say(`the entities of a region are workers of the kind ${show(e.kind)} (entities(id, Kind) sets both)`);
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
  if (spec.entities !== undefined) checkEntities(spec, say);
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
