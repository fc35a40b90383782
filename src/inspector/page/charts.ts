import type { SeriesPoint } from '../protocol.js';
import { clear, h, s } from './dom.js';
import type { Store } from './store.js';

/** Message rate (line) and restarts / dead letters (bars) over the last minutes. */
export class ChartsView {
  readonly el = h('div', { class: 'charts' });
  private last = '';

  constructor(private readonly store: Store) {}

  render(): void {
    const series = this.store.series;
    const key = `${series.length}|${series[series.length - 1]?.t ?? 0}`;
    if (key === this.last) return;
    this.last = key;
    clear(this.el);
    this.el.append(
      chart('messages processed / s', series, [{ key: 'messages', color: '#1c7ed6', kind: 'line' }]),
      chart('restarts, dead letters / interval', series, [
        { key: 'restarts', color: '#e8590c', kind: 'bar' },
        { key: 'deadLetters', color: '#7048e8', kind: 'bar' },
      ]),
    );
  }
}

interface Line {
  key: 'messages' | 'restarts' | 'deadLetters';
  color: string;
  kind: 'line' | 'bar';
}

const W = 600;
const H = 170;
const PAD = { l: 44, r: 10, t: 26, b: 22 };

function chart(title: string, series: SeriesPoint[], lines: Line[]): HTMLElement {
  const box = h('figure', { class: 'chart' });
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  svg.append(s('text', { class: 'chart-title', x: PAD.l, y: 15 }, title));
  const legend = lines.map((l, i) =>
    s('g', { transform: `translate(${W - PAD.r - 95 * (lines.length - i)},6)` }, s('rect', { width: 10, height: 10, fill: l.color }), s('text', { x: 14, y: 9, class: 'legend' }, l.key === 'deadLetters' ? 'dead letters' : l.key)),
  );
  svg.append(...legend);
  const pts = series.slice(-120);
  const max = Math.max(1, ...pts.flatMap((p) => lines.map((l) => p[l.key])));
  const t1 = pts.length ? pts[pts.length - 1]!.t : Date.now();
  const t0 = Math.min(pts.length ? pts[0]!.t : t1, t1 - 60_000);
  const x = (t: number) => PAD.l + ((t - t0) / Math.max(1, t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  for (const f of [0, 0.5, 1]) {
    const v = max * f;
    svg.append(
      s('line', { class: 'grid', x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis', x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, v >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 10) / 10)),
    );
  }
  svg.append(
    s('text', { class: 'axis', x: PAD.l, y: H - 5 }, `${Math.round((t1 - t0) / 1000)} s ago`),
    s('text', { class: 'axis', x: W - PAD.r, y: H - 5, 'text-anchor': 'end' }, 'now'),
  );
  if (pts.length === 0) svg.append(s('text', { class: 'axis', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'collecting…'));
  lines.forEach((l, li) => {
    if (l.kind === 'line') {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p[l.key]).toFixed(1)}`).join(' ');
      if (d) svg.append(s('path', { d, fill: 'none', stroke: l.color, 'stroke-width': 2 }));
    } else {
      const bw = Math.max(2, (W - PAD.l - PAD.r) / Math.max(60, pts.length) / lines.length - 1);
      for (const p of pts) {
        const v = p[l.key];
        if (v > 0) svg.append(s('rect', { x: x(p.t) - bw * (lines.length - li), y: y(v), width: bw, height: H - PAD.b - y(v), fill: l.color }));
      }
    }
  });
  box.append(svg);
  return box;
}
