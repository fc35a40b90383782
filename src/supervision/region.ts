/**
 * A region at run time: the entities of one kind on one node. It activates an entity on
 * its first message (OTP start_child under the region's dynamic supervisor, input
 * `{ key }`), passivates it after `idleAfter` without mail (terminate_child: a
 * persistent one saves first), and on a cluster processes only the shards this node owns,
 * sending the rest on. Mail that arrives while an entity starts or passivates waits here,
 * in order, and goes to the next incarnation.
 */
import { DEFAULT_MAILBOX_CAPACITY, type ActorCell } from '../actors/cell.js';
import { shardOf, type ShardCount } from '../actors/entity-address.js';
import type { Envelope } from '../actors/envelope.js';
import { toError } from '../actors/errors.js';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ActorSystem, EntityRouter } from '../actors/system.js';
import type { EntitiesSpec } from './entities.js';
import type { ChildInfo } from './machine.js';
import type { DynamicChildArgs } from './spec.js';

/** What a region uses of its supervisor (the dynamic supervisor it wraps). */
export interface RegionSupervisor {
  readonly path: string;
  readonly cell: ActorCell;
  readonly childCount: number;
  startChild(args: DynamicChildArgs): Promise<ChildInfo>;
  terminateChild(id: string): Promise<void>;
}

/** Activations started per turn of the event loop. */
const ACTIVATION_BATCH = 256;

/** The node's service that owns shards (the cluster layer); without one, a node owns every shard. */
export const SHARDS_SERVICE = 'shards';

/** What a shard host sees of a region. */
export interface RegionHandle {
  readonly kind: string;
  readonly path: string;
  readonly shards: ShardCount;
  /** This node now owns (processes) the shard, or not. Losing one passivates its entities first. */
  setOwned(shard: number, owned: boolean): Promise<void>;
}

export interface ShardHost {
  /** A region started: decide which shards it owns. Returns the detach (region stopping). */
  attach(region: RegionHandle): () => Promise<void>;
}

/** One region's counts, for status and the inspector (never one row per entity). */
export interface RegionView {
  kind: string;
  shards: number;
  /** Shards this node owns now. */
  owned: number[];
  /** Entities running here. */
  active: number;
  /** Activations and passivations since the region started. */
  activations: number;
  passivations: number;
}

export class EntityRegion implements EntityRouter, RegionHandle {
  readonly kind: string;
  readonly shards: ShardCount;
  readonly idleAfter: number;
  readonly schemas: Readonly<Record<string, StandardSchemaV1>> | undefined;
  /** Each entity's mailbox capacity; mail waiting for its activation counts against it. */
  readonly capacity: number;
  private readonly system: ActorSystem;
  /** Keys by last mail, least recent first (a Map keeps insertion order: touching re-inserts). */
  private readonly lastMail = new Map<string, number>();
  /** Mail for keys being activated or passivated, in arrival order. */
  private readonly waiting = new Map<string, Envelope[]>();
  private readonly passivating = new Set<string>();
  /** Shards owned here; undefined = every shard (no shard host: one node). */
  private owned: Set<number> | undefined;
  private running = false;
  private sweeper: NodeJS.Timeout | undefined;
  private detach: (() => Promise<void>) | undefined;
  activations = 0;
  passivations = 0;

  constructor(
    readonly sup: RegionSupervisor,
    spec: EntitiesSpec,
  ) {
    this.system = sup.cell.system;
    this.kind = spec.entities.kind;
    this.shards = spec.entities.shards;
    this.idleAfter = spec.entities.idleAfter;
    this.schemas = spec.children[0].kind?.schemas;
    this.capacity = spec.children[0].capacity ?? DEFAULT_MAILBOX_CAPACITY;
  }

  get path(): string {
    return this.sup.path;
  }

