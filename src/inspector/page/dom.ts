/** Tiny DOM helpers for the inspector page (browser code: compiled by tsc, served as is). */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

function apply(el: Element, attrs: Attrs | undefined, children: Child[]): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, children);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** Sets text only when it changed (keeps the DOM still between pushes). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function stateText(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(([k, v]) => {
      const inner = stateText(v);
      return typeof v === 'object' && v !== null && Object.keys(v).length === 0 ? k : `${k}.${inner}`;
    });
    return parts.length === 0 ? '(root)' : parts.length === 1 ? parts[0]! : `{${parts.join(', ')}}`;
  }
  return String(value);
}

export function fmtAge(ms: number | null): string {
  if (ms === null) return 'never';
  if (ms < 1000) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s ago`;
  return `${Math.round(ms / 60_000)} min ago`;
}

export function fmtRate(x: number): string {
  if (x === 0) return '0';
  if (x >= 10_000) return `${Math.round(x / 1000)}k`;
  if (x >= 100) return String(Math.round(x));
  return x.toFixed(1);
}

export function fmtTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A stable hue for a string (correlation ids, nodes). */
export function hue(text: string): number {
  let x = 0;
  for (let i = 0; i < text.length; i++) x = (x * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(x) % 360;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}
