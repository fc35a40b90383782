import { generateNatsConf, type NatsConfOptions } from './nats-conf.js';

export interface NatsClusterConfOptions extends NatsConfOptions {
  /** Hosts of the servers, for the routes (default nats-1, nats-2, nats-3). */
  hosts?: string[];
  /** Cluster (and JetStream cluster) name (default elders). */
  name?: string;
  routePort?: number;
}

/**
 * nats.conf for a cluster of servers (three by default): the single-server config
 * with its role users, plus what clustering needs: a server name (from
 * $ELDERTREE_NATS_NAME, so one file serves every server) and routes to every server
 * (a server skips the route to itself). JetStream then replicates the KV buckets
 * across the servers; eldertree creates them with 3 replicas on 3+ servers.
 */
export function generateClusterNatsConf(options: NatsClusterConfOptions = {}): string {
  const hosts = options.hosts ?? ['nats-1', 'nats-2', 'nats-3'];
  const port = options.routePort ?? 6222;
  const routes = hosts.map((h) => `"nats://${h}:${port}"`).join(', ');
  return `${generateNatsConf(options)}
# ---- Cluster of ${hosts.length} servers (\`eldertree nats-conf --cluster\`) ----
# Each server sets ELDERTREE_NATS_NAME to its own name (e.g. ${hosts[0]}).
server_name: $ELDERTREE_NATS_NAME

cluster {
  name: ${options.name ?? 'elders'}
  listen: 0.0.0.0:${port}
  routes: [${routes}]
}
`;
}
