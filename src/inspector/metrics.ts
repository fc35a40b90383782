import type { TreeSnapshot } from './protocol.js';

/**
 * Prometheus text exposition (format 0.0.4) of a tree snapshot: per actor messages,
 * restarts, mailbox depth and up; per node up and heartbeat age; dead letters by node
 * and reason (counted from the event stream since the inspector started).
 */
export function prometheusText(tree: TreeSnapshot, deadLetters: ReadonlyMap<string, number>): string {
  const out: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string, samples: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  };
  const actorLabels = (a: TreeSnapshot['actors'][number]) => ({ node: a.node, path: a.path, kind: a.kind });
  family(
    'eldertree_messages_processed_total',
    'counter',
    'Messages processed by the actor (all incarnations).',
    tree.actors.map((a) => [actorLabels(a), a.processed]),
  );
  family(
    'eldertree_restarts_total',
    'counter',
    'Restarts of the actor by its supervisor since it was first started.',
    tree.actors.map((a) => [actorLabels(a), a.restarts]),
  );
  family(
    'eldertree_mailbox_depth',
    'gauge',
    'Messages waiting in the actor mailbox.',
    tree.actors.map((a) => [actorLabels(a), a.mailbox]),
  );
  family(
    'eldertree_actor_up',
    'gauge',
    '1 while the actor has a running incarnation.',
    tree.actors.map((a) => [actorLabels(a), a.status === 'running' ? 1 : 0]),
  );
  family(
    'eldertree_actor_incarnation',
    'gauge',
    'Current incarnation number of the actor.',
    tree.actors.map((a) => [actorLabels(a), a.incarnation]),
  );
  family(
    'eldertree_supervisor_restarts_in_period',
    'gauge',
    'Restarts a supervisor counts in its current period (it escalates past its intensity).',
    tree.actors.filter((a) => a.own).map((a) => [{ node: a.node, path: a.path }, a.own!.restartsInPeriod]),
  );
  family(
    'eldertree_supervisor_intensity',
    'gauge',
    'Restarts a supervisor allows within its period.',
    tree.actors.filter((a) => a.own).map((a) => [{ node: a.node, path: a.path }, a.own!.intensity]),
  );
  family(
    'eldertree_dead_letters_total',
    'counter',
    'Dead letters by node and reason, seen by this inspector since it started.',
    [...deadLetters].map(([k, n]) => {
      const [node, reason] = k.split('\u0000') as [string, string];
      return [{ node, reason }, n];
    }),
  );
  family(
    'eldertree_node_up',
    'gauge',
    '1 while the node is up.',
    tree.nodes.map((n) => [{ node: n.node }, n.status === 'up' ? 1 : 0]),
  );
  family(
    'eldertree_node_heartbeat_age_seconds',
    'gauge',
    'Seconds since the node was last heard from.',
    tree.nodes.filter((n) => n.heartbeatAgeMs !== null).map((n) => [{ node: n.node }, n.heartbeatAgeMs! / 1000]),
  );
  family('eldertree_node_actors', 'gauge', 'Actors hosted by the node.', tree.nodes.map((n) => [{ node: n.node }, n.actors]));
  return out.join('\n') + '\n';
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Label values escape backslash, double quote and newline (the format's three). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
