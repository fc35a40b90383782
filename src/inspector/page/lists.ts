import type { Alert, FeedEvent, Incident } from '../protocol.js';
import { clear, fmtTime, h } from './dom.js';
import type { Store } from './store.js';

/** Dead letters, lifecycle events, incidents and alerts: newest first, re-drawn only when they change. */
export class ListsView {
  readonly deadLetters = h('div', { class: 'list dead-letters' });
  readonly events = h('div', { class: 'list events' });
  readonly incidents = h('div', { class: 'list incidents' });
  readonly alerts = h('div', { class: 'alerts' });
  private keys = { dead: '', events: '', incidents: '', alerts: '' };

  constructor(private readonly store: Store) {}

  render(): void {
    const feed = this.store.feed;
    const dead = feed.filter((e) => e.type === 'dead_letter');
    const life = feed.filter((e) => e.type !== 'dead_letter');
    this.once('dead', `${dead.length}|${dead[dead.length - 1]?.id}`, () => this.fillDead(dead));
    this.once('events', `${life.length}|${life[life.length - 1]?.id}`, () => this.fillEvents(life));
    const incidents = this.store.incidents;
    this.once('incidents', `${incidents.length}|${incidents[incidents.length - 1]?.id}`, () => this.fillIncidents(incidents));
    const alerts = this.store.tree?.alerts ?? [];
    this.once('alerts', JSON.stringify(alerts.map((a) => [a.key, a.message])), () => this.fillAlerts(alerts));
  }

  private once(which: keyof ListsView['keys'], key: string, fill: () => void): void {
    if (this.keys[which] === key) return;
    this.keys[which] = key;
    fill();
  }

  private fillDead(list: FeedEvent[]): void {
    clear(this.deadLetters);
    if (!list.length) return void this.deadLetters.append(h('div', { class: 'empty' }, 'no dead letters'));
    const rows = [...list].reverse().slice(0, 200).map((e) =>
      h(
        'tr',
        { class: 'dead-letter', 'data-reason': e.reason ?? '' },
        h('td', { class: 'time' }, fmtTime(e.at)),
        h('td', {}, e.node),
        h('td', {}, h('span', { class: `reason ${e.reason ?? ''}` }, e.reason ?? '?')),
        h('td', { class: 'mono' }, e.envelope ? `${e.envelope.type}` : '—'),
        h('td', { class: 'mono' }, e.envelope ? `${e.envelope.from} → ${e.envelope.to}` : '—'),
        h('td', { class: 'detail' }, e.detail ?? ''),
      ),
    );
    this.deadLetters.append(table(['time', 'node', 'reason', 'type', 'from → to', 'detail'], rows));
  }

  private fillEvents(list: FeedEvent[]): void {
    clear(this.events);
    if (!list.length) return void this.events.append(h('div', { class: 'empty' }, 'no lifecycle events yet'));
    const rows = [...list].reverse().slice(0, 200).map((e) =>
      h(
        'tr',
        { class: `event ${e.type}` },
        h('td', { class: 'time' }, fmtTime(e.at)),
        h('td', {}, e.node),
        h('td', {}, h('span', { class: `etype ${e.type}` }, e.type)),
        h('td', { class: 'mono' }, e.path ? `${e.path}${e.incarnation ? `#${e.incarnation}` : ''}` : ''),
        h('td', { class: 'detail' }, [e.reason, e.error && e.error !== e.reason ? e.error : undefined].filter(Boolean).join(' · ')),
      ),
    );
    this.events.append(table(['time', 'node', 'event', 'actor', 'reason'], rows));
  }

  private fillIncidents(list: Incident[]): void {
    clear(this.incidents);
    if (!list.length) return void this.incidents.append(h('div', { class: 'empty' }, 'no incidents'));
    const rows = [...list].reverse().map((i) =>
      h(
        'tr',
        { class: `incident ${i.severity}` },
        h('td', { class: 'time' }, fmtTime(i.at)),
        h('td', {}, h('span', { class: `sev ${i.severity}` }, i.severity)),
        h('td', {}, i.node),
        h('td', { class: 'title' }, i.title),
        h('td', { class: 'detail' }, i.detail),
      ),
    );
    this.incidents.append(table(['time', 'severity', 'node', 'incident', 'detail'], rows));
  }

  private fillAlerts(list: Alert[]): void {
    clear(this.alerts);
    if (!list.length) return void this.alerts.append(h('div', { class: 'alert ok' }, '✓ no alerts'));
    const order = { critical: 0, warning: 1, info: 2 };
    for (const a of [...list].sort((x, y) => order[x.severity] - order[y.severity])) {
      this.alerts.append(h('div', { class: `alert ${a.severity}`, 'data-key': a.key }, h('span', { class: `sev ${a.severity}` }, a.severity), ` ${a.message}`, h('span', { class: 'since' }, ` since ${fmtTime(a.since).slice(0, 8)}`)));
    }
  }
}

function table(head: string[], rows: HTMLElement[]): HTMLElement {
  return h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))), h('tbody', {}, ...rows));
}
