import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClient } from '../src/index.js';
import { makeDevCerts, type CertsResult } from '../src/security/certs.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

const runtime = fileURLToPath(new URL('../dist/runtime.js', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const tree = fileURLToPath(new URL('./fixtures/cluster-tree.mjs', import.meta.url));

let dir: string;
let ours: CertsResult;
let theirs: CertsResult;
let server: NatsServer;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eldertree-tls-'));
  ours = await makeDevCerts({ dir: join(dir, 'ours'), roles: ['servant', 'operator'] });
  theirs = await makeDevCerts({ dir: join(dir, 'theirs'), roles: ['operator'] });
  // mTLS on: the broker asks every client for a certificate signed by our CA.
  server = await startNatsServer({
    args: ['--tls', '--tlsverify', '--tlscert', ours.server.cert, '--tlskey', ours.server.key, '--tlscacert', ours.ca.cert],
  });
  url = `tls://127.0.0.1:${server.port}`;
}, 60_000);

afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

function joinCluster(args: string[]): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [runtime, tree, '--nats', url, '--node', 'tls1', '--log-level', 'warn', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, stderr: r.stderr };
}

describe('mTLS with verify on (real nats-server)', () => {
  it('eldertree certs makes a CA, a server cert and a client cert per role', () => {
    const out = join(dir, 'cli');
    const r = spawnSync(process.execPath, [cli, 'certs', '--out', out, '--roles', 'sage,servant'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const made = JSON.parse(r.stdout) as CertsResult;
    expect(Object.keys(made.clients)).toEqual(['sage', 'servant']);
    const subject = spawnSync('openssl', ['x509', '-in', made.clients.sage!.cert, '-noout', '-subject'], { encoding: 'utf8' });
    expect(subject.stdout.trim()).toBe('subject=CN = sage');
    const verify = spawnSync('openssl', ['verify', '-CAfile', made.ca.cert, made.clients.servant!.cert], { encoding: 'utf8' });
    expect(verify.stdout.trim()).toBe(`${made.clients.servant!.cert}: OK`);
  });

  it('a client without a certificate cannot connect: one clear line, exit 1', () => {
    const r = joinCluster(['--tls-ca', ours.ca.cert]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^eldertree: cannot join the cluster at tls:\/\/127\.0\.0\.1:\d+: the server requires a client certificate \(bad certificate\): give --tls-cert and --tls-key\n$/,
    );
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a client with a certificate from another CA cannot connect', () => {
    const r = joinCluster(['--tls-cert', theirs.clients.operator!.cert, '--tls-key', theirs.clients.operator!.key, '--tls-ca', ours.ca.cert]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the server refused our client certificate ${theirs.clients.operator!.cert} (bad certificate)`);
  });

  it('a client with a certificate from our CA connects, and the node serves asks', async () => {
    const node = spawn(
      process.execPath,
      [runtime, tree, '--nats', url, '--node', 'tls2', '--log-level', 'warn', '--tls-cert', ours.clients.servant!.cert, '--tls-key', ours.clients.servant!.key, '--tls-ca', ours.ca.cert],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const client = await ClusterClient.connect({
      servers: url,
      connectOptions: { tls: { certFile: ours.clients.operator!.cert, keyFile: ours.clients.operator!.key, caFile: ours.ca.cert } },
    });
    try {
      let answer: unknown;
      for (let i = 0; i < 100 && !answer; i++) {
        answer = await client.ask('/app/everywhere', 'whoami', {}, { timeout: 300 }).catch(() => undefined);
        if (!answer) await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toEqual({ node: 'tls2' });
    } finally {
      await client.close();
      node.kill('SIGTERM');
      await new Promise((r) => node.once('exit', r));
    }
  });
});
