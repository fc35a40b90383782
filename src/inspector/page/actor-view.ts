import type { ActorDetail, ActorInfo, HistoryEntry } from '../protocol.js';
import { act, ApiFailure, fetchDetail } from './api.js';
import { clear, fmtRate, fmtTime, h, json, setText, stateText } from './dom.js';
import { eventLabel, renderStatechart } from './statechart.js';
import type { Store } from './store.js';

/**
 * The selected actor: its numbers, the debug actions, its statechart with the active
 * configuration, and its event history to step back and forth through.
 */
export class ActorView {
  readonly el = h('section', { class: 'panel actor-panel' });
  private readonly title = h('h2', { class: 'actor-title' });
  private readonly meta = h('div', { class: 'meta' });
  private readonly eventSelect = h('select', { id: 'event-type', 'aria-label': 'event type' });
  private readonly payload = h('textarea', { id: 'event-payload', rows: 1, spellcheck: false, 'aria-label': 'payload (JSON object)' });
  private readonly result = h('div', { class: 'action-result', role: 'status' });
  private readonly chartWrap = h('div', { class: 'chart-wrap' });
  private readonly stepLabel = h('span', { class: 'step-label' });
  private readonly stepInfo = h('div', { class: 'step-info' });
  private readonly buttons: Record<string, HTMLButtonElement>;
  private readonly body: HTMLElement;
  private readonly empty = h('div', { class: 'empty' }, 'Select an actor in the tree to see its statechart and history.');
  private lastKey = '';
  private loading = false;
  private again = false;
  private lastRender = '';

  constructor(
    private readonly store: Store,
    /** The inspector token, and what to do when the server turns it down. */
    private readonly auth: { token(): string | undefined; rejected(): void },
  ) {
    const button = (id: string, text: string, title: string, onclick: () => void) =>
      h('button', { id, type: 'button', title, onclick }, text);
    this.buttons = {
      send: button('send-event', 'Send', 'send this event to the actor', () => void this.send()),
      restart: button('restart-actor', 'Restart', 'terminate and restart this child (new incarnation)', () => void this.action('restart')),
      stop: button('stop-actor', 'Stop', 'terminate this child (its supervisor will not restart it)', () => void this.action('stop')),
      first: button('history-first', '|◀', 'oldest step', () => this.moveStep('first')),
      back: button('history-back', '◀', 'step back', () => this.moveStep(-1)),
      forward: button('history-forward', '▶', 'step forward', () => this.moveStep(1)),
      live: button('history-live', 'live', 'follow the live state', () => this.moveStep('live')),
    };
    this.payload.value = '{}';
    const actions = h(
      'div',
      { class: 'actions' },
      h('label', {}, 'event ', this.eventSelect),
      h('label', { class: 'payload' }, 'payload ', this.payload),
      this.buttons.send!,
      h('span', { class: 'sep' }),
      this.buttons.restart!,
      this.buttons.stop!,
    );
    const historyBar = h(
      'div',
      { class: 'history-bar' },
      h('span', { class: 'label' }, 'history'),
      this.buttons.first!,
      this.buttons.back!,
      this.stepLabel,
      this.buttons.forward!,
      this.buttons.live!,
    );
    this.body = h('div', { class: 'actor-body' }, this.title, this.meta, actions, this.result, historyBar, this.chartWrap, this.stepInfo);
    this.el.append(this.empty);
  }

  select(a: ActorInfo): void {
    this.store.selected = { node: a.node, path: a.path };
    this.store.detail = undefined;
    this.store.step = undefined;
    this.lastKey = '';
    this.lastRender = '';
    setText(this.result, '');
    this.result.className = 'action-result';
    this.el.replaceChildren(this.body);
    this.refresh();
  }

  /** Called on every push: numbers now, the detail again when the actor moved. */
  update(): void {
    const a = this.store.selectedActor;
    if (!this.store.selected) return;
    if (!a) {
      setText(this.meta, 'this actor is gone from the tree');
      return;
    }
    this.renderMeta(a);
    const key = `${a.incarnation}|${a.processed}|${JSON.stringify(a.state)}|${a.status}`;
    if (key !== this.lastKey) {
      this.lastKey = key;
      void this.load();
    }
  }

