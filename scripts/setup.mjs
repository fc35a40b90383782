#!/usr/bin/env node
// What `npm start` and `npm test` need before they build, on a fresh clone: the npm
// dependencies (installed when node_modules is missing or older than package-lock.json),
// and for the tests also nats-server and chromium (Debian packages, installed when we
// may, else one line naming the command). No dependencies: it runs before there are any.
//
//   node scripts/setup.mjs          dependencies only (npm start)
//   node scripts/setup.mjs --test   dependencies, nats-server and chromium (npm test)
//   node scripts/setup.mjs --nats   dependencies and nats-server (npm run cluster, chaos)
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const forTests = process.argv.includes('--test');
// --nats: dependencies and nats-server only (npm run cluster, npm run chaos).
const forNats = process.argv.includes('--nats');

function fail(line) {
  console.error(`setup: ${line}`);
  process.exit(1);
}

function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.error) fail(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}`);
}

/** npm writes node_modules/.package-lock.json on every install: older than the lock = stale. */
function dependenciesStale() {
  const lock = join(root, 'package-lock.json');
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return 'node_modules is missing';
  if (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs) return 'package-lock.json is newer than node_modules';
  return null;
}

function onPath(name) {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .concat(['/usr/sbin', '/usr/bin'])
    .some((dir) => dir && existsSync(join(dir, name)));
}

const stale = dependenciesStale();
if (stale) {
  console.error(`setup: ${stale}: npm ci`);
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

if (forTests || forNats) {
  // The cluster tests spawn `nats-server` from PATH; the browser tests launch /usr/bin/chromium.
  const missing = [];
  if (!onPath('nats-server')) missing.push('nats-server');
  if (forTests && !existsSync('/usr/bin/chromium')) missing.push('chromium');
  if (missing.length > 0) {
    const install = `apt-get install -y --no-install-recommends ${missing.join(' ')}`;
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!root || !onPath('apt-get')) {
      fail(`${forTests ? 'the tests need' : 'a local cluster needs'} ${missing.join(' and ')}: run \`sudo apt-get update && sudo ${install}\``);
    }
    console.error(`setup: installing ${missing.join(' and ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], env);
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], env);
  }
}
