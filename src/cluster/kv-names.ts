/**
 * Names in NATS KV: the cluster's bucket names, and a reversible mapping from any
 * string (actor path, task id, singleton name) to a valid KV key.
 *
 * KV keys allow only [-/_=.a-zA-Z0-9], and a dot splits subject tokens (no leading,
 * trailing or doubled dots). Actor paths (`/a/b-c/d`) are kept as they are, so keys
 * stay readable in `nats kv ls`; every other character, the dot and the escape
 * character `=` itself become `=XX` per UTF-8 byte (quoted-printable style). The
 * output has no dots at all, and since `=` only ever starts an escape, the mapping is
 * injective: two different strings never share a key.
 */
import { EldertreeError } from '../actors/errors.js';

/** Characters kept as they are: what actor paths and subject tokens are made of. */
const PLAIN = /^[A-Za-z0-9_/-]$/;
const CLUSTER = /^[A-Za-z0-9_-]+$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const ESCAPED = /^(?:[A-Za-z0-9_/-]|=[0-9A-F]{2})+$/;

export class KvNameError extends EldertreeError {
  override name = 'KvNameError';
}

/** `elders_<cluster>_<purpose>`: one bucket per concern and cluster. */
export function bucketName(cluster: string, purpose: string): string {
  if (!CLUSTER.test(cluster)) {
    throw new KvNameError(`cluster name must be letters, digits, _ and -; got "${cluster}"`);
  }
  return `elders_${cluster}_${purpose}`;
}

/** Any non-empty string -> a valid KV key; decodeKey(encodeKey(s)) === s. */
export function encodeKey(name: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new KvNameError(`a KV key needs a non-empty string, got ${JSON.stringify(name)}`);
  }
  // A lone surrogate has no UTF-8 form: two such strings would share a key.
  if (LONE_SURROGATE.test(name)) throw new KvNameError(`"${name}" is not well-formed Unicode`);
  let out = '';
  for (const ch of name) {
    if (PLAIN.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) out += `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of encodeKey; throws on a key encodeKey cannot have produced. */
export function decodeKey(key: string): string {
  if (!ESCAPED.test(key)) throw new KvNameError(`"${key}" is not a key made by encodeKey`);
  const bytes: number[] = [];
  for (let i = 0; i < key.length; i++) {
    if (key[i] === '=') {
      bytes.push(parseInt(key.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(key.charCodeAt(i));
    }
  }
  const decoded = Buffer.from(bytes).toString('utf8');
  // Escapes that are not valid UTF-8, or escape a plain character, have no preimage.
  if (encodeKey(decoded) !== key) throw new KvNameError(`"${key}" is not a key made by encodeKey`);
  return decoded;
}
