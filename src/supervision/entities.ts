/**
 * Keyed entities in a tree: `entities('carts', Cart, { idleAfter: 30_000 })` is a region,
 * a dynamic supervisor whose children are the kind's entities, one per key, started by
 * their first message and passivated when idle (Orleans grains, Akka sharding).
 */
import type { AnyKind } from '../actors/kind.js';
import type { Persistence } from '../actors/persistence.js';
import type { ShardCount } from '../actors/entity-address.js';
import { worker, type Shutdown, type SupervisorSpec, type WorkerSpec } from './spec.js';

/** What a region's supervisor spec carries besides OTP's flags. */
export interface EntityConfig {
  /** The kind's name: entity addresses are `<kind>/<key>`. */
  kind: string;
  /** Shards of the kind over the cluster: 16, 256 or 4096. */
  shards: ShardCount;
  /** ms without mail before an entity is passivated (saved if persistent, then stopped). */
  idleAfter: number;
}

export interface EntityOptions {
  /** default 16: each is one lease and one subscription on the node that owns it. */
  shards?: ShardCount;
  /** default 60_000 ms. */
  idleAfter?: number;
  /** Entities resume from their snapshot at every activation, restart and move. */
  persist?: Persistence;
  /** Restarts of this kind's entities on one node (all keys together) before the region gives up; default 100 in 5000 ms. */
  intensity?: number;
  period?: number;
  /** At most this many active entities on one node; past it an activation is refused (a dead letter). */
  maxChildren?: number;
  /** Per entity: graceful stop on passivation and shutdown; default 5000 ms. */
  shutdown?: Shutdown;
  /** Per entity: its mailbox capacity, mail waiting for its activation included; default 100_000. */
  capacity?: number;
}

export const ENTITY_DEFAULTS = { shards: 16 as ShardCount, idleAfter: 60_000, intensity: 100, period: 5000 };

/** A region spec: the template (the kind's worker) and the entity config. */
export type EntitiesSpec<TId extends string = string, K extends AnyKind = AnyKind> = SupervisorSpec<
  TId,
  readonly [WorkerSpec<K['machine'], K['name'], K>]
> & { entities: EntityConfig };

/**
 * A region of entities of `kind`. Its path is the region's (`/app/carts`), each entity's
 * `/app/carts/<key>`; address one with `node.entity(Cart, key)` (or `cart/<key>` on the
 * wire and in the CLI). An entity restarts as any child (transient: one that reaches a
 * final state is done); a crash restarts that entity only.
 */
export function entities<const TId extends string, K extends AnyKind>(id: TId, kind: K, options: EntityOptions = {}): EntitiesSpec<TId, K> {
  const { shards, idleAfter, persist, intensity, period, maxChildren, shutdown, capacity } = options;
  const template = worker(kind.name, kind, {
    restart: 'transient',
    ...(persist === undefined ? {} : { persist }),
    ...(shutdown === undefined ? {} : { shutdown }),
    ...(capacity === undefined ? {} : { capacity }),
  }) as WorkerSpec<K['machine'], K['name'], K>;
  return {
    type: 'supervisor',
    id,
    strategy: 'simple_one_for_one',
    intensity: intensity ?? ENTITY_DEFAULTS.intensity,
    period: period ?? ENTITY_DEFAULTS.period,
    ...(maxChildren === undefined ? {} : { maxChildren }),
    children: [template] as const,
    entities: { kind: kind.name, shards: shards ?? ENTITY_DEFAULTS.shards, idleAfter: idleAfter ?? ENTITY_DEFAULTS.idleAfter },
  };
}

export function isEntitiesSpec(spec: SupervisorSpec): spec is EntitiesSpec {
  return (spec as Partial<EntitiesSpec>).entities !== undefined;
}
