import type { Envelope } from '../actors/envelope.js';
import { isNodeAddress } from '../actors/envelope.js';
import { isEntityTarget, parseEntityTarget, shardOf, type ShardCount } from '../actors/entity-address.js';
import type { Transport, TransportHost } from '../actors/transport.js';
import { decodeFrame, encodeEnvelope } from './codec.js';

/**
 * The in-process transport: several nodes in one process share a hub that knows which
 * node hosts which path. The embedded default for one node needs no transport at all;
 * this one is for in-process multi-node setups and tests, and with `serialize` every
 * envelope goes through the same msgpackr codec as on NATS.
 */
export class LocalHub {
  readonly paths = new Map<string, TransportHost>();
  readonly nodes = new Map<string, TransportHost>();
  /** Entity shards: `<kind>#<shard>` -> the node that owns it, and each kind's shard count. */
  readonly shards = new Map<string, TransportHost>();
  readonly shardCounts = new Map<string, ShardCount>();
}

export interface LocalTransportOptions {
  hub?: LocalHub;
  /** Encode and decode every envelope (as the wire would). Default false. */
  serialize?: boolean;
}

export class LocalTransport implements Transport {
  readonly hub: LocalHub;
  private host: TransportHost | undefined;
  private readonly serialize: boolean;

  constructor(options: LocalTransportOptions = {}) {
    this.hub = options.hub ?? new LocalHub();
    this.serialize = options.serialize ?? false;
  }

  async start(host: TransportHost): Promise<void> {
    this.host = host;
    this.hub.nodes.set('@' + host.nodeId, host);
  }

  register(path: string): void {
    if (this.host) this.hub.paths.set(path, this.host);
  }

  unregister(path: string): void {
    if (this.hub.paths.get(path) === this.host) this.hub.paths.delete(path);
  }

  registerShard(kind: string, shard: number, shards: ShardCount): void {
    if (!this.host) return;
    this.hub.shardCounts.set(kind, shards);
    this.hub.shards.set(`${kind}#${shard}`, this.host);
  }

  unregisterShard(kind: string, shard: number): void {
    if (this.hub.shards.get(`${kind}#${shard}`) === this.host) this.hub.shards.delete(`${kind}#${shard}`);
  }

  private hostOf(target: string): TransportHost | undefined {
    if (isNodeAddress(target)) return this.hub.nodes.get(target);
    if (!isEntityTarget(target)) return this.hub.paths.get(target);
    const address = parseEntityTarget(target);
    const shards = typeof address === 'object' ? this.hub.shardCounts.get(address.kind) : undefined;
    if (typeof address === 'string' || shards === undefined) return undefined;
    return this.hub.shards.get(`${address.kind}#${shardOf(address.key, shards)}`);
  }

  send(envelope: Envelope): void {
    const target = envelope.target_elder;
    const host = this.hostOf(target);
    if (host === undefined || host === this.host) {
      this.host?.undeliverable(envelope, 'unknown_target', `no node hosts ${target}`);
      return;
    }
    if (!this.serialize) {
      host.receive(envelope);
      return;
    }
    const decoded = decodeFrame(encodeEnvelope(envelope));
    if (decoded.ok) host.receive(decoded.value);
    else host.malformed(decoded.reason);
  }

  /** Hands raw bytes to a node as if they came off the wire (fault injection, fuzzing). */
  inject(nodeId: string, frame: Uint8Array): void {
    const host = this.hub.nodes.get('@' + nodeId);
    if (!host) return;
    const decoded = decodeFrame(frame);
    if (decoded.ok) host.receive(decoded.value);
    else host.malformed(decoded.reason);
  }

  async stop(): Promise<void> {
    if (!this.host) return;
    for (const [path, host] of this.hub.paths) if (host === this.host) this.hub.paths.delete(path);
    for (const [shard, host] of this.hub.shards) if (host === this.host) this.hub.shards.delete(shard);
    this.hub.nodes.delete('@' + this.host.nodeId);
    this.host = undefined;
  }
}
