import { GUARD_PREFIX } from '../cluster/placement.js';
import { ELDER_PATHS } from '../machines/elder-tree/paths.js';
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

export interface LogicalActor extends PlacedActor {
  /** Every node running a copy (replicas, children without placement); `node` is the first running one. */
  nodes: string[];
  /** Nodes waiting to take a singleton over (their placement guard stands by). */
  standbys: string[];
  /** An entity region over the cluster: active entities summed, and which node owns which shards. */
  cluster?: { active: number; activations: number; passivations: number; owners: Record<string, number[]> };
}

/**
 * The one place that tells eldertree's plumbing from the user's tree. On a cluster,
 * placement puts a guard worker (`_placed_<id>`) where a singleton or replicated child
 * is in the spec, and the Elder Tree runs a herald as /grand-elder's agent on every
 * node. Both are actors to the runtime but not part of the tree the user wrote.
 */
export function isPlumbing(path: string): boolean {
  return guardedPath(path) !== undefined || path === ELDER_PATHS.herald;
}

/** `/a/_placed_b` -> `/a/b`: the child a guard places; undefined for any other path. */
function guardedPath(path: string): string | undefined {
  const cut = path.lastIndexOf('/');
  const id = path.slice(cut + 1);
  return id.startsWith(GUARD_PREFIX) ? `${path.slice(0, cut)}/${id.slice(GUARD_PREFIX.length)}` : undefined;
}

/**
 * The tree the user wrote, out of every node's view: plumbing left out, one row per
 * path (on the first node that runs it, preferring a running copy), with the other
 * nodes that run it and the standbys of a singleton. A placed child keeps the place its
 * guard has in the spec, so children stay in spec order.
 */
export function logicalTree(views: readonly { node: string; actors: readonly ActorView[] }[]): LogicalActor[] {
  const sorted = [...views].sort((a, b) => a.node.localeCompare(b.node));
  // Spec order, merged over the nodes: a path one node runs and an earlier one does not
  // (pinned elsewhere) goes right after the path it follows on its own node.
  // A linked list (path -> next path): inserting after a path is O(1) at 100k actors.
  const next = new Map<string, string | undefined>();
  let head: string | undefined;
  const insertAfter = (previous: string | undefined, path: string) => {
    if (previous === undefined) {
      next.set(path, head);
      head = path;
    } else {
      next.set(path, next.get(previous));
      next.set(previous, path);
    }
  };
  const instances = new Map<string, { node: string; actor: ActorView }[]>();
  const standbys = new Map<string, Set<string>>();
  for (const view of sorted) {
    let previous: string | undefined;
    for (const actor of view.actors) {
      const guarded = guardedPath(actor.path);
      const logical = guarded ?? actor.path;
      if (!(guarded === undefined && isPlumbing(actor.path))) {
        if (!next.has(logical)) insertAfter(previous, logical);
        previous = logical;
      }
      if (guarded !== undefined) {
        if (actor.state === 'standby') standbys.set(guarded, (standbys.get(guarded) ?? new Set()).add(view.node));
        continue;
      }
      if (isPlumbing(actor.path)) continue;
      let list = instances.get(actor.path);
      if (!list) instances.set(actor.path, (list = []));
      list.push({ node: view.node, actor });
    }
  }
  const order = new Map<string, number>();
  for (let p = head; p !== undefined; p = next.get(p)) order.set(p, order.size);
  const paths = [...instances.keys()].sort((a, b) => order.get(a)! - order.get(b)!);
  const children = new Map<string | null, string[]>();
  for (const path of paths) {
    const parent = parentOf(path, instances);
    let list = children.get(parent);
    if (!list) children.set(parent, (list = []));
    list.push(path);
  }
  const out: LogicalActor[] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const path of children.get(parent) ?? []) {
      const copies = instances.get(path)!;
      const primary = copies.find((c) => c.actor.status === 'running') ?? copies[0]!;
      const nodes = copies.map((c) => c.node);
      out.push({
        ...primary.actor,
        node: primary.node,
        parent,
        depth,
        // Work is spread over the copies: their mail and messages add up.
        mailbox: copies.reduce((n, c) => n + c.actor.mailbox, 0),
        processed: copies.reduce((n, c) => n + c.actor.processed, 0),
        nodes,
        standbys: [...(standbys.get(path) ?? [])].filter((n) => !nodes.includes(n)),
        ...(primary.actor.entities ? { cluster: regionTotals(copies) } : {}),
      });
      walk(path, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

/** A region's copies, one per node: the entities they run add up; each owns its shards. */
function regionTotals(copies: readonly { node: string; actor: ActorView }[]): NonNullable<LogicalActor['cluster']> {
  const totals = { active: 0, activations: 0, passivations: 0, owners: {} as Record<string, number[]> };
  for (const { node, actor } of copies) {
    const e = actor.entities;
    if (!e) continue;
    totals.active += e.active;
    totals.activations += e.activations;
    totals.passivations += e.passivations;
    totals.owners[node] = e.owned;
  }
  return totals;
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
