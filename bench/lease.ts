/**
 * Lease latency against its raw NATS KV baseline, both in ONE process on ONE
 * nats-server, interleaved op by op, so drift on a noisy machine hits both alike:
 *   acquire: LeaseStore.acquire on a fresh key    vs  kv.create on a fresh key
 *   renew:   LeaseStore.renew of a held lease     vs  kv.update(key, value, revision)
 * Raw writes carry the same JSON value a lease writes. Sequential, one op in flight.
 * Result: { acquire, create, renew, update } p50 in µs, and the same keys + `P99`.
 *
 * Needs `nats-server` on PATH and the built package (`npm run bench` builds it).
 */
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { openKvLeases } from 'eldertree/internals';
import { startNats } from './cluster-lib.js';
import { caseArgs, intArg, percentile, report } from './lib.js';

const args = caseArgs();
const n = intArg(args, 'n');
const warm = Math.max(200, Math.ceil(n / 5));
const TTL = 60_000;

const nats = await startNats();

// On an error the exit hook of cluster-lib kills the server by its PID.
const nc = await connect({ servers: nats.url, noAsyncTraces: true });
const leases = await openKvLeases(nc);
const kv = await new Kvm(nc).open('elders_elders_leases');
const value = () => JSON.stringify({ owner: 'bench-node', expiresAt: Date.now() + TTL, ttlMs: TTL });

const time = async (op: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await op();
  return (performance.now() - t0) * 1000;
};
const samples = { acquire: [] as number[], create: [] as number[], renew: [] as number[], update: [] as number[] };
let key = 0;

// Acquire vs create, fresh keys; whoever goes first alternates.
for (let i = 0; i < warm + n; i++) {
  const ours = () => time(() => leases.acquire(`a-${key++}`, 'bench-node', TTL));
  const raw = () => time(() => kv.create(`c-${key++}`, value()));
  let a: number, c: number;
  if (i % 2) [a, c] = [await ours(), await raw()];
  else [c, a] = [await raw(), await ours()];
  if (i < warm) continue;
  samples.acquire.push(a);
  samples.create.push(c);
}

// Renew vs update, one held key each.
const lease = (await leases.acquire('renewed', 'bench-node', TTL))!;
let revision = await kv.create('updated', value());
for (let i = 0; i < warm + n; i++) {
  const ours = () => time(() => leases.renew(lease));
  const raw = () => time(async () => (revision = await kv.update('updated', value(), revision)));
  let r: number, u: number;
  if (i % 2) [r, u] = [await ours(), await raw()];
  else [u, r] = [await raw(), await ours()];
  if (i < warm) continue;
  samples.renew.push(r);
  samples.update.push(u);
}
if (!lease.isValid()) throw new Error('the renewed lease is no longer valid');
await nc.close();

const metrics: Record<string, number> = {};
for (const [name, xs] of Object.entries(samples)) {
  xs.sort((a, b) => a - b);
  metrics[name] = percentile(xs, 50);
  metrics[`${name}P99`] = percentile(xs, 99);
}
await nats.stop();
report(metrics);
