import type { MessageRecord } from '../protocol.js';
import { clear, fmtTime, h, hue, s } from './dom.js';
import type { Store } from './store.js';

/**
 * Message sequence diagram: one lifeline per actor (and per outside sender), one arrow
 * per processed message or dead letter, newest at the bottom. Messages that share a
 * correlation id (an ask, what it caused, a forwarded message) share a colour; clicking
 * one highlights its whole conversation.
 */
const COL = 150;
const ROW = 24;
const TOP = 46;
const LEFT = 92;
const SHOWN = 60;

export class SequenceView {
  readonly el = h('div', { class: 'sequence' });
  private readonly filter = h('input', { type: 'search', placeholder: 'filter: actor path, type or correlation id', 'aria-label': 'filter messages' });
  private readonly onlySelected = h('input', { type: 'checkbox' });
  /** Lane names stay in view while the arrows scroll under them. */
  private readonly head = h('div', { class: 'sequence-head' });
  private readonly canvas = h('div', { class: 'sequence-canvas' });
  private readonly info = h('div', { class: 'sequence-info' });
  private last = '';

  constructor(private readonly store: Store) {
    this.filter.addEventListener('input', () => this.render(true));
    this.onlySelected.addEventListener('change', () => this.render(true));
    this.canvas.addEventListener('scroll', () => (this.head.scrollLeft = this.canvas.scrollLeft));
    this.el.append(
      h('div', { class: 'toolbar' }, this.filter, h('label', {}, this.onlySelected, ' only the selected actor'), this.info),
      this.head,
      this.canvas,
    );
  }

  render(force = false): void {
    const all = this.store.messages;
    const q = this.filter.value.trim();
    const sel = this.onlySelected.checked ? this.store.selected?.path : undefined;
    const list = all
      .filter((m) => !q || m.from.includes(q) || m.to.includes(q) || m.type.includes(q) || m.corr === q || m.id === q)
      .filter((m) => !sel || m.from === sel || m.to === sel)
      .slice(-SHOWN);
    const key = `${list.length ? list[list.length - 1]!.seq : 0}|${list.length}|${this.store.corr}|${q}|${sel}`;
    if (!force && key === this.last) return;
    this.last = key;
    // Time flows down: stay at the newest unless the reader scrolled up to look at older ones.
    const c = this.canvas;
    const atBottom = c.scrollHeight - c.scrollTop - c.clientHeight < 30;
    clear(this.canvas);
    clear(this.head);
    if (list.length === 0) {
      this.canvas.append(h('div', { class: 'empty' }, all.length ? 'no message matches' : 'no messages yet: they are recorded while this page is open'));
      return;
    }
    const [head, body] = this.draw(list);
    this.head.append(head);
    this.canvas.append(body);
    this.head.scrollLeft = c.scrollLeft;
    if (atBottom || force) c.scrollTop = c.scrollHeight;
  }

  private draw(list: MessageRecord[]): [SVGSVGElement, SVGSVGElement] {
    const lanes: string[] = [];
    const lane = (who: string) => {
      let i = lanes.indexOf(who);
      if (i < 0) i = lanes.push(who) - 1;
      return i;
    };
    for (const m of list) {
      lane(m.from);
      lane(m.to);
    }
    const width = LEFT + lanes.length * COL;
    const height = list.length * ROW + 10;
    const x = (i: number) => LEFT + i * COL + COL / 2;
    const head = s('svg', { class: 'seq', width, height: TOP - 8, viewBox: `0 0 ${width} ${TOP - 8}` });
    const svg = s('svg', { class: 'seq', width, height, viewBox: `0 0 ${width} ${height}` });
    svg.append(
      s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'context-stroke' }))),
    );
    lanes.forEach((who, i) => {
      const short = who.startsWith('@') ? `${who} (outside)` : tail(who, 21);
      head.append(
        s('line', { class: 'lifeline', x1: x(i), y1: 30, x2: x(i), y2: TOP - 8 }),
        s('rect', { class: 'lane-head', x: x(i) - COL / 2 + 6, y: 6, width: COL - 12, height: 24, rx: 5 }),
        s('g', {}, s('title', {}, who), s('text', { class: 'lane-name', x: x(i), y: 22, 'text-anchor': 'middle' }, short)),
      );
      svg.append(s('line', { class: 'lifeline', x1: x(i), y1: 0, x2: x(i), y2: height }));
    });
    list.forEach((m, r) => {
      const y = r * ROW + 16;
      const a = x(lane(m.from));
      const b = x(lane(m.to));
      const color = m.deadLetter ? '#d9480f' : m.corr ? `hsl(${hue(m.corr)} 65% 42%)` : '#5c6370';
      const dim = this.store.corr !== undefined && m.corr !== this.store.corr;
      const g = s('g', {
        class: `msg${m.deadLetter ? ' dead' : ''}${dim ? ' dim' : ''}${m.corr && m.corr === this.store.corr ? ' hl' : ''}`,
        'data-corr': m.corr ?? null,
        style: `--c:${color}`,
      });
      g.append(s('text', { class: 'time', x: 6, y: y + 4 }, fmtTime(m.at).slice(0, 12)));
      if (a === b) {
        g.append(s('path', { d: `M${a},${y - 6} h26 v12 h-24`, class: 'arrow', 'marker-end': 'url(#arrow)' }));
      } else {
        g.append(s('line', { x1: a, y1: y, x2: b + (b > a ? -3 : 3), y2: y, class: 'arrow', 'marker-end': 'url(#arrow)' }));
      }
      const label = `${m.type}${m.deadLetter ? ` ✕ ${m.deadLetter}` : ''}`;
      g.append(s('text', { class: 'label', x: (a + b) / 2 + (a === b ? 40 : 0), y: y - 4, 'text-anchor': a === b ? 'start' : 'middle' }, label));
      g.append(s('title', {}, `${m.type} ${m.from} → ${m.to}\nid ${m.id}${m.corr ? `\ncorrelation ${m.corr}` : ''}\nnode ${m.node}${m.deadLetter ? `\ndead letter: ${m.deadLetter}` : ''}`));
      g.addEventListener('click', () => {
        this.store.corr = m.corr && this.store.corr !== m.corr ? m.corr : undefined;
        this.info.textContent = this.store.corr ? `conversation ${this.store.corr}: ${this.store.messages.filter((x) => x.corr === this.store.corr).length} messages` : '';
        this.render(true);
      });
      svg.append(g);
    });
    return [head, svg];
  }
}

/** The end of a path that fits `max` characters, cut at a '/': `…/servants/servant-2`. */
function tail(path: string, max: number): string {
  if (path.length <= max) return path;
  const parts = path.split('/');
  let out = parts.pop()!;
  while (parts.length && out.length + parts[parts.length - 1]!.length + 2 <= max) out = `${parts.pop()}/${out}`;
  return `…/${out}`;
}
