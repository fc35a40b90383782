import type { MessageRecord } from '../protocol.js';
import { clear, fmtTime, h, hue, s } from './dom.js';
import type { Store } from './store.js';

/**
 * Message sequence diagram: one lifeline per actor (and per outside sender), one arrow
 * per processed message or dead letter, newest at the bottom. Messages that share a
 * correlation id (an ask, what it caused, a forwarded message) share a colour; clicking
 * one highlights its whole conversation.
 */
const MIN_COL = 124;
const MAX_COL = 190;
const ROW = 24;
const HEAD = 38;
const LEFT = 92;
const SHOWN = 60;

export class SequenceView {
  readonly el = h('div', { class: 'sequence' });
  private readonly filter = h('input', { type: 'search', placeholder: 'filter: actor path, type or correlation id', 'aria-label': 'filter messages' });
  private readonly onlySelected = h('input', { type: 'checkbox' });
  /** One scroller: the lane names stick to its top while the arrows scroll under them, both ways. */
  private readonly canvas = h('div', { class: 'sequence-canvas' });
  private readonly info = h('div', { class: 'sequence-info' });
  private last = '';

  constructor(private readonly store: Store) {
    this.filter.addEventListener('input', () => this.render(true));
    this.onlySelected.addEventListener('change', () => this.render(true));
    this.el.append(h('div', { class: 'toolbar' }, this.filter, h('label', {}, this.onlySelected, ' only the selected actor'), this.info), this.canvas);
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
    const left = c.scrollLeft;
    clear(this.canvas);
    if (list.length === 0) {
      this.canvas.append(h('div', { class: 'empty' }, all.length ? 'no message matches' : 'no messages yet: they are recorded while this page is open'));
      return;
    }
    const [head, body] = this.draw(list);
    this.canvas.append(h('div', { class: 'sequence-head' }, head), body);
    c.scrollLeft = left;
    if (atBottom || force) c.scrollTop = c.scrollHeight;
  }

  /**
   * Lanes in a stable order, whatever the messages shown: senders from outside the tree
   * first, then actors in tree order (depth-first, as the tree panel lists them), then
   * paths the tree does not know, by name.
   */
  private lanes(list: MessageRecord[]): string[] {
    const order = new Map<string, number>();
    this.store.tree?.actors.forEach((a, i) => order.has(a.path) || order.set(a.path, i));
    const rank = (who: string) => (who.startsWith('@') ? -1 : (order.get(who) ?? Number.MAX_SAFE_INTEGER));
    const who = new Set<string>();
    for (const m of list) who.add(m.from).add(m.to);
    return [...who].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  }

  private draw(list: MessageRecord[]): [SVGSVGElement, SVGSVGElement] {
    const lanes = this.lanes(list);
    const lane = (who: string) => lanes.indexOf(who);
    // Fit the panel when the lanes can; past that, scroll sideways (never clip).
    const avail = this.canvas.clientWidth || 1200;
    const COL = Math.max(MIN_COL, Math.min(MAX_COL, Math.floor((avail - LEFT - 4) / lanes.length)));
    const width = LEFT + lanes.length * COL;
    const height = list.length * ROW + 12;
    const x = (i: number) => LEFT + i * COL + COL / 2;
    const head = s('svg', { class: 'seq', width, height: HEAD, viewBox: `0 0 ${width} ${HEAD}` });
    const svg = s('svg', { class: 'seq', width, height, viewBox: `0 0 ${width} ${height}` });
    svg.append(
      s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'context-stroke' }))),
    );
    const chars = Math.max(10, Math.floor((COL - 16) / 6.6));
    lanes.forEach((who, i) => {
      const short = who.startsWith('@') ? `${who} (outside)` : tail(who, chars);
      head.append(
        s('line', { class: 'lifeline', x1: x(i), y1: 30, x2: x(i), y2: HEAD }),
        s('rect', { class: 'lane-head', x: x(i) - COL / 2 + 5, y: 5, width: COL - 10, height: 25, rx: 5 }),
        s('g', { class: 'lane', 'data-lane': who }, s('title', {}, who), s('text', { class: 'lane-name', x: x(i), y: 21, 'text-anchor': 'middle' }, short)),
      );
      svg.append(s('line', { class: 'lifeline', x1: x(i), y1: 0, x2: x(i), y2: height }));
    });
    list.forEach((m, r) => {
      const y = r * ROW + 18;
      const a = x(lane(m.from));
      const b = x(lane(m.to));
      // Red is for dead letters only: conversation colours take hues from green to violet.
      const color = m.deadLetter ? DEAD_RED : m.corr ? corrColor(m.corr) : '#5c6370';
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

const DEAD_RED = '#d9480f';

/** A conversation's colour: hue 60..300 (yellow-green through blue to violet), never the dead letters' red. */
export function corrColor(corr: string): string {
  return `hsl(${60 + (hue(corr) % 240)} 65% 40%)`;
}

/** The end of a path that fits `max` characters, cut at a '/': `…/servants/servant-2`. */
function tail(path: string, max: number): string {
  if (path.length <= max) return path;
  const parts = path.split('/');
  let out = parts.pop()!;
  while (parts.length && out.length + parts[parts.length - 1]!.length + 2 <= max) out = `${parts.pop()}/${out}`;
  return `…/${out}`;
}
