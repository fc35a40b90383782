import type { ActorInfo, Alert, NodeInfo } from './protocol.js';

/** Share of a supervisor's restart intensity at which it raises a warning (the page's gauge turns orange at the same share). */
export const INTENSITY_WARN_SHARE = 0.5;
/** Messages waiting in one mailbox that make an alert. */
const MAILBOX_ALERT = 1000;

/**
 * What in the tree needs attention now: nodes down, supervisors at half their restart
 * intensity or more (critical at the limit: one more crash escalates), actors down,
 * deep mailboxes. The live state adds since-when and the recent dead letters.
 */
export function treeAlerts(nodes: readonly NodeInfo[], actors: readonly ActorInfo[]): Omit<Alert, 'since'>[] {
  const alerts: Omit<Alert, 'since'>[] = [];
  for (const n of nodes) {
    if (n.status === 'down') alerts.push({ key: `node:${n.node}`, severity: 'critical', node: n.node, message: `node ${n.node} is down` });
  }
  for (const a of actors) {
    // Warn once half the restart intensity is used in the period (one restart of 100 is
    // routine); critical at the limit, where one more crash escalates.
    if (a.own && a.own.restartsInPeriod > 0 && a.own.restartsInPeriod >= Math.max(1, a.own.intensity * INTENSITY_WARN_SHARE)) {
      const atLimit = a.own.restartsInPeriod >= a.own.intensity;
      alerts.push({
        key: `intensity:${a.key}`,
        severity: atLimit ? 'critical' : 'warning',
        node: a.node,
        path: a.path,
        message: atLimit
          ? `${a.path} is at its restart limit (${a.own.restartsInPeriod}/${a.own.intensity} in ${a.own.period} ms): one more crash escalates`
          : `${a.path} restarted children ${a.own.restartsInPeriod} times in its period (limit ${a.own.intensity} in ${a.own.period} ms)`,
      });
    }
    if (a.status === 'down' && a.rawStatus !== 'stopped') {
      alerts.push({ key: `down:${a.key}`, severity: 'warning', node: a.node, path: a.path, message: `${a.path} on ${a.node} is down (${a.rawStatus})` });
    }
    if (a.mailbox >= MAILBOX_ALERT) {
      alerts.push({ key: `mailbox:${a.key}`, severity: 'warning', node: a.node, path: a.path, message: `${a.path} has ${a.mailbox} messages waiting` });
    }
  }
  return alerts;
}
