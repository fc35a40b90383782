/**
 * NATS server lists: what `--nats` (repeatable, comma-separated) and `NATS_URL` (a comma
 * list) give. A node connects to any server of the list that answers and, once
 * connected, also learns the rest of the cluster from the server (nats.js keeps the
 * discovered URLs in its pool), so one live entry is enough to join.
 */

/** One server: nats://host:port, tls://host:port, host:port or host. */
const SERVER = /^(?:(?:nats|tls):\/\/)?(?:[^\s/:@]+(?::[^\s/@]*)?@)?[^\s/:,@]+(?::\d{1,5})?$/;

export class ServerListError extends Error {
  override name = 'ServerListError';
}

/**
 * Flattens flag values and comma lists into one list of server URLs, in order, without
 * duplicates; throws a ServerListError naming the first entry that is not a server.
 */
export function parseServerList(values: string | readonly string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const entries = (typeof values === 'string' ? [values] : values).flatMap((v) => v.split(','));
  const servers: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (!SERVER.test(entry)) throw new ServerListError(`"${entry}" is not a NATS server URL like nats://host:4222`);
    if (!servers.includes(entry)) servers.push(entry);
  }
  if (servers.length === 0) throw new ServerListError('the server list is empty');
  return servers;
}

