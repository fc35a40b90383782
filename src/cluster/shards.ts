/**
 * Shard ownership on a cluster: which node runs the entities of each shard. A shard goes
 * to the node rendezvous hashing picks among the nodes up (`<kind>#<shard>`), and that
 * node owns it through a lease, one per shard, never one per entity. While it holds the
 * lease it subscribes to the shard's subject and its region processes the shard's mail;
 * the entity cells are fenced by it, so a paused owner that lost its lease processes
 * nothing more.
 *
 * A move (a node joins, leaves or dies) is make-before-use: the old owner first stops
 * taking the shard's mail (unsubscribes), passivates its entities (a persistent one saves,
 * and only then are its acked messages acknowledged), and releases the lease; the new
 * owner acquires it and subscribes. In between, mail finds no subscriber: an acked tell is
 * resent by its sender until the new owner acknowledges it (exactly once, as for any
 * persistent actor); a plain tell is lost (at most once) and an ask is refused at once.
 */
import { SHARD_COUNTS, type ShardCount } from '../actors/entity-address.js';
import type { Transport } from '../actors/transport.js';
import type { Logger } from '../log.js';
import type { RegionHandle, ShardHost } from '../supervision/region.js';
import type { LeaseStore } from './lease.js';
import { LeaseKeeper, leaseErrorLog } from './lease-keeper.js';
import { chooseNodes } from './placement.js';

/** What shard placement reads of membership: the nodes up, and when that changes. */
export interface MembershipView {
  readonly intervalMs: number;
  up(): string[];
  onChange(listener: () => void): () => void;
}

export interface ShardManagerOptions {
  self: string;
  membership: () => MembershipView | undefined;
  leases: LeaseStore;
  /** Lease TTL: a dead owner's shards move after about this long. */
  ttlMs: number;
  transport: Pick<Transport, 'registerShard' | 'unregisterShard'>;
  logger: Logger;
}

export class ShardManager implements ShardHost {
  private readonly regions = new Set<RegionShards>();

  constructor(private readonly options: ShardManagerOptions) {}

  attach(region: RegionHandle): () => Promise<void> {
    const shards = new RegionShards(region, this.options);
    this.regions.add(shards);
    shards.start();
    return async () => {
      this.regions.delete(shards);
      await shards.stop();
    };
  }

  /** Shards owned here, by kind (for status). */
  owned(): Record<string, number[]> {
    return Object.fromEntries([...this.regions].map((r) => [r.region.kind, r.ownedShards()]));
  }
}

