import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { freePort, listening } from '../src/net.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  url: string;
  port: number;
  pid: number;
  storeDir: string;
  /** SIGTERM by PID, wait for exit. Keeps the JetStream dir unless `clean`. */
  stop(clean?: boolean): Promise<void>;
  /** Stops and starts again on the same port and store (a broker restart). */
  restart(): Promise<void>;
  /** SIGKILL by PID (a crash: no goodbye to routes or clients), wait for exit. */
  kill(): Promise<void>;
  /** Starts a stopped or killed server again on the same port and store. */
  start(): Promise<void>;
}

/**
 * Starts Debian's real `nats-server` with JetStream on a free loopback port and a temp
 * store dir; stop() ends it by PID. No mock broker anywhere in the tests.
 */
export async function startNatsServer(
  options: { args?: string[]; port?: number; /** Run with this config file only (it sets listen and JetStream). */ configFile?: string } = {},
): Promise<NatsServer> {
  const port = options.port ?? (await freePort());
  const storeDir = mkdtempSync(join(tmpdir(), 'eldertree-js-'));
  let proc: ChildProcess;
  const launch = async () => {
    const args = options.configFile
      ? ['-c', options.configFile]
      : ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.args ?? [])];
    // Debian installs it in /usr/sbin, which a normal user's PATH lacks.
    proc = spawn('nats-server', args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` },
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d));
    const deadline = Date.now() + 10_000;
    while (!(await listening(port))) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const stopProc = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    process.kill(proc.pid!, signal);
    const timer = setTimeout(() => proc.exitCode === null && process.kill(proc.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return proc.pid!;
    },
    storeDir,
    async stop(clean = true) {
      await stopProc();
      if (clean) rmSync(storeDir, { recursive: true, force: true });
    },
    async restart() {
      await stopProc();
      await launch();
    },
    async kill() {
      await stopProc('SIGKILL');
    },
    async start() {
      if (proc.exitCode === null && proc.signalCode === null) return;
      await launch();
    },
  };
}


export { freePort };

/**
 * One nats-server for a whole test file and two connections to it (no async stack
 * traces), made in beforeAll and closed in afterAll. Read the fields inside tests.
 */
export function useNatsServer(): { server: NatsServer; nc1: NatsConnection; nc2: NatsConnection } {
  const nats = {} as { server: NatsServer; nc1: NatsConnection; nc2: NatsConnection };
  beforeAll(async () => {
    nats.server = await startNatsServer();
    nats.nc1 = await connect({ servers: nats.server.url, noAsyncTraces: true });
    nats.nc2 = await connect({ servers: nats.server.url, noAsyncTraces: true });
  });
  afterAll(async () => {
    await nats.nc1?.close();
    await nats.nc2?.close();
    await nats.server?.stop();
  });
  return nats;
}

export interface NatsCluster {
  servers: NatsServer[];
  /** Every server's client URL, as a node would list them. */
  urls: string[];
  stop(): Promise<void>;
}

/**
 * `n` real nats-servers with JetStream, routed to each other on loopback (a full
 * mesh of explicit routes), each with its own store: what users run in production.
 * Resolves once every server listens for clients and JetStream answers (its meta leader
 * is elected): on a loaded machine the election can outlast a node's patience for its
 * buckets, and a test would then measure the broker's start, not the runtime.
 */
export async function startNatsCluster(n = 3, name = 'eldertree-test'): Promise<NatsCluster> {
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < n; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const servers = await Promise.all(
    clientPorts.map((port, i) =>
      startNatsServer({
        port,
        args: ['-n', `s${i + 1}`, '--cluster_name', name, '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes],
      }),
    ),
  );
  const nc = await connect({ servers: servers.map((s) => s.url) }).catch(async (err: unknown) => {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      // jetstreamManager() itself asks for the account info: it fails while no meta leader is elected.
      const ok = await jetstreamManager(nc, { timeout: 1000 }).then((jsm) => jsm.getAccountInfo()).then(() => true, () => false);
      if (ok) break;
      if (Date.now() > deadline) {
        await Promise.all(servers.map((s) => s.stop())); // started here: not left running
        throw new Error('JetStream of the nats-server cluster not ready in 60 s');
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await nc.close();
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
