import type { ActorInfo, NodeInfo } from '../protocol.js';
import { fmtAge, fmtRate, h, hue, setText, stateText } from './dom.js';
import type { Store } from './store.js';

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
      h('td', { class: 'node' }),
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
    setText(nodeCell, a.node);
    nodeCell.style.setProperty('--node-hue', String(hue(a.node)));
    const badge = cells[2]!.firstElementChild as HTMLElement;
    setText(badge, a.status);
    badge.className = `badge ${a.status}`;
    badge.title = `runtime status: ${a.rawStatus}`;
    setText(cells[3]!, stateText(a.state));
    setText(cells[4]!, String(a.incarnation));
    const sup = a.supervisor;
    const restarts = cells[5] as HTMLElement;
    setText(restarts.querySelector('.n')!, String(a.restarts));
    restarts.dataset.restarts = String(a.restarts);
    restarts.title = sup
      ? `${a.restarts} restarts since first start; its supervisor ${sup.path} counts ${sup.restartsInPeriod} of ${sup.intensity} allowed in ${sup.period} ms`
      : 'root: no supervisor above it';
    const gauge = restarts.querySelector('.gauge') as HTMLElement;
    setText(gauge, sup ? `${sup.restartsInPeriod}/${sup.intensity}` : '');
    gauge.classList.toggle('hot', !!sup && sup.restartsInPeriod >= sup.intensity);
    gauge.classList.toggle('warm', !!sup && sup.restartsInPeriod > 0 && sup.restartsInPeriod < sup.intensity);
    setText(cells[6]!, String(a.mailbox));
    cells[6]!.classList.toggle('deep', a.mailbox >= 100);
    setText(cells[7]!, fmtRate(a.rate));
  }
}
