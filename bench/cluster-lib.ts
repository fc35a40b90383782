/**
 * What the cluster cases share: a throwaway nats-server on a free loopback port, the
 * peer processes they start, the 100 B message, and Moleculer (a bench-only dependency).
 *
 * Every process started here is killed by its PID when this process exits, however it
 * exits (result printed, error thrown, or SIGTERM from the runner's timeout).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { freePort, listening } from 'eldertree/internals';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---- processes -----------------------------------------------------------------------

const children = new Set<ChildProcess>();
const cleanups: (() => void)[] = [];
process.once('exit', () => {
  for (const child of children) if (running(child)) process.kill(child.pid!, 'SIGKILL');
  for (const cleanup of cleanups) cleanup();
});
// Without these, a signal ends the process without the 'exit' hook above.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(1));

function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** `signal` by PID, SIGKILL after `graceMs`; resolves once it has exited. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid!, signal);
  const timer = setTimeout(() => running(child) && process.kill(child.pid!, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** build/bench/cluster-peer.js with an IPC channel (ready and progress messages come back on it). */
export function forkPeer(args: string[]): ChildProcess {
  const script = fileURLToPath(new URL('./cluster-peer.js', import.meta.url));
  return track(fork(script, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }));
}

/** A `node dist/runtime.js` node, as users run it; its output is kept for error messages. */
export function spawnRuntime(args: string[]): { proc: ChildProcess; output: () => string } {
  const runtime = fileURLToPath(new URL('../../dist/runtime.js', import.meta.url));
  const proc = track(spawn(process.execPath, [runtime, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  const keep = (d: Buffer) => (output = (output + d.toString()).slice(-4000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return { proc, output: () => output };
}

/** The first IPC message from `child` that `accept` takes. */
export function message<T>(child: ChildProcess, accept: (m: T) => boolean, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no message from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: unknown) => accept(m as T) && done(undefined, m as T);
    const onExit = (code: number | null) => done(new Error(`pid ${child.pid} exited (${code}) before its message`));
    function done(err: Error | undefined, m?: T) {
      clearTimeout(timer);
      child.off('message', onMessage).off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    }
    child.on('message', onMessage).once('exit', onExit);
  });
}

// ---- nats-server ---------------------------------------------------------------------

export interface NatsServer {
  url: string;
  /** SIGTERM by PID, wait, remove the store. */
  stop(): Promise<void>;
}

/** Debian's nats-server with JetStream (the KV buckets of a cluster node need it). */
export async function startNats(extraArgs: string[] = []): Promise<NatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'eldertree-bench-'));
  const removeStore = () => rmSync(storeDir, { recursive: true, force: true });
  cleanups.push(removeStore);
  const server = track(spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...extraArgs], { stdio: 'ignore' }));
  for (const deadline = Date.now() + 10_000; !(await listening(port)); ) {
    if (Date.now() > deadline || !running(server)) throw new Error('nats-server did not start');
    await sleep(20);
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      await stop(server);
      removeStore();
    },
  };
}



export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the message ---------------------------------------------------------------------

const BODY = 'x'.repeat(81);
/** The payload of every remote message: 100 B in msgpack (seq >= 65536), about 110 B in JSON. */
export const payload = (seq: number) => ({ seq, body: BODY });
/** The receiver reports its count every PROGRESS messages. */
export const PROGRESS = 1000;

// ---- Moleculer -----------------------------------------------------------------------

/** The little of Moleculer's ServiceBroker the baselines use. */
export interface Broker {
  start(): Promise<void>;
  stop(): Promise<void>;
  createService(schema: object): unknown;
  waitForServices(names: string[], timeout?: number): Promise<unknown>;
  emit(event: string, data: unknown): unknown;
  call(action: string, params: unknown): Promise<unknown>;
}

/**
 * A broker on the NATS transporter, JSON serializer (Moleculer's defaults otherwise).
 * Moleculer and the legacy `nats` v2 package it needs live in bench/deps (installed by
 * `npm run bench`), never among eldertree's dependencies: loaded from there at run time.
 */
export function moleculerBroker(nodeID: string, url: string): Broker {
  const require = createRequire(fileURLToPath(new URL('../../bench/deps/package.json', import.meta.url)));
  const { ServiceBroker } = require('moleculer') as { ServiceBroker: new (options: object) => Broker };
  return new ServiceBroker({ nodeID, transporter: url, logger: false });
}
