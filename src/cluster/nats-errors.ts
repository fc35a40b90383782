/**
 * NATS and JetStream failures in words a user can act on, and warnings that repeat
 * only as a count: a store outage must not log one line per message.
 *
 * nats.js reports a JetStream request nobody answered (503, no responders) as
 * "jetstream is not enabled". On a cluster with JetStream that means the stream (or,
 * for management calls, the meta group) has no leader right now: an election is in
 * progress, which takes seconds after the server that led it is lost.
 */

/** What went wrong with a request to `stream` (a bucket's stream, or 'JetStream' for management). */
export function explainNatsError(err: unknown, stream: string): string {
  const e = err as { name?: string; message?: string; code?: unknown };
  const message = String(e?.message ?? err);
  if (/jetstream is not enabled|no responders/i.test(message) || e?.name === 'NoRespondersError') {
    return `stream ${stream} has no leader (election in progress)`;
  }
  if (/insufficient resources/i.test(message)) {
    return `stream ${stream}: not enough JetStream servers up for its replicas (insufficient resources)`;
  }
  if (e?.name === 'TimeoutError' || /^timeout$/i.test(message)) return `stream ${stream} did not answer in time (leader lost or election in progress)`;
  if (/closed|disconnect/i.test(message)) return `stream ${stream}: NATS connection ${message}`;
  return `stream ${stream}: ${message}`;
}

/** True for the failures an election or a lost server causes: worth a retry, not an alarm. */
export function isTransient(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return /jetstream is not enabled|no responders|timeout|insufficient resources|disconnect|reconnect/i.test(String(e?.message)) || e?.name === 'TimeoutError';
}
