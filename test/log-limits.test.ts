import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { explainNatsError } from '../src/cluster/nats-errors.js';
import { createLogger, RateLimitedLog } from '../src/log.js';

it('a repeated warning is logged once per window, then with the count of those held back', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  const log = new RateLimitedLog(createLogger({ level: 'warn', destination: sink }), 100);
  for (let i = 0; i < 2160; i++) log.warn('save', { i }, 'snapshot not saved');
  log.warn('other', {}, 'another kind');
  await new Promise((r) => setTimeout(r, 120));
  log.warn('save', {}, 'snapshot not saved');
  await new Promise((r) => setImmediate(r));
  expect(lines.map((l) => l.msg)).toEqual(['snapshot not saved', 'another kind', expect.stringMatching(/^snapshot not saved \(and 2159 more like it in the last 0 s\)$/)]);
  expect(lines[2]!.repeated).toBe(2159);
});

it('says which stream has no leader instead of "jetstream is not enabled"', () => {
  expect(explainNatsError(new Error('jetstream is not enabled'), 'KV_elders_elders_leases')).toBe('stream KV_elders_elders_leases has no leader (election in progress)');
  expect(explainNatsError(Object.assign(new Error('timeout'), { name: 'TimeoutError' }), 'KV_x')).toBe('stream KV_x did not answer in time (leader lost or election in progress)');
  expect(explainNatsError(new Error('something else'), 'KV_x')).toBe('stream KV_x: something else');
});
