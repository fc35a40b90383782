// The deploy files a user starts from: every command line in them parses with the
// current flags (no docker here: parsed, not run), and the cluster nats.conf is the
// generator's output and passes `nats-server -t`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseServerList } from '../src/cluster/servers.js';
import { parseRuntimeArgs } from '../src/config.js';
import { generateClusterNatsConf } from '../src/security/nats-cluster-conf.js';
import { allRoleTokens } from '../src/security/roles.js';
import { passwordVar } from '../src/security/nats-conf.js';

const file = (p: string) => fileURLToPath(new URL(`../deploy/${p}`, import.meta.url));
const read = (p: string) => readFileSync(file(p), 'utf8');
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** What the env files give a process (KEY=VALUE lines). */
function envOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Checks one command line of an eldertree program; returns what it ran. */
function check(argv: string[], env: Record<string, string>): string {
  const [program, script, ...args] = argv;
  if (program!.endsWith('nats-server')) {
    const conf = args[args.indexOf('-c') + 1]!;
    expect(conf).toBe('/etc/nats/nats.conf');
    return 'nats-server';
  }
  expect(program).toMatch(/(^|\/)node$/);
  if (script!.endsWith('dist/runtime.js')) {
    const config = parseRuntimeArgs(args, env);
    expect(config.nats?.length).toBe(3);
    return 'runtime';
  }
  expect(script).toMatch(/dist\/cli\.js$/);
  // The CLI parses every flag before it reads --help: exit 0 means they all parse.
  const r = spawnSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8', env: { ...process.env, ...env } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const nats = args.includes('--nats') ? args[args.indexOf('--nats') + 1] : env.NATS_URL;
  expect(parseServerList(nats)).toHaveLength(3);
  return `cli ${args[0]}`;
}

describe('deploy/', () => {
  const passwords = envOf(read('passwords.env.example'));

  it('the env example holds a password for every role user of nats.conf', () => {
    expect(Object.keys(passwords).sort()).toEqual(allRoleTokens().map(passwordVar).sort());
  });

  it('nats-cluster.conf is `eldertree nats-conf --cluster --no-tls` and nats-server accepts it', () => {
    expect(read('nats-cluster.conf')).toBe(generateClusterNatsConf({ tls: false }));
    const printed = spawnSync(process.execPath, [cli, 'nats-conf', '--cluster', '--no-tls'], { encoding: 'utf8' });
    expect(printed.stdout).toBe(read('nats-cluster.conf'));
    const named = spawnSync(process.execPath, [cli, 'nats-conf', '--no-tls', '--cluster', 'prod', '--hosts', 'a,b,c'], { encoding: 'utf8' });
    expect(named.stdout).toBe(generateClusterNatsConf({ tls: false, name: 'prod', hosts: ['a', 'b', 'c'] }));
    const r = spawnSync('nats-server', ['-t', '-c', file('nats-cluster.conf')], { encoding: 'utf8', env: { ...process.env, ...passwords, ELDERTREE_NATS_NAME: 'nats-1' } });
    expect(r.stderr + r.stdout).toMatch(/configuration file .* is valid/);
    expect(r.status).toBe(0);
  });

  it('docker-compose.yml: every command parses (3 nats-servers, 3 nodes, the inspector)', () => {
    const commands = [...read('docker-compose.yml').matchAll(/^\s*command: (\[.*\])$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
    const ran = commands.map((c) => check(c, { NATS_PASS: 'x' }));
    expect(ran).toEqual(['nats-server', 'runtime', 'runtime', 'runtime', 'cli inspect']);
    // The inspector binds 0.0.0.0 in its container: it would refuse to start without a token.
    expect(read('docker-compose.yml')).toMatch(/^\s+ELDERTREE_INSPECT_TOKEN: \$\{ELDERTREE_INSPECT_TOKEN:\?/m);
    const nodes = commands.filter((c) => c[1] === 'dist/runtime.js').map((c) => parseRuntimeArgs(c.slice(2), {}));
    expect(nodes.map((n) => n.node)).toEqual(['n1', 'n2', 'n3']);
    // Each node starts at its own server: losing one server delays no more than a third.
    expect(new Set(nodes.map((n) => n.nats![0]))).toEqual(new Set(['nats://nats-1:4222', 'nats://nats-2:4222', 'nats://nats-3:4222']));
  });

  it('systemd units: every ExecStart parses with their environment files', () => {
    const nodeEnv = envOf(read('systemd/node.env.example'));
    const ran = ['nats-server.service', 'eldertree-node.service', 'eldertree-inspector.service'].map((unit) => {
      const exec = /^ExecStart=(.*)$/m.exec(read(`systemd/${unit}`))![1]!;
      return check(exec.replaceAll('%H', 'host-1').split(/\s+/), nodeEnv);
    });
    expect(ran).toEqual(['nats-server', 'runtime', 'cli inspect']);
  });
});
