import type { ChartNode, ChartTransition } from '../protocol.js';
import { s } from './dom.js';

/**
 * Draws a statechart as nested boxes: each state lists its transitions
 * (`event → target [guard]`), children flow in rows inside their parent, parallel
 * regions are dashed, the initial child has a dot, final states a double border. The
 * active configuration is filled, and transitions the actor can take now are bold.
 */

const CHAR = 6.7; // px per character of the 11px monospace font
const LINE = 16;
const HEAD = 22;
const PAD = 10;
const GAP = 14;
const MAX_ROW = 980;

interface Box {
  node: ChartNode;
  w: number;
  h: number;
  lines: Line[];
  kids: { box: Box; x: number; y: number }[];
}

interface Line {
  text: string;
  event?: string;
  kind: 'transition' | 'note';
}

function label(t: ChartTransition, self: string): string {
  const targets = t.targets.length === 0 ? '(stays)' : t.targets.map((p) => (p === self ? '↻' : p === '' ? '(root)' : p)).join(', ');
  return `${t.event} → ${targets}${t.guard ? ` [${t.guard}]` : ''}`;
}

function lines(node: ChartNode): Line[] {
  const out: Line[] = node.transitions.map((t) => ({ text: label(t, node.path), event: t.event, kind: 'transition' as const }));
  if (node.entry.length) out.push({ text: `entry / ${node.entry.join(', ')}`, kind: 'note' });
  if (node.exit.length) out.push({ text: `exit / ${node.exit.join(', ')}`, kind: 'note' });
  if (node.invoke.length) out.push({ text: `invoke ${node.invoke.join(', ')}`, kind: 'note' });
  return out;
}

function layout(node: ChartNode, depth: number, wrapAt: number): Box {
  const ls = lines(node);
  const textW = Math.max(node.key.length * 7.4 + 30, ...ls.map((l) => l.text.length * CHAR)) + 2 * PAD;
  const head = HEAD + ls.length * LINE + (ls.length ? 4 : 0);
  if (node.children.length === 0) return { node, w: Math.max(120, textW), h: head + 6, lines: ls, kids: [] };
  const kids = node.children.map((c) => layout(c, depth + 1, wrapAt));
  // Children wrap into rows that fit the panel (nested ones a little narrower each level).
  const maxRow = Math.max(wrapAt - depth * 40, 300);
  const placed: Box['kids'] = [];
  let x = PAD + 6;
  let y = head + 4;
  let rowH = 0;
  let width = 0;
  for (const box of kids) {
    if (x > PAD + 6 && x + box.w > maxRow && node.type !== 'parallel') {
      x = PAD + 6;
      y += rowH + GAP;
      rowH = 0;
    }
    placed.push({ box, x, y });
    x += box.w + GAP;
    rowH = Math.max(rowH, box.h);
    width = Math.max(width, x - GAP + PAD);
  }
  return { node, w: Math.max(textW, width), h: y + rowH + PAD, lines: ls, kids: placed };
}

export interface ChartView {
  active: readonly string[];
  canTake: readonly string[];
  machineId?: string;
  /** Width to wrap rows of child states in (the panel's); default 980. */
  width?: number;
}

export function renderStatechart(chart: ChartNode, view: ChartView): SVGSVGElement {
  const root = layout(chart, 0, Math.min(view.width ?? MAX_ROW, MAX_ROW * 2));
  const active = new Set(view.active);
  const can = new Set(view.canTake);
  const svg = s('svg', {
    class: 'statechart',
    width: Math.ceil(root.w + 2),
    height: Math.ceil(root.h + 2),
    viewBox: `-1 -1 ${Math.ceil(root.w + 2)} ${Math.ceil(root.h + 2)}`,
    role: 'img',
    'aria-label': `statechart of ${view.machineId ?? chart.key}`,
  });
  const draw = (box: Box, x: number, y: number, parent: ChartNode | undefined) => {
    const n = box.node;
    const isActive = active.has(n.path);
    const leaf = n.children.length === 0;
    const g = s('g', {
      class: `state ${n.type}${isActive ? ' active' : ''}${leaf && isActive ? ' current' : ''}`,
      'data-state': n.path === '' ? '(machine)' : n.path,
      transform: `translate(${x},${y})`,
    });
    g.append(s('rect', { class: 'box', width: box.w, height: box.h, rx: 8, ry: 8 }));
    if (n.type === 'final') g.append(s('rect', { class: 'inner', x: 3, y: 3, width: box.w - 6, height: box.h - 6, rx: 6, ry: 6 }));
    if (parent?.initial === n.key) {
      g.append(s('circle', { class: 'initial', cx: -7, cy: 11, r: 4 }));
    }
    const title = n.path === '' ? (view.machineId ?? n.key) : n.key;
    g.append(s('text', { class: 'name', x: PAD, y: 15 }, title + (n.type === 'parallel' ? '  (parallel)' : n.tags.length ? `  #${n.tags.join(' #')}` : '')));
    box.lines.forEach((l, i) => {
      const enabled = l.kind === 'transition' && isActive && l.event !== undefined && can.has(l.event);
      g.append(
        s(
          'text',
          { class: `${l.kind}${enabled ? ' enabled' : ''}`, x: PAD, y: HEAD + 12 + i * LINE, 'data-event': l.event ?? null },
          l.text,
        ),
      );
    });
    svg.append(g);
    for (const k of box.kids) draw(k.box, x + k.x, y + k.y, n);
  };
  draw(root, 0, 0, undefined);
  return svg;
}
