/**
 * Opening the cluster's KV buckets (leases, locks, snapshots) so that they survive
 * the loss of a server: created with N replicas (default 3 when the cluster has at
 * least 3 servers, else 1), and opened patiently: a node that starts during a
 * JetStream election (a server just lost) waits for it instead of failing with
 * "timeout". An existing bucket with fewer replicas than asked is not changed (that is
 * the operator's call: `nats stream edit`), but reported as a warning.
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { RateLimitedLog, silentLogger, type Logger } from '../log.js';
import { explainNatsError, isTransient } from './nats-errors.js';

export interface BucketOptions {
  /** Replicas when creating; default replicasFor(connection). */
  replicas?: number;
  logger?: Logger;
  /** How long to keep trying through elections before giving up (default 30 s). */
  patienceMs?: number;
  /** Told of a bucket with fewer replicas than asked (also logged). */
  onWarning?: (warning: string) => void;
  /**
   * Longest wait for any one request to the bucket (default 1000 ms; nats.js's is 5 s).
   * A request lost with a server (its connection dropped mid-flight) is then retried
   * on the next server within a second instead of stalling its caller for five.
   */
  requestTimeoutMs?: number;
}

/**
 * Replicas for a new bucket: 3 when the server we reach is in a cluster of at least
 * 3 servers (its INFO lists every server's client URL), else 1 (a lone server
 * cannot hold more).
 */
export function replicasFor(nc: NatsConnection): number {
  const info = nc.info;
  if (!info?.cluster) return 1;
  const servers = new Set([...(info.connect_urls ?? []), `${info.host}:${info.port}`]).size;
  return servers >= 3 ? 3 : 1;
}

/** Opens `name`, creating it with `config` and the replicas asked if it does not exist. */
export async function openBucket(
  nc: NatsConnection | JetStreamClient,
  name: string,
  config: Partial<KvOptions>,
  options: BucketOptions = {},
): Promise<KV> {
  const logger = options.logger ?? silentLogger();
  const log = new RateLimitedLog(logger, 2000);
  const connection = 'info' in nc ? nc : undefined;
  // Asked again on every attempt: a server that has just started may not list its
  // routed peers yet (its INFO grows as routes connect), and its JetStream cannot
  // create anything before its meta group has formed anyway.
  const wanted = () => options.replicas ?? (connection ? replicasFor(connection) : 1);
  let replicas = wanted();
  const js = connection ? jetstream(connection, { timeout: options.requestTimeoutMs ?? 1000 }) : (nc as JetStreamClient);
  const deadline = performance.now() + (options.patienceMs ?? 30_000);
  for (;;) {
    replicas = wanted();
    try {
      const kv = await new Kvm(js).create(name, { ...config, replicas });
      const status = await kv.status();
      if (status.replicas < replicas) {
        const warning =
          `bucket ${name} has ${status.replicas} replica${status.replicas === 1 ? '' : 's'}, ${replicas} asked: ` +
          `losing the server that holds it stops what it stores; raise it with: nats stream edit KV_${name} --replicas ${replicas}`;
        logger.warn({ bucket: name, replicas: status.replicas, asked: replicas }, warning);
        options.onWarning?.(warning);
      }
      return kv;
    } catch (err) {
      if (!(isTransient(err) || isCreateRace(err)) || performance.now() > deadline) {
        const hint = /insufficient resources/i.test(String((err as Error).message))
          ? `; are ${replicas} JetStream servers up? (--kv-replicas sets how many replicas a new bucket gets)`
          : '';
        throw new Error(`cannot open KV bucket ${name} (${replicas} replicas): ${explainNatsError(err, `KV_${name}`)}${hint}`, { cause: err });
      }
      log.warn('open', { bucket: name }, `waiting for KV bucket ${name}: ${explainNatsError(err, `KV_${name}`)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Nodes starting together on a fresh server all create the same buckets. nats-server 2.9
 * can answer one of two identical, simultaneous stream creates "subjects overlap with an
 * existing stream" (the other one's, being made): the next attempt finds it and opens it.
 */
function isCreateRace(err: unknown): boolean {
  return /subjects overlap with an existing stream/i.test(String((err as Error)?.message));
}
