import { Counter, Gauge, Registry } from 'prom-client';
import { supervisorOf } from '../telemetry/labels.js';
import type { TreeSnapshot } from './protocol.js';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/**
 * Prometheus text exposition (format 0.0.4, through prom-client) of what the inspector
 * sees of the whole cluster: per node and supervisor (entities: their region) messages
 * processed, restarts, mailbox depth and actors up; per supervisor its intensity; dead
 * letters by node and reason (counted from the event stream since the inspector
 * started); per node up and heartbeat age. Then the families of `nodeRegistries` (the
 * latency histograms and counters of nodes in this process) that the tree does not have.
 */
export async function prometheusText(
  tree: TreeSnapshot,
  deadLetters: ReadonlyMap<string, number>,
  nodeRegistries: readonly Registry[] = [],
): Promise<string> {
  const registry = new Registry();
  const counter = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers: [registry] });
  const byGroup = ['node', 'supervisor'];
  const processed = counter('eldertree_messages_processed_total', 'Messages processed (all incarnations), by node and supervisor (entities: their region).', byGroup);
  const restarts = counter('eldertree_restarts_total', 'Restarts of actors by their supervisor, by node and supervisor.', byGroup);
  const mailbox = gauge('eldertree_mailbox_depth', 'Messages waiting in mailboxes, by node and supervisor.', byGroup);
  const up = gauge('eldertree_actor_up', 'Actors with a running incarnation, by node and supervisor.', byGroup);
  const inPeriod = gauge('eldertree_supervisor_restarts_in_period', 'Restarts a supervisor counts in its current period (it escalates past its intensity).', byGroup);
  const intensity = gauge('eldertree_supervisor_intensity', 'Restarts a supervisor allows within its period.', byGroup);
  const dead = counter('eldertree_dead_letters_total', 'Dead letters by node and reason, seen by this inspector since it started.', ['node', 'reason']);
  const nodeUp = gauge('eldertree_node_up', '1 while the node is up.', ['node']);
  const age = gauge('eldertree_node_heartbeat_age_seconds', 'Seconds since the node was last heard from.', ['node']);
  const actors = gauge('eldertree_node_actors', 'Actors hosted by the node.', ['node']);
  for (const a of tree.actors) {
    const labels = { node: a.node, supervisor: supervisorOf(a.path) };
    processed.inc(labels, a.processed);
    restarts.inc(labels, a.restarts);
    mailbox.inc(labels, a.mailbox);
    up.inc(labels, a.status === 'running' ? 1 : 0);
    if (a.own) {
      inPeriod.set({ node: a.node, supervisor: a.path }, a.own.restartsInPeriod);
      intensity.set({ node: a.node, supervisor: a.path }, a.own.intensity);
    }
  }
  for (const [key, n] of deadLetters) {
    const [node, reason] = key.split('\u0000') as [string, string];
    dead.inc({ node, reason }, n);
  }
  for (const n of tree.nodes) {
    nodeUp.set({ node: n.node }, n.status === 'up' ? 1 : 0);
    if (n.heartbeatAgeMs !== null) age.set({ node: n.node }, n.heartbeatAgeMs / 1000);
    actors.set({ node: n.node }, n.actors);
  }
  let text = await registry.metrics();
  // Several in-process nodes share family names: their samples go under one HELP/TYPE.
  const families = new Map<string, string[]>();
  for (const r of nodeRegistries) {
    // prom-client writes one block per family (HELP, TYPE, samples), blocks apart by a blank line.
    for (const block of (await r.metrics()).split('\n\n')) {
      const lines = block.split('\n').filter((l) => l !== '');
      const name = /^# HELP (\S+)/.exec(lines[0] ?? '')?.[1];
      if (name === undefined || registry.getSingleMetric(name)) continue;
      const family = families.get(name);
      if (family === undefined) families.set(name, lines);
      else family.push(...lines.filter((l) => !l.startsWith('#')));
    }
  }
  for (const lines of families.values()) text += '\n' + lines.join('\n') + '\n';
  return text;
}
