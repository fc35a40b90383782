import type { ActorInfo, NodeInfo } from '../protocol.js';
import { fmtAge, fmtRate, h, hue, setText, stateText } from './dom.js';
import type { Store } from './store.js';

/** Same share as the server's INTENSITY_WARN_SHARE (live.ts): the gauge turns orange with the alert. */
const WARN_SHARE = 0.5;

/** Nodes with status and heartbeat age, and the supervision tree across nodes, updated in place. */
export class TreeView {
  readonly nodesEl = h('div', { class: 'nodes' });
  readonly tableBody = h('tbody');
  readonly el: HTMLElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();
  private readonly nodeCards = new Map<string, HTMLElement>();

  constructor(
    private readonly store: Store,
    private readonly onSelect: (a: ActorInfo) => void,
  ) {
    const head = h(
      'thead',
      {},
      h('tr', {}, ...['actor', 'node', 'status', 'state', 'inc', 'restarts', 'mailbox', 'msg/s'].map((t) => h('th', {}, t))),
    );
    this.el = h('table', { class: 'tree' }, head, this.tableBody);
  }

  render(): void {
    const tree = this.store.tree;
    if (!tree) return;
    this.renderNodes(tree.nodes);
    this.renderRows(tree.actors);
  }

  private renderNodes(nodes: NodeInfo[]): void {
    const seen = new Set<string>();
    for (const n of nodes) {
      seen.add(n.node);
      let card = this.nodeCards.get(n.node);
      if (!card) {
        card = h(
          'div',
          { class: 'node-card', 'data-node': n.node, style: `--node-hue:${hue(n.node)}` },
          h('span', { class: 'dot' }),
          h('b', { class: 'name' }, n.node),
          h('span', { class: 'status' }),
          h('span', { class: 'hb' }),
          h('span', { class: 'count' }),
        );
        this.nodeCards.set(n.node, card);
        this.nodesEl.append(card);
      }
      card.classList.toggle('down', n.status === 'down');
      setText(card.querySelector('.status')!, n.status);
      setText(card.querySelector('.hb')!, `♥ ${fmtAge(n.heartbeatAgeMs)}`);
      setText(card.querySelector('.count')!, `${n.actors} actors`);
    }
    for (const [node, card] of this.nodeCards) {
      if (!seen.has(node)) {
        card.remove();
        this.nodeCards.delete(node);
      }
    }
  }

  private renderRows(actors: ActorInfo[]): void {
    const seen = new Set<string>();
    const sel = this.store.selected;
    let previous: HTMLTableRowElement | undefined;
    actors.forEach((a) => {
      seen.add(a.key);
      let row = this.rows.get(a.key);
      if (!row) {
        row = this.makeRow(a);
        this.rows.set(a.key, row);
      }
      // Keep DOM order = tree order without touching rows already in place.
      const want = previous ? previous.nextSibling : this.tableBody.firstChild;
      if (want !== row) this.tableBody.insertBefore(row, want);
      previous = row;
      this.fill(row, a);
      row.classList.toggle('selected', sel?.node === a.node && sel?.path === a.path);
    });
    for (const [key, row] of this.rows) {
      if (!seen.has(key)) {
        row.remove();
        this.rows.delete(key);
      }
    }
  }

  private makeRow(a: ActorInfo): HTMLTableRowElement {
    const row = h(
      'tr',
      { class: `actor ${a.kind}`, 'data-key': a.key, 'data-path': a.path, 'data-node': a.node, tabindex: 0 },
      h('td', { class: 'name' }, h('span', { class: 'indent' }), h('span', { class: 'kind' }), h('span', { class: 'label' })),
      h('td', { class: 'node' }, h('span', { class: 'owner' }), h('span', { class: 'copies' }), h('span', { class: 'standbys' })),
      h('td', { class: 'status' }, h('span', { class: 'badge' })),
      h('td', { class: 'state' }),
      h('td', { class: 'inc num' }),
      h('td', { class: 'restarts num' }, h('span', { class: 'n' }), h('span', { class: 'gauge' })),
      h('td', { class: 'mailbox num' }),
      h('td', { class: 'rate num' }),
    );
    const select = () => {
      const current = this.store.tree?.actors.find((x) => x.key === row.dataset.key);
      if (current) this.onSelect(current);
    };
    row.addEventListener('click', select);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') select();
    });
    return row;
  }

  private fill(row: HTMLTableRowElement, a: ActorInfo): void {
    const cells = row.children;
    const indent = cells[0]!.querySelector('.indent') as HTMLElement;
    indent.style.width = `${a.depth * 16}px`;
    setText(cells[0]!.querySelector('.kind')!, a.kind === 'supervisor' ? '◆' : '●');
    setText(cells[0]!.querySelector('.label')!, a.depth === 0 ? a.path : a.name);
    (cells[0] as HTMLElement).title = a.path;
    const nodeCell = cells[1] as HTMLElement;
    setText(nodeCell.querySelector('.owner')!, a.node);
    nodeCell.style.setProperty('--node-hue', String(hue(a.node)));
    // One row per actor: other copies and a singleton's standbys are badges, not rows.
    const copies = nodeCell.querySelector('.copies') as HTMLElement;
    setText(copies, a.nodes.length > 1 ? `+${a.nodes.length - 1}` : '');
    copies.title = a.nodes.length > 1 ? `runs on ${a.nodes.join(', ')}` : '';
    const standbys = nodeCell.querySelector('.standbys') as HTMLElement;
    // A region: its entities are counted here, never listed (there may be millions).
    const e = a.entities;
    const standbyText = a.standbys.length > 0 ? `standby ${a.standbys.join(' ')}` : '';
    setText(standbys, e ? `${e.kind}: ${e.active} active, ${e.shards} shards` : standbyText);
    standbys.title = e
      ? `shards by node: ${Object.entries(e.owners).map(([n, s]) => `${n} ${s.length}`).join(', ')}; ${e.activations} activations, ${e.passivations} passivations`
      : a.standbys.length > 0
        ? `takes over if ${a.node} goes: ${a.standbys.join(', ')}`
        : '';
    const badge = cells[2]!.firstElementChild as HTMLElement;
    setText(badge, a.status);
    badge.className = `badge ${a.status}`;
    badge.title = `runtime status: ${a.rawStatus}`;
    setText(cells[3]!, stateText(a.state));
    setText(cells[4]!, String(a.incarnation));
    const sup = a.supervisor;
    const own = a.own;
    const restarts = cells[5] as HTMLElement;
    // Its own restarts; a supervisor also shows how much of its restart intensity is used.
    setText(restarts.querySelector('.n')!, String(a.restarts));
    restarts.dataset.restarts = String(a.restarts);
    restarts.title =
      (sup ? `${a.restarts} restarts since first start (by ${sup.path})` : 'root: no supervisor above it') +
      (own ? `; restarts of its children: ${own.restartsInPeriod} of ${own.intensity} allowed in ${own.period} ms` : '');
    const gauge = restarts.querySelector('.gauge') as HTMLElement;
    setText(gauge, own ? `${own.restartsInPeriod}/${own.intensity}` : '');
    const share = own && own.intensity > 0 ? own.restartsInPeriod / own.intensity : 0;
    gauge.classList.toggle('hot', !!own && own.restartsInPeriod >= own.intensity);
    gauge.classList.toggle('warm', !!own && share >= WARN_SHARE && own.restartsInPeriod < own.intensity);
    setText(cells[6]!, String(a.mailbox));
    cells[6]!.classList.toggle('deep', a.mailbox >= 100);
    setText(cells[7]!, fmtRate(a.rate));
  }
}
