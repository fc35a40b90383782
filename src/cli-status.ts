import { parseEntityTarget, shardOf, type ShardCount } from './actors/entity-address.js';
import type { InspectReply } from './cluster/cluster-node.js';
import { logicalTree, treePrefixes, type LogicalActor } from './inspector/tree.js';

/** `eldertree status`: what the nodes answered, as the tree the user wrote. */
export interface StatusReport {
  /** Each node's warnings (e.g. a KV bucket with fewer replicas than asked), prefixed by the node. */
  warnings: string[];
  nodes: { node: string; status: 'up' | 'down'; heartbeatAgeMs: number; actors: number }[];
  /** The user's tree (tree.ts logicalTree): one entry per actor, no placement plumbing. */
  actors: (Omit<LogicalActor, 'parent' | 'depth'> & { parent: string | null; depth: number })[];
}

export function statusReport(replies: InspectReply[]): StatusReport {
  const now = Date.now();
  const nodes = new Map<string, StatusReport['nodes'][number]>();
  for (const reply of replies) {
    for (const m of reply.members) {
      const known = nodes.get(m.node);
      const age = Math.max(0, now - m.lastSeen);
      if (!known || age < known.heartbeatAgeMs) nodes.set(m.node, { node: m.node, status: m.status, heartbeatAgeMs: age, actors: 0 });
    }
  }
  const actors = logicalTree(replies.map((r) => ({ node: r.node, actors: r.actors })));
  for (const reply of replies) {
    nodes.set(reply.node, {
      node: reply.node,
      status: 'up',
      heartbeatAgeMs: Math.max(0, now - reply.at),
      actors: actors.filter((a) => a.nodes.includes(reply.node)).length,
    });
  }
  const warnings = replies.flatMap((r) => (r.warnings ?? []).map((w) => `${r.node}: ${w}`));
  return { warnings, nodes: [...nodes.values()].sort((a, b) => a.node.localeCompare(b.node)), actors };
}

/** Nodes as a table, actors as the supervision tree (paths in full, so the output greps well). */
export function renderStatus(report: StatusReport): string {
  if (report.nodes.length === 0) return 'no node answered: is any node running in this cluster?\n';
  const table = (rows: string[][]) => {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    return rows.map((r) => '  ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  };
  const nodes = table([
    ['NODE', 'STATUS', 'HEARTBEAT', 'ACTORS'],
    ...report.nodes.map((n) => [n.node, n.status, `${(n.heartbeatAgeMs / 1000).toFixed(1)} s ago`, String(n.actors)]),
  ]);
  const rows = report.actors;
  const prefixes = treePrefixes(rows);
  // The node that runs it; other copies and a singleton's standbys in brackets.
  const where = (a: StatusReport['actors'][number]) =>
    [a.node, a.nodes.length > 1 ? `(+${a.nodes.filter((n) => n !== a.node).join(',')})` : '', a.standbys.length ? `(standby ${a.standbys.join(',')})` : '']
      .filter(Boolean)
      .join(' ');
  const actors = table([
    ['PATH', 'NODE', 'STATUS', 'STATE', 'INC', 'RESTARTS', 'MAILBOX'],
    ...rows.map((a, i) => [
      prefixes[i] + a.path,
      where(a),
      a.status,
      JSON.stringify(a.state) ?? '',
      String(a.incarnation),
      a.kind === 'supervisor' ? `${a.restarts} (${a.restartsInPeriod}/${a.intensity} in ${a.period} ms)` : String(a.restarts),
      String(a.mailbox),
    ]),
  ]);
  const regions = rows.filter((a) => a.cluster && a.entities);
  const entities = regions.length
    ? `\nENTITIES\n${table([
        ['KIND', 'REGION', 'SHARDS', 'ACTIVE', 'ACTIVATIONS', 'PASSIVATIONS', 'OWNERS (shards)'],
        ...regions.map((a) => [
          a.entities!.kind,
          a.path,
          String(a.entities!.shards),
          String(a.cluster!.active),
          String(a.cluster!.activations),
          String(a.cluster!.passivations),
          Object.entries(a.cluster!.owners)
            .map(([node, owned]) => `${node}: ${owned.length}`)
            .join(', '),
        ]),
      ])}\n`
    : '';
  const warnings = report.warnings.length > 0 ? `WARNINGS\n${report.warnings.map((w) => `  ${w}`).join('\n')}\n\n` : '';
  return `${warnings}NODES\n${nodes}\n\nACTORS\n${actors}\n${entities}`;
}

/** `status --find kind/key`: the entity's shard and the node that owns it, from the regions' rows. */
export function findEntity(
  report: StatusReport,
  target: string,
): { entity: string; region: string; shard: number; shards: number; node: string } | string {
  const address = parseEntityTarget(target);
  if (typeof address === 'string') return address;
  const region = report.actors.find((a) => a.entities?.kind === address.kind);
  if (!region?.entities || !region.cluster) return `no region of entity kind ${address.kind} in this cluster`;
  const shards = region.entities.shards as ShardCount;
  const shard = shardOf(address.key, shards);
  const node = Object.entries(region.cluster.owners).find(([, owned]) => owned.includes(shard))?.[0];
  if (node === undefined) return `${target}: shard ${shard} of ${shards} has no owner right now (a move in progress?)`;
  return { entity: target, region: region.path, shard, shards, node };
}
