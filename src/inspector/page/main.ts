import type { FullState, LiveUpdate } from '../protocol.js';
import { ActorView } from './actor-view.js';
import { ChartsView } from './charts.js';
import { h, setText } from './dom.js';
import { ListsView } from './lists.js';
import { SequenceView } from './sequence.js';
import { Store } from './store.js';
import { STYLE } from './style.js';
import { TreeView } from './tree-view.js';

/** The inspector page: lays out the views and feeds them from the live stream (SSE). */

const store = new Store();
// The token is asked for once and kept for this tab only (sessionStorage): the server
// gives it its role; the page asserts nothing about who is asking.
const TOKEN_KEY = 'eldertree.token';
const tokenInput = h('input', {
  id: 'token',
  type: 'password',
  autocomplete: 'off',
  placeholder: 'token for actions',
  'aria-label': 'inspector token',
}) as HTMLInputElement;
tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
tokenInput.addEventListener('change', () => {
  const t = tokenInput.value.trim();
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
});

const actorView = new ActorView(store, {
  token: () => sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  rejected: () => {
    sessionStorage.removeItem(TOKEN_KEY);
    tokenInput.value = '';
    tokenInput.focus();
  },
});
const treeView = new TreeView(store, (a) => {
  actorView.select(a);
  treeView.render();
  sequence.render(true);
});
const sequence = new SequenceView(store);
const charts = new ChartsView(store);
const lists = new ListsView(store);

const conn = h('span', { class: 'conn' }, 'connecting…');
const source = h('span', { class: 'source' });
const tabs = [
  { id: 'messages', title: 'Messages', el: sequence.el },
  { id: 'dead-letters', title: 'Dead letters', el: lists.deadLetters },
  { id: 'incidents', title: 'Incidents', el: lists.incidents },
  { id: 'events', title: 'Lifecycle', el: lists.events },
  { id: 'charts', title: 'Charts', el: charts.el },
];
const tabBar = h('div', { class: 'tabs', role: 'tablist' });
const tabBody = h('div', { class: 'tab-body' });
const counts = new Map<string, HTMLElement>();
let activeTab = location.hash.slice(1) || 'messages';
for (const t of tabs) {
  const count = h('span', { class: 'count' });
  counts.set(t.id, count);
  tabBar.append(h('button', { type: 'button', role: 'tab', 'data-tab': t.id, onclick: () => showTab(t.id) }, t.title, count));
}
function showTab(id: string): void {
  activeTab = tabs.some((t) => t.id === id) ? id : 'messages';
  for (const b of tabBar.querySelectorAll('button')) b.classList.toggle('on', (b as HTMLElement).dataset.tab === activeTab);
  tabBody.replaceChildren(tabs.find((t) => t.id === activeTab)!.el);
  render();
  // Drawn while hidden, it could not scroll to the newest message: now it can.
  if (activeTab === 'messages') sequence.render(true);
}

const style = document.createElement('style');
style.textContent = STYLE;
document.head.append(style);
document.getElementById('app')!.replaceChildren(
  h(
    'header',
    { class: 'top' },
    h('h1', {}, 'eldertree ', h('span', {}, 'inspector')),
    source,
    conn,
    h('span', { class: 'spacer' }),
    h('label', { class: 'role', title: 'sent as Authorization: Bearer with debug actions; kept for this tab only' }, 'token ', tokenInput),
  ),
  h(
    'main',
    { class: 'layout' },
    h(
      'aside',
      { class: 'left' },
      h('section', { class: 'panel' }, h('h3', {}, 'Nodes'), treeView.nodesEl),
      h('section', { class: 'panel' }, h('h3', {}, 'Alerts'), lists.alerts),
      h('section', { class: 'panel tree-panel' }, h('h3', {}, 'Supervision tree'), h('div', { class: 'scroll' }, treeView.el)),
    ),
    h('div', { class: 'right' }, actorView.el),
    h('section', { class: 'panel bottom' }, tabBar, tabBody),
  ),
);
showTab(activeTab);

function render(): void {
  const tree = store.tree;
  if (tree) setText(source, tree.source.label);
  treeView.render();
  actorView.update();
  lists.render();
  if (activeTab === 'messages') sequence.render();
  if (activeTab === 'charts') charts.render();
  const dead = store.feed.filter((e) => e.type === 'dead_letter').length;
  setText(counts.get('dead-letters')!, dead ? ` ${dead}` : '');
  setText(counts.get('incidents')!, store.incidents.length ? ` ${store.incidents.length}` : '');
  setText(counts.get('messages')!, store.messages.length ? ` ${store.messages.length}` : '');
}

store.on(render);

const stream = new EventSource('/api/stream');
stream.addEventListener('init', (e) => {
  setConnected(true);
  store.init(JSON.parse((e as MessageEvent<string>).data) as FullState);
});
stream.addEventListener('update', (e) => {
  setConnected(true);
  store.update(JSON.parse((e as MessageEvent<string>).data) as LiveUpdate);
});
stream.addEventListener('error', () => setConnected(false));

function setConnected(on: boolean): void {
  if (store.connected === on && conn.dataset.state) return;
  store.connected = on;
  conn.dataset.state = on ? 'live' : 'down';
  setText(conn, on ? '● live' : '○ reconnecting…');
}