  /** The region's supervisor changed state: serve while it runs. */
  supervisorState(state: string): void {
    if (state === 'running' && !this.running) this.open();
    else if (state !== 'running' && state !== 'restarting' && this.running) this.close();
  }

  private open(): void {
    this.running = true;
    if (this.system.regions.get(this.kind) !== undefined) {
      this.system.logger.error({ path: this.path }, `two regions of entity kind ${this.kind} on node ${this.system.nodeId}: ${this.path} is not served`);
      this.running = false;
      return;
    }
    this.system.regions.set(this.kind, this);
    const host = this.system.services[SHARDS_SERVICE] as ShardHost | undefined;
    if (host) {
      this.owned = new Set();
      this.detach = host.attach(this);
    }
    const every = Math.max(20, Math.min(this.idleAfter / 2, 5000));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private close(): void {
    this.running = false;
    if (this.system.regions.get(this.kind) === this) this.system.regions.delete(this.kind);
    clearInterval(this.sweeper);
    const detach = this.detach;
    this.detach = undefined;
    void detach?.();
    // Mail that waited for an activation that will not come: on to another node, or a dead letter.
    const waiting = [...this.waiting.values()].flat();
    this.waiting.clear();
    for (const envelope of waiting) this.system.route(envelope);
    this.lastMail.clear();
    this.passivating.clear();
  }

  // ---- routing -------------------------------------------------------------------------

  route(envelope: Envelope, key: string, role: string | undefined): void {
    if (!this.running) return this.system.undeliverable(envelope, 'unknown_target', `the region of ${this.kind} on node ${this.system.nodeId} is not running`);
    if (this.owned !== undefined && !this.owned.has(shardOf(key, this.shards))) {
      // Not ours (now): the shard's owner takes it, through the transport.
      this.system.sendOn(envelope);
      return;
    }
    this.lastMail.delete(key);
    this.lastMail.set(key, performance.now());
    const waiting = this.waiting.get(key);
    if (waiting !== undefined) {
      if (waiting.length >= this.capacity) {
        return this.system.overflow(envelope, `${this.kind}/${key} has ${waiting.length} messages waiting for its activation (its capacity)`);
      }
      return void waiting.push(envelope);
    }
    const cell = this.system.cell(`${this.path}/${key}`);
    if (cell !== undefined && cell.status !== 'stopped') return this.system.deliverTo(cell, envelope, role);
    this.waiting.set(key, [envelope]);
    this.activate(key);
  }

  /**
   * Activations run in batches, one batch per turn of the event loop: a burst of new keys
   * (thousands in one frame) would otherwise be one long chain of promise jobs, and the
   * node would stop renewing its leases and reading its socket until it was done.
   */
  private readonly toActivate: string[] = [];
  private activating = false;

  private activate(key: string): void {
    this.activations++;
    this.toActivate.push(key);
    if (!this.activating) {
      this.activating = true;
      setImmediate(this.activateBatch);
    }
  }

  private readonly activateBatch = (): void => {
    if (!this.running) this.toActivate.length = 0; // close() sent their mail on already
    const batch = this.toActivate.splice(0, ACTIVATION_BATCH);
    if (batch.length === 0) {
      this.activating = false;
      return;
    }
    Promise.all(batch.map((key) => this.startOne(key))).finally(() => setImmediate(this.activateBatch));
  };

  private startOne(key: string): Promise<void> {
    return this.sup.startChild({ id: key, input: { key } }).then(
      () => {
        const cell = this.system.cell(`${this.path}/${key}`);
        if (cell !== undefined) this.adopt(cell, key);
        this.flush(key, cell);
      },
      (err: unknown) => this.failActivation(key, err),
    );
  }

  private failActivation(key: string, err: unknown): void {
    const mail = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    this.lastMail.delete(key);
    const why = `${this.kind}/${key} could not be activated on node ${this.system.nodeId}: ${toError(err).message}`;
    for (const envelope of mail) this.system.undeliverable(envelope, 'stopped', why);
  }

  /** An entity's cell: fenced by its shard's ownership, and mail left in it comes back here. */
  private adopt(cell: ActorCell, key: string): void {
    // Shared functions, not closures per entity: a million idle entities carry none.
    if (this.owned !== undefined) cell.gate = this.gateOf(shardOf(key, this.shards));
    cell.reroute = this.reroute;
  }

  private readonly gates: (() => boolean)[] = [];

  private gateOf(shard: number): () => boolean {
    return (this.gates[shard] ??= () => this.owned?.has(shard) === true);
  }

  /** Mail left in a stopping entity (its target is `kind/key`, or its path): back through the region. */
  private readonly reroute = (envelope: Envelope): boolean => {
    if (!this.running) return false;
    const target = envelope.target_elder;
    const key = target.startsWith('/') ? target.slice(this.path.length + 1) : target.slice(target.indexOf('/') + 1);
    this.route(envelope, key, undefined);
    return true;
  };

  /** Hands the mail that waited to the entity, in order (or on, if it did not start). */
  private flush(key: string, cell: ActorCell | undefined): void {
    const mail = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    for (const envelope of mail) {
      if (cell !== undefined && cell.status !== 'stopped' && this.system.cell(cell.path) === cell) this.system.deliverTo(cell, envelope);
      else this.system.undeliverable(envelope, 'stopped', `${this.kind}/${key} declined to start (its machine is final at start)`);
    }
  }

  // ---- passivation ---------------------------------------------------------------------

  /** Passivates entities without mail for idleAfter: least recent first, so it stops at the first recent one. */
  private sweep(): void {
    const cutoff = performance.now() - this.idleAfter;
    for (const [key, at] of this.lastMail) {
      if (at > cutoff) break;
      const cell = this.system.cell(`${this.path}/${key}`);
      if (cell === undefined) {
        if (!this.waiting.has(key)) this.lastMail.delete(key); // ended by itself, or never started
        continue;
      }
      if (cell.mailbox.size > 0 || cell.status !== 'running') continue;
      this.passivate(key);
    }
  }

  private passivate(key: string): Promise<void> {
    if (this.passivating.has(key)) return Promise.resolve();
    this.passivating.add(key);
    this.lastMail.delete(key);
    this.waiting.set(key, this.waiting.get(key) ?? []);
    this.passivations++;
    return this.sup.terminateChild(key).then(
      () => this.afterPassivation(key),
      () => this.afterPassivation(key), // already gone (it ended, or the region stops)
    );
  }

  private afterPassivation(key: string): void {
    this.passivating.delete(key);
    const mail = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    // Mail came while it stopped: it starts again (or the mail goes to the shard's new owner).
    for (const envelope of mail) this.route(envelope, key, undefined);
  }

  // ---- shards --------------------------------------------------------------------------

  async setOwned(shard: number, owned: boolean): Promise<void> {
    if (this.owned === undefined) return;
    if (owned) {
      this.owned.add(shard);
      return;
    }
    if (!this.owned.has(shard)) return;
    // Stop taking its mail first (it goes on to the new owner), then save and stop what runs here.
    this.owned.delete(shard);
    const keys = new Set<string>();
    for (const key of this.lastMail.keys()) if (shardOf(key, this.shards) === shard) keys.add(key);
    for (const key of this.waiting.keys()) if (shardOf(key, this.shards) === shard) keys.add(key);
    await Promise.all([...keys].map((key) => this.passivate(key)));
  }

  owns(shard: number): boolean {
    return this.owned === undefined || this.owned.has(shard);
  }

  view(): RegionView {
    return {
      kind: this.kind,
      shards: this.shards,
      owned: this.owned === undefined ? Array.from({ length: this.shards }, (_, i) => i) : [...this.owned].sort((a, b) => a - b),
      active: this.sup.childCount,
      activations: this.activations,
      passivations: this.passivations,
    };
  }
}