/** One region's shards on this node. */
class RegionShards {
  private readonly keepers = new Map<number, LeaseKeeper>();
  private readonly owned = new Set<number>();
  /** Per shard, the chain its moves run on: one at a time, in order. */
  private readonly chains = new Map<number, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private first: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    readonly region: RegionHandle,
    private readonly options: ShardManagerOptions,
  ) {
    if (!SHARD_COUNTS.includes(region.shards)) throw new Error(`shards must be one of ${SHARD_COUNTS.join(', ')}`);
  }

  start(): void {
    const membership = this.options.membership();
    // Hear the peers' first heartbeats before choosing, or every node would take every shard.
    this.first = setTimeout(() => {
      if (this.stopped) return;
      this.evaluate();
      this.unsubscribe = this.options.membership()?.onChange(() => this.evaluate());
    }, 2 * (membership?.intervalMs ?? 150));
  }

  ownedShards(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  /** Take the shards rendezvous hashing gives this node; hand off the others. */
  private evaluate(): void {
    if (this.stopped) return;
    const up = this.options.membership()?.up() ?? [this.options.self];
    for (let shard = 0; shard < this.region.shards; shard++) {
      const mine = this.chosen(shard, up);
      if (mine && !this.keepers.has(shard)) this.claim(shard);
      else if (!mine && this.keepers.has(shard)) void this.handOff(shard);
    }
  }

  /** Rendezvous hashing over the nodes up now gives this shard to this node. */
  private chosen(shard: number, up = this.options.membership()?.up() ?? [this.options.self]): boolean {
    return chooseNodes(`${this.region.kind}#${shard}`, up, 1)[0] === this.options.self;
  }

  private claim(shard: number): void {
    const { kind } = this.region;
    const keeper: LeaseKeeper = new LeaseKeeper(this.options.leases, `entity/${kind}/${shard}`, this.options.self, {
      ttlMs: this.options.ttlMs,
      // A chosen owner waits for the previous one to release: poll often, the hand-off waits on it.
      pollMs: Math.max(20, Math.round(this.options.ttlMs / 10)),
      onAcquired: () => this.chain(shard, () => this.take(shard, keeper)),
      // Lost without a hand-off (expired while paused, or taken): stop at once; what was
      // processed and not saved was never acknowledged, so its senders resend it.
      onLost: (reason) => this.chain(shard, () => this.drop(shard, `lease ${reason}`)),
      // One line per region, not per shard: an election fails every shard's keeper at once.
      onError: leaseErrorLog(this.options.logger, `lease ${kind} shards`, `${kind} shard ${shard}`, this.options.leases, { kind, shard }),
    });
    try {
      keeper.start();
    } catch (err) {
      // Not expected (a hand-off keeps its keeper listed until it has let go), but one
      // shard's keeper must not stop the others being looked at.
      this.options.logger.error({ err, kind, shard }, `${kind} shard ${shard}: cannot claim: ${(err as Error).message}`);
      return;
    }
    this.keepers.set(shard, keeper);
  }

  /** The lease came: serve the shard, if `keeper` is still this shard's keeper and holds it. */
  private async take(shard: number, keeper: LeaseKeeper): Promise<void> {
    // A take queued behind a hand-off may find another keeper, or one without the lease.
    if (this.stopped || this.keepers.get(shard) !== keeper || !keeper.isOwner() || this.owned.has(shard)) return;
    const { kind, shards } = this.region;
    this.owned.add(shard);
    await this.region.setOwned(shard, true);
    this.options.transport.registerShard?.(kind, shard, shards as ShardCount);
    this.options.logger.info({ kind, shard }, `${kind} shard ${shard} runs here`);
  }

  /** Stop taking the shard's mail, then passivate what runs here (saving it). */
  private async drop(shard: number, why: string): Promise<void> {
    if (!this.owned.delete(shard)) return;
    const { kind, shards } = this.region;
    this.options.transport.unregisterShard?.(kind, shard, shards as ShardCount);
    await this.region.setOwned(shard, false);
    this.options.logger.info({ kind, shard, why }, `${kind} shard ${shard} leaves this node (${why})`);
  }

  /**
   * A graceful move: drop, then release the lease so the new owner need not wait for it
   * to expire. The view can change while a hand-off waits its turn or runs (a peer seen
   * down, up and down again within a heartbeat or two): a shard chosen for this node
   * again is kept, or claimed anew once the hand-off is done. Otherwise it would have no
   * keeper here, and the node it went to is gone: no owner until the next change.
   */
  private handOff(shard: number, why = 'another node is chosen'): Promise<void> {
    return this.chain(shard, async () => {
      if (!this.stopped && this.chosen(shard)) return;
      await this.drop(shard, why);
      // Listed until it has let go: a claim meanwhile would be a second keeper of this owner.
      const keeper = this.keepers.get(shard);
      await keeper?.stop();
      if (this.keepers.get(shard) === keeper) this.keepers.delete(shard);
      if (!this.stopped && this.chosen(shard) && !this.keepers.has(shard)) this.claim(shard);
    });
  }

  private chain(shard: number, step: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(shard) ?? Promise.resolve()).then(step).catch((err: unknown) => {
      this.options.logger.error({ err, kind: this.region.kind, shard }, `moving ${this.region.kind} shard ${shard} failed: ${(err as Error).message}`);
    });
    this.chains.set(shard, next);
    return next;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.first);
    this.unsubscribe?.();
    await Promise.all([...this.keepers.keys()].map((shard) => this.handOff(shard, 'this node stops')));
  }
}
