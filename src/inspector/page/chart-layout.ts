import type { ChartNode, ChartTransition } from '../protocol.js';

/**
 * A statechart as an ELK graph: states are nested nodes (sized for their name and
 * their notes), transitions with a target are edges labelled with their event, an
 * initial child gets an edge from a small dot. ELK (the layered algorithm, across the
 * hierarchy) places everything; all coordinates come back relative to the root.
 * No DOM here: the page draws the result, a unit test can lay a chart out in Node.
 */

export const CHAR = 6.7; // px per character of the 11px monospace font
export const LINE = 16;
export const HEAD = 24;
const PAD = 10;
const DOT = 10;

/** The part of elkjs this module uses (the bundled build's `new ELK()`). */
export interface ElkLike {
  layout(graph: ElkGraph): Promise<ElkGraph>;
}

export interface ElkGraph {
  id: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  children?: ElkGraph[];
  edges?: ElkEdge[];
  layoutOptions?: Record<string, string>;
  labels?: { text: string; width: number; height: number; x?: number; y?: number }[];
}

export interface ElkEdge {
  id: string;
  sources: string[];
  targets: string[];
  labels?: { text: string; width: number; height: number; x?: number; y?: number }[];
  sections?: { startPoint: Point; endPoint: Point; bendPoints?: Point[] }[];
}

interface Point {
  x: number;
  y: number;
}

/** A note line inside a state: a transition that stays (actions only), entry, exit, invoke. */
export interface Note {
  text: string;
  event?: string;
  kind: 'transition' | 'note';
}

export interface PlacedState {
  node: ChartNode;
  x: number;
  y: number;
  w: number;
  h: number;
  notes: Note[];
}

export interface PlacedEdge {
  from: string;
  event: string;
  label: string;
  /** SVG path through ELK's route. */
  d: string;
  labelX: number;
  labelY: number;
  initial: boolean;
}

export interface ChartLayout {
  width: number;
  height: number;
  states: PlacedState[];
  edges: PlacedEdge[];
  dots: Point[];
}

/**
 * XState's internal event names as what they mean: `xstate.done.actor.0.servant.polling`
 * is the invoked actor of `polling` finishing (`done: polling`), `xstate.error.actor.…`
 * it failing, `xstate.done.state.<id>` a compound state reaching its final state.
 */
export function eventLabel(type: string): string {
  const m = /^xstate\.(done|error)\.(actor|state)\.(.+)$/.exec(type);
  if (m) {
    const [, kind, , rest] = m;
    // Invoke ids default to `<index>.<machine id>.<state path>`: the last key names the state.
    const name = rest!.split('.').pop()!;
    return `${kind}: ${name}`;
  }
  if (type === 'xstate.init') return 'init';
  const after = /^xstate\.after\.(\d+)\./.exec(type);
  if (after) return `after ${after[1]} ms`;
  return type;
}

function transitionText(t: ChartTransition): string {
  // Named actions say what happens; XState's names for inline functions say nothing.
  const named = t.actions.filter((a) => !/^(inline|actions|function)$/.test(a));
  const acts = named.length ? ` / ${named.join(', ')}` : '';
  return `${eventLabel(t.event)}${t.guard ? ` [${t.guard}]` : ''}${acts}`;
}

function edgeText(t: ChartTransition): string {
  return `${eventLabel(t.event)}${t.guard ? ` [${t.guard}]` : ''}`;
}

/** Lines a state shows inside its box: transitions without a target, then entry/exit/invoke. */
export function notesOf(node: ChartNode): Note[] {
  const out: Note[] = node.transitions
    .filter((t) => t.targets.length === 0)
    .map((t) => ({ text: `${transitionText(t)} (stays)`, event: t.event, kind: 'transition' as const }));
  if (node.entry.length) out.push({ text: `entry / ${node.entry.join(', ')}`, kind: 'note' });
  if (node.exit.length) out.push({ text: `exit / ${node.exit.join(', ')}`, kind: 'note' });
  if (node.invoke.length) out.push({ text: `invoke ${node.invoke.join(', ')}`, kind: 'note' });
  return out;
}

const id = (path: string) => `s:${path}`;

function titleOf(node: ChartNode, machineId: string | undefined): string {
  const name = node.path === '' ? (machineId ?? node.key) : node.key;
  return name + (node.type === 'parallel' ? '  (parallel)' : node.tags.length ? `  #${node.tags.join(' #')}` : '');
}

