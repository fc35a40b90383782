import type { ActorDetail, FeedEvent, FullState, Incident, LiveUpdate, MessageRecord, SeriesPoint, TreeSnapshot } from '../protocol.js';

const KEEP = { feed: 500, incidents: 200, messages: 1000, series: 300 };

/** What the page knows: the last tree, the feeds it has been sent, and the user's selection. */
export class Store {
  tree: TreeSnapshot | undefined;
  feed: FeedEvent[] = [];
  incidents: Incident[] = [];
  messages: MessageRecord[] = [];
  series: SeriesPoint[] = [];
  selected: { node: string; path: string } | undefined;
  detail: ActorDetail | undefined;
  /** History step shown; undefined follows the live state. */
  step: number | undefined;
  /** Correlation id highlighted in the sequence view. */
  corr: string | undefined;
  connected = false;
  private readonly listeners = new Set<(what: string) => void>();

  on(listener: (what: string) => void): void {
    this.listeners.add(listener);
  }

  emit(what: string): void {
    for (const l of this.listeners) l(what);
  }

  init(state: FullState): void {
    this.tree = state.tree;
    this.feed = state.feed;
    this.incidents = state.incidents;
    this.messages = state.messages;
    this.series = state.series;
    this.emit('all');
  }

  update(u: LiveUpdate): void {
    if (u.tree) this.tree = u.tree;
    const add = <T>(list: T[], items: T[] | undefined, keep: number) => (items ? list.concat(items).slice(-keep) : list);
    this.feed = add(this.feed, u.feed, KEEP.feed);
    this.incidents = add(this.incidents, u.incidents, KEEP.incidents);
    this.messages = add(this.messages, u.messages, KEEP.messages);
    this.series = add(this.series, u.series, KEEP.series);
    this.emit('all');
  }

  get selectedActor() {
    const sel = this.selected;
    return sel ? this.tree?.actors.find((a) => a.node === sel.node && a.path === sel.path) : undefined;
  }
}
