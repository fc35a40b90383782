import type { ActorView } from '../supervision/node.js';

export interface PlacedActor extends ActorView {
  node: string;
  /** Parent path, when the parent is in the tree too. */
  parent: string | null;
  depth: number;
}

/**
 * One supervision tree out of every node's view: paths nest by their tokens, children
 * keep start order (first seen), and a path running on several nodes (replicas, the
 * root everywhere) appears once per node, next to each other, in node order.
 */
export function mergeTree(views: readonly { node: string; actors: readonly ActorView[] }[]): PlacedActor[] {
  const sorted = [...views].sort((a, b) => a.node.localeCompare(b.node));
  const instances = new Map<string, { node: string; actor: ActorView }[]>();
  for (const view of sorted) {
    for (const actor of view.actors) {
      let list = instances.get(actor.path);
      if (!list) instances.set(actor.path, (list = []));
      list.push({ node: view.node, actor });
    }
  }
  const children = new Map<string | null, string[]>();
  for (const path of instances.keys()) {
    const parent = parentOf(path, instances);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(path);
  }
  const out: PlacedActor[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const path of children.get(parent) ?? []) {
      for (const { node, actor } of instances.get(path)!) out.push({ ...actor, node, parent, depth });
      walk(path, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/** The nearest ancestor path present in the tree (a gap, e.g. an unplaced subtree, is skipped). */
function parentOf(path: string, present: Map<string, unknown>): string | null {
  let p = path;
  for (;;) {
    const cut = p.lastIndexOf('/');
    if (cut <= 0) return null;
    p = p.slice(0, cut);
    if (present.has(p)) return p;
  }
}

/** Box-drawing prefix per row: `├── `, `│   └── `... (for terminals). */
export function treePrefixes(rows: readonly { path: string; parent: string | null; depth: number }[]): string[] {
  // A row is the last of its siblings when no later row shares its parent before the parent's subtree ends.
  const isLast = rows.map((row, i) => {
    for (let j = i + 1; j < rows.length; j++) {
      if (rows[j]!.depth < row.depth) return true;
      if (rows[j]!.depth === row.depth && rows[j]!.parent === row.parent) return false;
    }
    return true;
  });
  const open: boolean[] = []; // per depth: does the ancestor at that depth have siblings below?
  return rows.map((row, i) => {
    open.length = row.depth;
    const stem = open.slice(1).map((o) => (o ? '│   ' : '    ')).join('');
    const prefix = row.depth === 0 ? '' : stem + (isLast[i] ? '└── ' : '├── ');
    open[row.depth] = !isLast[i];
    return prefix;
  });
}