/** The ELK graph of a chart (exported for tests). */
export function toElk(chart: ChartNode, machineId?: string): { graph: ElkGraph; notes: Map<string, Note[]>; edgeInfo: Map<string, { from: string; event: string; label: string; initial: boolean }> } {
  const notes = new Map<string, Note[]>();
  const edgeInfo = new Map<string, { from: string; event: string; label: string; initial: boolean }>();
  const edges: ElkEdge[] = [];
  const label = (text: string) => ({ text, width: Math.ceil(text.length * CHAR) + 6, height: 14 });
  const build = (node: ChartNode): ElkGraph => {
    const ns = notesOf(node);
    notes.set(node.path, ns);
    const textW = Math.max(titleOf(node, machineId).length * 7.6 + 2 * PAD, ...ns.map((l) => l.text.length * CHAR + 2 * PAD), 90);
    const textH = HEAD + ns.length * LINE + (ns.length ? 4 : 0);
    node.transitions.forEach((t, i) => {
      t.targets.forEach((target, j) => {
        const eid = `e:${node.path}:${i}:${j}`;
        edgeInfo.set(eid, { from: node.path, event: t.event, label: edgeText(t), initial: false });
        edges.push({ id: eid, sources: [id(node.path)], targets: [id(target)], labels: [label(edgeText(t))] });
      });
    });
    if (node.children.length === 0) return { id: id(node.path), width: Math.ceil(textW), height: textH + 6 };
    const children: ElkGraph[] = node.children.map(build);
    if (node.initial !== undefined && node.type !== 'parallel') {
      const dot = `i:${node.path}`;
      children.unshift({ id: dot, width: DOT, height: DOT });
      const eid = `e:init:${node.path}`;
      edgeInfo.set(eid, { from: node.path, event: '', label: '', initial: true });
      edges.push({ id: eid, sources: [dot], targets: [id(node.path ? `${node.path}.${node.initial}` : node.initial)] });
    }
    return {
      id: id(node.path),
      children,
      layoutOptions: {
        'elk.padding': `[top=${textH + 8},left=14,bottom=14,right=14]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${Math.ceil(textW)}, ${textH + 20})`,
        // Regions of a parallel state side by side; sequential states left to right.
        'elk.direction': node.type === 'parallel' ? 'RIGHT' : 'RIGHT',
      },
    };
  };
  const machine = build(chart);
  const graph: ElkGraph = {
    id: 'root',
    children: [machine],
    edges,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.direction': 'RIGHT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.spacing.nodeNode': '24',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeLabels.placement': 'CENTER',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
      'elk.padding': '[top=12,left=12,bottom=12,right=12]',
    },
  };
  return { graph, notes, edgeInfo };
}

/** Lays a chart out with ELK: absolute boxes, edge paths and label positions. */
export async function layoutChart(elk: ElkLike, chart: ChartNode, machineId?: string): Promise<ChartLayout> {
  const { graph, notes, edgeInfo } = toElk(chart, machineId);
  const out = await elk.layout(graph);
  const byId = new Map<string, ChartNode>();
  const index = (n: ChartNode) => {
    byId.set(id(n.path), n);
    n.children.forEach(index);
  };
  index(chart);
  const states: PlacedState[] = [];
  const dots: Point[] = [];
  const walk = (g: ElkGraph) => {
    const node = byId.get(g.id);
    if (node) states.push({ node, x: g.x ?? 0, y: g.y ?? 0, w: g.width ?? 0, h: g.height ?? 0, notes: notes.get(node.path) ?? [] });
    else if (g.id.startsWith('i:')) dots.push({ x: (g.x ?? 0) + DOT / 2, y: (g.y ?? 0) + DOT / 2 });
    for (const c of g.children ?? []) walk(c);
  };
  walk(out);
  const edges: PlacedEdge[] = [];
  const collect = (g: ElkGraph) => {
    for (const e of g.edges ?? []) {
      const info = edgeInfo.get(e.id);
      const section = e.sections?.[0];
      if (!info || !section) continue;
      const pts = [section.startPoint, ...(section.bendPoints ?? []), section.endPoint];
      const lab = e.labels?.[0];
      edges.push({
        ...info,
        d: pts.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '),
        labelX: lab?.x ?? pts[0]!.x,
        labelY: lab ? (lab.y ?? 0) + 11 : pts[0]!.y,
      });
    }
    for (const c of g.children ?? []) collect(c);
  };
  collect(out);
  return { width: Math.ceil(out.width ?? 0), height: Math.ceil(out.height ?? 0), states, edges, dots };
}
