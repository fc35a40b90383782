import type { ChartNode } from '../protocol.js';
import { eventLabel, HEAD, layoutChart, LINE, type ChartLayout, type ElkLike } from './chart-layout.js';
import { s } from './dom.js';

/**
 * Draws a statechart laid out by ELK (chart-layout.ts): nested states as nested boxes,
 * transitions as labelled arrows between them, transitions that stay (actions only) and
 * entry/exit/invoke as notes inside their state, parallel regions dashed, final states
 * with a double border, the initial child pointed at from a dot. The active
 * configuration is filled and the transitions the actor can take now are bold.
 */

export { eventLabel };

export interface ChartView {
  active: readonly string[];
  canTake: readonly string[];
  machineId?: string;
}

/** elkjs's bundled browser build, loaded by the page shell as a classic script (global ELK). */
function elk(): ElkLike {
  const ctor = (globalThis as { ELK?: new () => ElkLike }).ELK;
  if (!ctor) throw new Error('the layout library (elkjs) did not load');
  return (cached ??= new ctor());
}
let cached: ElkLike | undefined;

/** Machines do not change: one layout per chart, kept for the page's lifetime. */
const layouts = new Map<string, Promise<ChartLayout>>();

export async function renderStatechart(chart: ChartNode, view: ChartView): Promise<SVGSVGElement> {
  const key = `${view.machineId ?? ''}\u0000${JSON.stringify(chart)}`;
  let layout = layouts.get(key);
  if (!layout) {
    layout = layoutChart(elk(), chart, view.machineId);
    layouts.set(key, layout);
    layout.catch(() => layouts.delete(key));
  }
  return draw(await layout, view);
}

function draw(layout: ChartLayout, view: ChartView): SVGSVGElement {
  const active = new Set(view.active);
  const can = new Set(view.canTake);
  const svg = s('svg', {
    class: 'statechart',
    width: layout.width,
    height: layout.height,
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    role: 'img',
    'aria-label': `statechart of ${view.machineId ?? 'machine'}`,
  });
  svg.append(
    s(
      'defs',
      {},
      s('marker', { id: 'chart-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'context-stroke' })),
    ),
  );
  // States outermost first (ELK lists parents before children), so children paint on top.
  for (const st of layout.states) {
    const n = st.node;
    const isActive = active.has(n.path);
    const leaf = n.children.length === 0;
    const g = s('g', {
      class: `state ${n.type}${isActive ? ' active' : ''}${leaf && isActive ? ' current' : ''}`,
      'data-state': n.path === '' ? '(machine)' : n.path,
      transform: `translate(${st.x},${st.y})`,
    });
    g.append(s('rect', { class: 'box', width: st.w, height: st.h, rx: 8, ry: 8 }));
    if (n.type === 'final') g.append(s('rect', { class: 'inner', x: 3, y: 3, width: st.w - 6, height: st.h - 6, rx: 6, ry: 6 }));
    const title = n.path === '' ? (view.machineId ?? n.key) : n.key;
    g.append(s('text', { class: 'name', x: 10, y: 16 }, title + (n.type === 'parallel' ? '  (parallel)' : n.tags.length ? `  #${n.tags.join(' #')}` : '')));
    st.notes.forEach((l, i) => {
      const enabled = l.kind === 'transition' && isActive && l.event !== undefined && can.has(l.event);
      g.append(s('text', { class: `${l.kind}${enabled ? ' enabled' : ''}`, x: 10, y: HEAD + 10 + i * LINE, 'data-event': l.event ?? null }, l.text));
    });
    svg.append(g);
  }
  for (const d of layout.dots) svg.append(s('circle', { class: 'initial', cx: d.x, cy: d.y, r: 4 }));
  for (const e of layout.edges) {
    const enabled = !e.initial && active.has(e.from) && can.has(e.event);
    const g = s('g', { class: `edge${e.initial ? ' initial-edge' : ''}${enabled ? ' enabled' : ''}`, 'data-event': e.initial ? null : e.event });
    g.append(s('path', { class: 'route', d: e.d, 'marker-end': 'url(#chart-arrow)' }));
    if (e.label) {
      const text = s('text', { class: 'edge-label', x: e.labelX + 3, y: e.labelY }, e.label);
      g.append(s('title', {}, e.event), text);
    }
    svg.append(g);
  }
  return svg;
}
