/**
 * Entity addresses: `cart/user-42`, a kind name and a key. Unlike a path (`/app/x`) or a
 * node address (`@n1`), an entity address names an actor that exists only while it has
 * work: the node that owns the key's shard starts it on its first message.
 *
 * A key hashes (32-bit FNV-1a of its UTF-8 bytes, which any language computes the same)
 * to three hex digits, the key's slot; a shard is a prefix of the slot: the first digit
 * with 16 shards, the first two with 256, all three with 4096. Senders need the kind and
 * the key only, never the shard count.
 */
import { EldertreeError } from './errors.js';

export const SHARD_COUNTS = [16, 256, 4096] as const;
export type ShardCount = (typeof SHARD_COUNTS)[number];

/** A key is a path token (it is the entity's id under its region): letters, digits, `_`, `-`, at most 128. */
const KEY = /^[A-Za-z0-9_-]{1,128}$/;
const KIND = /^[A-Za-z][A-Za-z0-9_-]*$/;

export interface EntityAddress {
  kind: string;
  key: string;
}

/** Is this target an entity address (neither an actor path nor a node address)? */
export function isEntityTarget(target: string): boolean {
  const c = target.charCodeAt(0);
  return c !== 47 /* / */ && c !== 64 /* @ */;
}

export function entityTarget(kind: string, key: string): string {
  return `${kind}/${key}`;
}

/** `cart/user-42` -> { kind, key }, or the reason it is not one. */
export function parseEntityTarget(target: string): EntityAddress | string {
  const slash = target.indexOf('/');
  if (slash <= 0) return `"${target.slice(0, 80)}" is not an entity address (kind/key)`;
  const kind = target.slice(0, slash);
  const key = target.slice(slash + 1);
  if (!KIND.test(kind)) return `"${kind.slice(0, 80)}" is not a kind name`;
  if (!KEY.test(key)) return `entity key "${key.slice(0, 80)}" must be 1-128 letters, digits, _ or -`;
  return { kind, key };
}

export function checkKey(key: string): string {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw new EldertreeError(`entity key ${JSON.stringify(key)} must be 1-128 letters, digits, _ or -`);
  }
  return key;
}

/** 32-bit FNV-1a over the key's UTF-8 bytes (keys are ASCII: one byte per char). */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The key's slot: its hash's top 12 bits, as three hex digits (`a3f`). */
export function slotOf(key: string): string {
  return (keyHash(key) >>> 20).toString(16).padStart(3, '0');
}

/** The shard of a key, 0..shards-1: the slot's first 1, 2 or 3 hex digits. */
export function shardOf(key: string, shards: ShardCount): number {
  return keyHash(key) >>> (32 - Math.log2(shards));
}

/** The slot prefix of shard `shard` (hex digits): a shard's subscription is `<prefix>.*...`. */
export function shardPrefix(shard: number, shards: ShardCount): string {
  const digits = Math.log2(shards) / 4;
  return shard.toString(16).padStart(digits, '0');
}