  refresh(): void {
    const a = this.store.selectedActor;
    if (a) this.renderMeta(a);
    void this.load();
  }

  private async load(): Promise<void> {
    const sel = this.store.selected;
    if (!sel) return;
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      const detail = await fetchDetail(sel.node, sel.path);
      if (this.store.selected === sel) {
        this.store.detail = detail;
        this.renderDetail();
      }
    } catch (err) {
      this.show(`cannot load ${sel.path}: ${(err as Error).message}`, true);
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        void this.load();
      }
    }
  }

  private renderMeta(a: ActorInfo): void {
    setText(this.title, a.path);
    const sup = a.supervisor;
    const parts: [string, string, string?][] = [
      ['node', a.node],
      ['kind', a.kind],
      ['status', a.status, `badge ${a.status}`],
      ['state', stateText(a.state)],
      ['incarnation', `#${a.incarnation}`],
      ['restarts', sup ? `${a.restarts} · supervisor ${sup.restartsInPeriod}/${sup.intensity} in ${sup.period / 1000} s` : String(a.restarts)],
      ['mailbox', String(a.mailbox)],
      ['msg/s', fmtRate(a.rate)],
    ];
    if (a.own) parts.push(['strategy', `${a.own.strategy}, ${a.own.restartsInPeriod}/${a.own.intensity} in ${a.own.period / 1000} s`]);
    const text = JSON.stringify(parts);
    if (this.meta.dataset.text === text) return;
    this.meta.dataset.text = text;
    clear(this.meta);
    for (const [k, v, cls] of parts) {
      this.meta.append(h('span', { class: 'kv', 'data-k': k }, h('span', { class: 'k' }, k), h('span', { class: `v ${cls ?? ''}` }, v)));
    }
    const root = a.parent === null;
    this.buttons.restart!.disabled = root;
    this.buttons.stop!.disabled = root;
  }

  /** The history entry shown: the chosen step, or the newest (live). */
  private shown(d: ActorDetail): { entry: HistoryEntry | undefined; index: number } {
    const list = d.history;
    if (this.store.step === undefined) return { entry: list[list.length - 1], index: list.length - 1 };
    const index = list.findIndex((e) => e.seq === this.store.step);
    const i = index >= 0 ? index : 0;
    return { entry: list[i], index: i };
  }

  private renderDetail(): void {
    const d = this.store.detail;
    if (!d) return;
    const { entry, index } = this.shown(d);
    const live = this.store.step === undefined;
    const renderKey = JSON.stringify([d.path, d.node, index, live, entry?.seq, entry?.snapshot.active, d.canTake, d.history.length, d.available]);
    // Events offered: those it can take now first, then the rest of what the machine knows.
    const options = [...d.canTake, ...d.events.filter((e) => !d.canTake.includes(e))];
    const current = this.eventSelect.value;
    if (this.eventSelect.dataset.options !== JSON.stringify([options, d.canTake])) {
      this.eventSelect.dataset.options = JSON.stringify([options, d.canTake]);
      clear(this.eventSelect);
      for (const e of options) {
        this.eventSelect.append(h('option', { value: e }, d.canTake.includes(e) ? e : `${e} (not now)`));
      }
      if (d.wildcard) this.eventSelect.append(h('option', { value: '' }, '(any type: see payload)'));
      else if (options.length === 0) this.eventSelect.append(h('option', { value: '', disabled: true }, '(takes no events)'));
      if (options.includes(current)) this.eventSelect.value = current;
    }
    setText(this.stepLabel, d.history.length ? `${index + 1} / ${d.history.length}${live ? ' · live' : ''}` : 'no steps yet');
    this.buttons.back!.disabled = index <= 0;
    this.buttons.first!.disabled = index <= 0;
    this.buttons.forward!.disabled = live || index >= d.history.length - 1;
    this.buttons.live!.disabled = live;
    this.buttons.live!.classList.toggle('on', live);
    if (renderKey === this.lastRender) return;
    this.lastRender = renderKey;
    if (!d.available || !d.chart) {
      clear(this.chartWrap);
      this.chartWrap.append(h('div', { class: 'empty' }, d.reason ?? 'no statechart available for this actor'));
    } else {
      const active = entry?.snapshot.active ?? d.snapshot?.active ?? [];
      // Laid out asynchronously (ELK, once per machine): only the newest render lands.
      const token = renderKey;
      renderStatechart(d.chart, { active, canTake: live ? d.canTake : [], ...(d.machineId ? { machineId: d.machineId } : {}) }).then(
        (svg) => {
          if (this.lastRender !== token) return;
          svg.classList.toggle('past', !live);
          this.chartWrap.replaceChildren(svg);
        },
        (err: unknown) => {
          if (this.lastRender !== token) return;
          this.chartWrap.replaceChildren(h('div', { class: 'empty' }, `cannot lay the statechart out: ${(err as Error).message}`));
        },
      );
    }
    this.renderStep(entry, live);
  }

  private renderStep(entry: HistoryEntry | undefined, live: boolean): void {
    clear(this.stepInfo);
    if (!entry) return;
    const what = entry.event
      ? h('span', {}, 'after ', h('b', { class: 'event-type', title: entry.event.type }, eventLabel(entry.event.type)), ` from ${entry.event.from}`, entry.event.corr ? ` · corr ${entry.event.corr}` : '')
      : h('span', {}, h('b', {}, entry.marker ?? 'snapshot'));
    this.stepInfo.append(
      h(
        'div',
        { class: `step-head${live ? '' : ' past'}` },
        live ? 'live · ' : 'viewing a past step · ',
        what,
        ` · ${fmtTime(entry.at)} · incarnation #${entry.incarnation} · state `,
        h('b', { class: 'step-state' }, stateText(entry.snapshot.value)),
      ),
      h(
        'div',
        { class: 'step-grid' },
        entry.event ? h('div', {}, h('div', { class: 'k' }, 'payload'), h('pre', {}, json(entry.event.payload))) : null,
        h('div', {}, h('div', { class: 'k' }, 'context'), h('pre', {}, json(entry.snapshot.context))),
      ),
    );
  }

  private moveStep(to: number | 'first' | 'live'): void {
    const d = this.store.detail;
    if (!d || d.history.length === 0) return;
    if (to === 'live') this.store.step = undefined;
    else if (to === 'first') this.store.step = d.history[0]!.seq;
    else {
      const { index } = this.shown(d);
      const next = Math.max(0, Math.min(d.history.length - 1, index + to));
      this.store.step = to > 0 && next === d.history.length - 1 ? undefined : d.history[next]!.seq;
    }
    this.renderDetail();
  }

  private async send(): Promise<void> {
    const sel = this.store.selected;
    if (!sel) return;
    let payload: unknown;
    try {
      payload = JSON.parse(this.payload.value || '{}');
    } catch (err) {
      return this.show(`payload is not valid JSON: ${(err as Error).message}`, true);
    }
    let type = this.eventSelect.value;
    if (!type && payload && typeof payload === 'object' && 'type' in payload) type = String((payload as { type: unknown }).type);
    if (!type) return this.show('choose an event type', true);
    try {
      await act('send', this.auth.token(), { ...sel, type, payload });
      this.show(`sent ${type} to ${sel.path}`, false);
      this.store.step = undefined;
      void this.load();
    } catch (err) {
      this.failed(err);
    }
  }

  private async action(what: 'restart' | 'stop'): Promise<void> {
    const sel = this.store.selected;
    if (!sel) return;
    try {
      const r = await act(what, this.auth.token(), sel);
      this.show(what === 'restart' ? `restarted ${sel.path} as incarnation #${String(r.incarnation)}` : `stopped ${sel.path}`, false);
      void this.load();
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    this.show(err instanceof ApiFailure ? `${err.code}: ${err.message}` : (err as Error).message, true);
    if (err instanceof ApiFailure && (err.status === 401 || err.code === 'bad_token')) this.auth.rejected();
  }

  private show(text: string, error: boolean): void {
    setText(this.result, text);
    this.result.className = `action-result ${error ? 'error' : 'ok'}`;
  }
}
