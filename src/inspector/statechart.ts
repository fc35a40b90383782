import type { AnyStateMachine } from 'xstate';
import type { ChartNode, ChartTransition, SnapshotView } from './protocol.js';
import { toPlain } from './plain.js';

/**
 * Reads a machine's statechart from `machine.toJSON()` into the small tree the page
 * draws (nested states, transitions per state with targets as key paths), and answers
 * which events a snapshot can take now.
 */

interface DefinitionNode {
  id: string;
  key: string;
  type: ChartNode['type'];
  initial?: { target?: unknown[] };
  states?: Record<string, DefinitionNode>;
  transitions?: DefinitionTransition[];
  entry?: unknown[];
  exit?: unknown[];
  invoke?: { id?: string; src?: unknown }[];
  tags?: string[];
}

interface DefinitionTransition {
  eventType: string;
  target?: unknown[];
  guard?: unknown;
  delay?: unknown;
  actions?: unknown[];
}

export interface Statechart {
  machineId: string;
  root: ChartNode;
  /** Every event type with a transition somewhere, wildcard and reserved ones left out. */
  events: string[];
  wildcard: boolean;
}

const charts = new WeakMap<AnyStateMachine, Statechart>();

/** Machines never change: one chart per machine object. */
export function statechartOf(machine: AnyStateMachine): Statechart {
  let chart = charts.get(machine);
  if (!chart) charts.set(machine, (chart = build(machine)));
  return chart;
}

/** Types the runtime refuses from senders (XState internals, the runtime's own). */
export function isReservedType(type: string): boolean {
  return type.startsWith('xstate.') || type.startsWith('eldertree.');
}

function build(machine: AnyStateMachine): Statechart {
  const definition = machine.toJSON() as unknown as DefinitionNode;
  // Transitions name targets by state id; the page works in key paths.
  const pathById = new Map<string, string>();
  const index = (node: DefinitionNode, path: string) => {
    pathById.set(node.id, path);
    for (const [key, child] of Object.entries(node.states ?? {})) index(child, path ? `${path}.${key}` : key);
  };
  index(definition, '');
  const targetPath = (t: unknown): string | undefined => {
    const id = typeof t === 'string' ? t.replace(/^#/, '') : (t as { id?: string } | null)?.id;
    return id === undefined ? undefined : pathById.get(id);
  };
  const convert = (node: DefinitionNode, path: string): ChartNode => {
    const initialTarget = node.initial?.target?.[0];
    const initialPath = initialTarget === undefined ? undefined : targetPath(initialTarget);
    return {
      key: node.key,
      path,
      type: node.type,
      ...(initialPath !== undefined && initialPath !== path ? { initial: initialPath.split('.').pop()! } : {}),
      transitions: (node.transitions ?? []).map((t) => transition(t, targetPath)),
      children: Object.entries(node.states ?? {}).map(([key, child]) => convert(child, path ? `${path}.${key}` : key)),
      entry: (node.entry ?? []).map(actionName),
      exit: (node.exit ?? []).map(actionName),
      invoke: (node.invoke ?? []).map((i) => (typeof i.src === 'string' ? i.src : (i.id ?? 'invoke'))),
      tags: node.tags ?? [],
    };
  };
  const root = convert(definition, '');
  const all = new Set<string>();
  let wildcard = false;
  const collect = (node: ChartNode) => {
    for (const t of node.transitions) {
      if (t.event === '*') wildcard = true;
      else if (t.delay === undefined && !isReservedType(t.event) && !t.event.startsWith('done.') && !t.event.startsWith('error.')) all.add(t.event);
    }
    node.children.forEach(collect);
  };
  collect(root);
  return { machineId: definition.id, root, events: [...all].sort(), wildcard };
}

function transition(t: DefinitionTransition, targetPath: (t: unknown) => string | undefined): ChartTransition {
  const guard = t.guard === undefined ? undefined : guardName(t.guard);
  return {
    event: t.delay !== undefined ? `after ${String(t.delay)}` : t.eventType,
    targets: (t.target ?? []).map(targetPath).filter((p): p is string => p !== undefined),
    ...(guard !== undefined ? { guard } : {}),
    ...(t.delay !== undefined ? { delay: typeof t.delay === 'number' ? t.delay : String(t.delay) } : {}),
    actions: (t.actions ?? []).map(actionName),
  };
}

function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (guard && typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const type = (action as { type?: unknown }).type;
    return typeof type === 'string' ? type.replace(/^xstate\./, '') : action.name || 'inline';
  }
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') {
    return (action as { type: string }).type.replace(/^xstate\./, '');
  }
  return 'inline';
}

/** The active configuration as key paths: 'a' and {a: 'b'} give ['', 'a'] and ['', 'a', 'a.b']. */
export function activePaths(value: unknown): string[] {
  const out = [''];
  const walk = (v: unknown, prefix: string) => {
    if (typeof v === 'string') {
      out.push(prefix ? `${prefix}.${v}` : v);
      return;
    }
    if (v && typeof v === 'object') {
      for (const [key, sub] of Object.entries(v)) {
        const path = prefix ? `${prefix}.${key}` : key;
        out.push(path);
        walk(sub, path);
      }
    }
  };
  walk(value, '');
  return out;
}

interface SnapshotLike {
  value?: unknown;
  status?: string;
  context?: unknown;
  can?: (event: { type: string }) => boolean;
}

/** A snapshot as the page shows it: serialised only here, when someone asks. */
export function snapshotView(snapshot: unknown): SnapshotView {
  const s = (snapshot ?? {}) as SnapshotLike;
  return {
    value: toPlain(s.value ?? null),
    status: typeof s.status === 'string' ? s.status : 'unknown',
    context: toPlain(s.context ?? null),
    active: activePaths(s.value),
  };
}

/**
 * Event types with a transition enabled now. A guard that reads the payload may throw
 * on a bare `{ type }`: such an event is listed, since a real payload may pass it.
 */
export function enabledEvents(snapshot: unknown, events: readonly string[]): string[] {
  const s = snapshot as SnapshotLike | undefined;
  if (!s || typeof s.can !== 'function' || s.status !== 'active') return [];
  return events.filter((type) => {
    try {
      return s.can!({ type });
    } catch {
      return true;
    }
  });
}
