import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { startCluster, type Cluster } from './cluster-harness.js';

/**
 * Chaos: 3 nodes and a nats-server under steady load, with a fault every few seconds
 * (SIGKILL a node and start it again, SIGSTOP a node past its lease then SIGCONT,
 * restart the nats-server). Two scenarios, each running faults for CHAOS_SECONDS
 * (default 20 in `npm test`; `npm run chaos` runs 120): acked messages to a singleton
 * counter, and the Elder Tree's tasks. CHAOS_FAULTS=kill|stop|nats replays one kind;
 * CHAOS_SERVERS=3 runs them on three nats-servers, where a nats fault is a SIGKILL.
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 20);
/** CHAOS_SERVERS=3 runs both scenarios on three routed nats-servers (KV at 3 replicas). */
const SERVERS = process.env.CHAOS_SERVERS === '3' ? 3 : 1;
const NODES = ['n1', 'n2', 'n3'];
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Hit = { node: string; n: number; at: number };

interface Fault {
  what: string;
  kind: 'kill' | 'stop' | 'nats';
  victim?: string;
  /** Wall-clock ms the fault began and ended (node started again, SIGCONT, broker back). */
  from: number;
  to: number;
}

/**
 * A random fault every 2–4 s until 4 s before `seconds` are up. `pids` learns the
 * process id of every node started again (pid -> node name).
 */
async function injectFaults(cluster: Cluster, seconds: number, pids?: Map<number, string>): Promise<Fault[]> {
  const faults: Fault[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end - 4000) {
    await sleep(2000 + rand(2000));
    const victim = NODES[rand(NODES.length)]!;
    const only = process.env.CHAOS_FAULTS; // e.g. 'nats' to replay one kind of fault
    const kind = only === 'nats' ? 2 : only === 'kill' ? 0 : only === 'stop' ? 1 : rand(3);
    const from = Date.now();
    if (kind === 0) {
      cluster.kill(victim, 'SIGKILL');
      await sleep(800);
      const pid = cluster.start(victim).proc.pid;
      if (pid !== undefined) pids?.set(pid, victim);
      faults.push({ what: `SIGKILL ${victim}`, kind: 'kill', victim, from, to: Date.now() });
    } else if (kind === 1) {
      cluster.kill(victim, 'SIGSTOP');
      await sleep(2500); // past the 1 s lease
      cluster.kill(victim, 'SIGCONT');
      faults.push({ what: `SIGSTOP ${victim} 2.5 s`, kind: 'stop', victim, from, to: Date.now() });
    } else if (cluster.servers.length > 1) {
      // Three servers: one crashes (SIGKILL, a leader or not) and comes back 2.5 s later.
      const i = rand(cluster.servers.length);
      await cluster.servers[i]!.kill();
      await sleep(2500);
      await cluster.servers[i]!.start();
      faults.push({ what: `SIGKILL nats s${i + 1}`, kind: 'nats', from, to: Date.now() });
    } else {
      await cluster.server.restart();
      faults.push({ what: 'restart nats-server', kind: 'nats', from, to: Date.now() });
    }
  }
  return faults;
}

/** The acked messages `client` gave up on (dead letters `undelivered`), as they happen. */
function undeliveredAt(client: Cluster['client']): string[] {
  const undelivered: string[] = [];
  client.system.subscribe((e) => e.type === 'dead_letter' && e.reason === 'undelivered' && undelivered.push(e.detail));
  return undelivered;
}

/**
 * Owners by time from answers that say which node answered: tenures, and the flips
 * (ownership going away and back faster than a lease can change hands twice).
 */
function ownership(samples: { node: string; at: number }[]) {
  const sorted = [...samples].sort((a, b) => a.at - b.at);
  const tenures: { node: string; from: number; to: number }[] = [];
  for (const h of sorted) {
    const last = tenures.at(-1);
    if (last?.node === h.node) last.to = h.at;
    else tenures.push({ node: h.node, from: h.at, to: h.at });
  }
  const flips = tenures.filter((t, i) => i > 0 && i < tenures.length - 1 && tenures[i - 1]!.node === tenures[i + 1]!.node && tenures[i + 1]!.from - tenures[i - 1]!.to < 500);
  return { tenures, flips };
}

it(`chaos for ${SECONDS} s: acked messages exactly once, never two owners, tree restored`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const cluster = await startCluster(fixture('cluster-tree.mjs'), NODES, [], true, { servers: SERVERS });
  try {
    await cluster.ready(NODES);
    const { client } = cluster;
    const undelivered = undeliveredAt(client);

    let sent = 0;
    const hits: Hit[] = [];
    let running = true;
    const acked = (async () => {
      while (running) {
        client.tell('/app/singleton', 'inc', {}, { requiresAck: true });
        sent++;
        await sleep(4);
      }
    })();
    const asks = (async () => {
      while (running) {
        await client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 1500 }).then((h) => void hits.push(h), () => undefined);
        await sleep(15);
      }
    })();

    const faults = await injectFaults(cluster, SECONDS);
    running = false;
    await Promise.all([acked, asks]);

    // Everything acked must land exactly once: wait for the resends to settle.
    let n = -1;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      n = (await client.ask<Hit>('/app/singleton', 'get', {}, { timeout: 1000 }).catch(() => ({ n: -1 }))).n;
      if (n >= sent) break;
      await sleep(250);
    }
    await sleep(1000);
    const final = await client.ask<Hit>('/app/singleton', 'get');
    // The tree is whole again: every node up and seeing the others.
    await cluster.ready(NODES, 30_000);

    // Never two owners at once: ownership may move, but never back and forth faster
    // than a lease can change hands.
    const { tenures, flips } = ownership(hits);

    if (final.n !== sent) {
      for (const node of cluster.nodes.values()) console.log(`--- ${node.name}\n${node.output.join('').split('\n').slice(-15).join('\n')}`);
    }
    console.log(
      `chaos: ${faults.length} faults (${faults.map((f) => f.what).join(', ')}); acked sent ${sent}, processed ${final.n}, ` +
        `duplicates ${Math.max(0, final.n - sent)}, lost ${Math.max(0, sent - final.n)}; ${hits.length} asks answered; ` +
        `owners ${tenures.map((t) => t.node).join('>')}`,
    );
    expect(faults.length).toBeGreaterThanOrEqual(Math.floor(SECONDS / 6));
    expect(final.n).toBe(sent);
    expect(undelivered).toEqual([]);
    expect(flips).toEqual([]);
  } finally {
    await cluster.stop();
  }
});

/** Keys of the entity scenario (CHAOS_KEYS for more: every key's count is checked at the end). */
const KEYS = Number(process.env.CHAOS_KEYS ?? 1000);

it(`chaos for ${SECONDS} s on keyed entities: acked messages once per key through moves, a node joining and leaving`, { timeout: (SECONDS + 150) * 1000 }, async () => {
  const cluster = await startCluster(fixture('cluster-tree.mjs'), NODES, [], true, { servers: SERVERS });
  try {
    await cluster.ready(NODES);
    const { client } = cluster;
    const undelivered = undeliveredAt(client);
    const sent = new Map<string, number>();
    let total = 0;
    let running = true;
    const load = (async () => {
      while (running) {
        const key = `k${rand(KEYS)}`;
        client.tell(`tally/${key}`, 'inc', {}, { requiresAck: true });
        sent.set(key, (sent.get(key) ?? 0) + 1);
        total++;
        await sleep(4);
      }
    })();
    // Besides the random faults: a fourth node joins (shards move to it) and leaves (SIGTERM: they move back).
    const joinLeave = (async () => {
      await sleep((SECONDS * 1000) / 3);
      cluster.start('n4');
      await sleep((SECONDS * 1000) / 3);
      cluster.kill('n4', 'SIGTERM');
    })();
    const faults = await injectFaults(cluster, SECONDS);
    await joinLeave;
    running = false;
    await load;

    // Every key ends with exactly the acked messages sent to it (resends settle first).
    const wrong = async () => {
      const bad: string[] = [];
      for (const [key, n] of sent) {
        // A failed ask says why: a key that never answers again is a different bug from a wrong count.
        const got = await client.ask<Hit>(`tally/${key}`, 'get', {}, { timeout: 2000 }).then((h) => h.n, (err: Error) => err.message);
        if (got !== n) bad.push(`${key}: ${got} of ${n}`);
      }
      return bad;
    };
    let bad = await wrong();
    const deadline = Date.now() + 60_000;
    while (bad.length > 0 && Date.now() < deadline) {
      await sleep(1000);
      bad = await wrong();
    }
    await cluster.ready(NODES, 30_000);
    console.log(
      `chaos (entities): ${faults.length} faults (${faults.map((f) => f.what).join(', ')}) and n4 joining and leaving; ` +
        `${total} acked messages to ${sent.size} keys; keys wrong ${bad.length}${bad.length ? ` [${bad.slice(0, 5).join('; ')}]` : ''}`,
    );
    if (bad.length > 0) {
      // What the nodes warned of and which shards each serves, for whoever reads a red run.
      for (const n of cluster.nodes.values()) console.log(`--- ${n.name}\n${n.output.join('').split('\n').slice(-40).join('\n')}`);
      for (const r of await client.inspect(500)) {
        const region = (r.actors as { entities?: { owned: number[] } }[]).find((a) => a.entities !== undefined);
        console.log(`${r.node} owns tally shards ${JSON.stringify(region?.entities?.owned)}`);
      }
    }
    expect(bad).toEqual([]);
    expect(undelivered).toEqual([]);
  } finally {
    await cluster.stop();
  }
});

const TASK_SAGE = '/grand-elder/claude-elder/task-sage';
const SERVANTS = ['/grand-elder/servants/servant-1', '/grand-elder/servants/servant-2'];

/** One run of the `chaos` handler, from the run log its nodes append to. */
interface Run {
  task: string;
  attempt: number;
  pid: number;
  start: number;
  /** When it checked its lock: `commit` if it held it (the side effect), else `fenced`. */
  end?: number;
  outcome?: 'commit' | 'fenced';
}

/** Lines `start|commit|fenced <task> <attempt> <pid> <ms>`, paired per task and process. */
function parseRuns(text: string): Run[] {
  const runs: Run[] = [];
  const open = new Map<string, Run>();
  for (const line of text.split('\n')) {
    const [what, task, attempt, pid, at] = line.split(' ');
    if (!what || !task || at === undefined) continue;
    const key = `${task} ${pid}`;
    if (what === 'start') {
      const run: Run = { task, attempt: Number(attempt), pid: Number(pid), start: Number(at) };
      runs.push(run);
      open.set(key, run);
    } else if (what === 'commit' || what === 'fenced') {
      const run = open.get(key);
      if (!run) throw new Error(`run log: "${line}" without its start`);
      run.end = Number(at);
      run.outcome = what;
      open.delete(key);
    }
  }
  return runs;
}

it(`chaos for ${SECONDS} s on the Elder Tree: acked tasks run once under their lock, never two task sages, tree restored`, { timeout: (2 * SECONDS + 150) * 1000 }, async () => {
  // The nodes inherit this process's environment: CHAOS_RUNS names their run log.
  const dir = mkdtempSync(join(tmpdir(), 'eldertree-chaos-'));
  const runLog = join(dir, 'runs.log');
  writeFileSync(runLog, '');
  process.env.CHAOS_RUNS = runLog;
  const cluster = await startCluster(fixture('chaos-elder-tree.mjs'), NODES, [], true, { servers: SERVERS });
  let keep = true; // the run log, for a failure
  const pids = new Map<number, string>();
  for (const node of cluster.nodes.values()) pids.set(node.proc.pid!, node.name);
  const hosts = (view: Awaited<ReturnType<typeof cluster.client.inspect>>, path: string) => view.filter((r) => r.actors.some((a) => a.path === path)).map((r) => r.node);
  const treeWhole = async () => {
    const view = await cluster.client.inspect(300);
    return view.length === 3 && hosts(view, TASK_SAGE).length === 1 && SERVANTS.every((p) => hosts(view, p).length === 3);
  };
  const waitFor = async (what: string, check: () => Promise<boolean>, ms: number) => {
    const deadline = Date.now() + ms;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) {
        const dump = [...cluster.nodes.values()].map((n) => `--- ${n.name}\n${n.output.join('').split('\n').slice(-20).join('\n')}`).join('\n');
        throw new Error(`chaos (elder tree): ${what} not within ${ms} ms\n${dump}`);
      }
      await sleep(250);
    }
  };
  try {
    await cluster.ready(NODES);
    await waitFor('the elders placed and two servants on every node', treeWhole, 20_000);
    const { client } = cluster;
    const undelivered: string[] = [];
    const deadLetters = new Map<string, number>();
    client.system.subscribe((e) => {
      if (e.type !== 'dead_letter') return;
      deadLetters.set(e.reason, (deadLetters.get(e.reason) ?? 0) + 1);
      if (e.reason === 'undelivered') undelivered.push(e.detail);
    });

    // Every finished task seen in the task sage's answers, by id (finished tasks are
    // forgotten past the sage's maxFinished, so it is read often; completed ones only,
    // all of them: a list is cut at `limit` in submission order), and who answered when.
    const seen = new Map<string, Any>();
    const owners: { node: string; at: number }[] = [];
    let last: Any | undefined;
    // The sage answers from saved state only: a task once seen never changes title
    // (an id handed out again would mean the sage went back on what it said).
    const retitled: string[] = [];
    const list = async (timeout: number) => {
      const r = await client.ask<Any>(TASK_SAGE, 'sage.task.list', { status: 'completed', limit: 1000 }, { timeout });
      owners.push({ node: r.node as string, at: Date.now() });
      for (const t of r.tasks as Any[]) {
        const before = seen.get(t.id as string);
        if (before && before.title !== t.title) retitled.push(`${t.id}: ${before.title} then ${t.title}`);
        seen.set(t.id as string, t);
      }
      last = r;
      return r;
    };

    let sent = 0;
    let running = true;
    // Acked submissions straight to the task sage, a persistent singleton: it acks a
    // message once the snapshot that took it is saved, and keeps its dedup marks in
    // that snapshot, so each submission makes exactly one task, across failovers.
    const submit = (async () => {
      while (running) {
        const n = ++sent;
        client.tell(
          TASK_SAGE,
          'sage.task.submit',
          { title: `chaos ${n}`, handler: 'chaos', input: { n, ms: 30 + rand(51) }, priority: rand(10), timeoutMs: 3000 },
          { requiresAck: true },
        );
        await sleep(25 + rand(16));
      }
    })();
    // Who answers as the task sage, often (small answers), and every task, now and then.
    const sample = (async () => {
      while (running) {
        await client.ask<Any>(TASK_SAGE, 'sage.task.list', { status: 'failed', limit: 1 }, { timeout: 1500 }).then(
          (r) => void owners.push({ node: r.node as string, at: Date.now() }),
          () => undefined,
        );
        await sleep(20);
      }
    })();
    const read = (async () => {
      while (running) {
        await list(1500).catch(() => undefined);
        await sleep(500);
      }
    })();

    const faults = await injectFaults(cluster, SECONDS, pids);
    running = false;
    await Promise.all([submit, sample, read]);

    // Every submission acked and its task finished: wait for resends and the queue to drain.
    const titles = () => new Set([...seen.values()].map((t) => t.title as string));
    const finished = () => {
      const { stats, counts } = last!;
      return stats.submitted >= sent && counts.queued + counts.assigned + counts.running === 0 && titles().size + stats.failed >= sent;
    };
    try {
      // A long run under faults ends with a backlog: give it as long as the run, at least a minute.
      await waitFor(`all ${sent} tasks to finish`, async () => (await list(1500), finished()), Math.max(60, SECONDS) * 1000);
    } catch (err) {
      const done = titles();
      const missing = Array.from({ length: sent }, (_, i) => `chaos ${i + 1}`).filter((t) => !done.has(t));
      console.log(
        `not completed: ${missing.length} (${missing.slice(0, 20).join(', ')}); last answer from ${last?.node}: ${JSON.stringify(last?.counts)} ` +
          `${JSON.stringify(last?.stats)} waiting ${last?.waiting}; dead letters ${JSON.stringify(Object.fromEntries(deadLetters))}; retitled ${retitled.length}`,
      );
      throw err;
    }
    await sleep(1000); // late resends would show up as extra tasks
    await list(3000);
    // The tree is whole again: every node up, one task sage, every servant on every node.
    await cluster.ready(NODES, 30_000);
    await waitFor('the tree restored', treeWhole, 30_000);

    // Each submission made exactly one task, completed once.
    const tasks = [...seen.values()];
    const byTitle = new Map<string, Any[]>();
    for (const t of tasks) byTitle.set(t.title, [...(byTitle.get(t.title) ?? []), t]);
    const duplicates = [...byTitle.values()].filter((ts) => ts.length > 1).map((ts) => ts.map((t) => `${t.id}:${t.title}`).join('='));
    const lost = Array.from({ length: sent }, (_, i) => `chaos ${i + 1}`).filter((title) => !byTitle.has(title));
    const { counts, stats } = last!;
    const unfinished = counts.queued + counts.assigned + counts.running;
    const completions = tasks.filter((t) => (t.history as Any[]).filter((h) => h.what === 'completed').length !== 1).map((t) => t.id);

    // Runs: never two runs of a task that made its side effect at once; every task made it.
    const runs = parseRuns(readFileSync(runLog, 'utf8'));
    const commits = new Map<string, Run[]>();
    for (const r of runs) if (r.outcome === 'commit') commits.set(r.task, [...(commits.get(r.task) ?? []), r]);
    const overlapping: string[] = [];
    const rerunsAfterFault: string[] = [];
    const unexplained: string[] = [];
    const nodeOf = (pid: number) => pids.get(pid) ?? `pid ${pid}`;
    const t0 = runs[0]?.start ?? 0;
    /** What went on with a task, for a failure's message: its runs, history, and the faults. */
    const explain = (task: string) => {
      const lines = runs.filter((r) => r.task === task).map((r) => `  run attempt ${r.attempt} on ${nodeOf(r.pid)} ${r.start - t0}..${r.end === undefined ? '?' : r.end - t0} ${r.outcome ?? 'unfinished'}`);
      const history = ((seen.get(task)?.history as Any[] | undefined) ?? []).map((h) => `  ${h.at - t0} ${h.what}`);
      const around = faults.map((f) => `  ${f.what} ${f.from - t0}..${f.to - t0}`);
      console.log(`${task}:\n${lines.join('\n')}\n history:\n${history.join('\n')}\n faults:\n${around.join('\n')}`);
    };
    for (const [task, cs] of commits) {
      cs.sort((a, b) => a.start - b.start);
      for (let i = 1; i < cs.length; i++) {
        const [a, b] = [cs[i - 1]!, cs[i]!];
        if (b.start < a.end!) {
          overlapping.push(`${task}: ${nodeOf(a.pid)} ${a.start}..${a.end} and ${nodeOf(b.pid)} ${b.start}..${b.end}`);
          explain(task);
        }
        // Run again after a commit: only when the commit's outcome was lost to a fault
        // (its node, or the task sage's node, killed or frozen, or the broker restarted)
        // within a few seconds of it.
        const sages = new Set(owners.filter((o) => o.at >= a.end! - 3000 && o.at <= a.end! + 5000).map((o) => o.node));
        const cause = faults.find((f) => f.to >= a.end! - 100 && f.from <= a.end! + 5000 && (f.kind === 'nats' || f.victim === nodeOf(a.pid) || sages.has(f.victim!)));
        const at = cause && (cause.from - a.end!) / 1000;
        const what = `${task} (commit on ${nodeOf(a.pid)}; ${cause ? `${cause.what} at ${at! < 0 ? '' : '+'}${at!.toFixed(1)} s` : 'no fault near it'})`;
        (cause ? rerunsAfterFault : unexplained).push(what);
        if (!cause) explain(task);
      }
    }
    const uncommitted = tasks.filter((t) => !commits.has(t.id)).map((t) => t.id);
    const fenced = runs.filter((r) => r.outcome === 'fenced').length;
    const { tenures, flips } = ownership(owners);

    const completed = tasks.filter((t) => t.status === 'completed').length;
    const failed = stats.failed as number;
    console.log(
      `chaos (elder tree): ${faults.length} faults (${faults.map((f) => f.what).join(', ')}); ` +
        `tasks submitted ${sent}, completed ${completed}, failed ${failed}, duplicates ${duplicates.length}, lost ${lost.length}; ` +
        `runs ${runs.length} (${fenced} fenced), re-runs after a fault ${rerunsAfterFault.length}${rerunsAfterFault.length ? ` [${rerunsAfterFault.join('; ')}]` : ''}; ` +
        `owners ${tenures.map((t) => t.node).join('>')}`,
    );
    if (unexplained.length || overlapping.length || lost.length || duplicates.length || unfinished) {
      for (const node of cluster.nodes.values()) console.log(`--- ${node.name}\n${node.output.join('').split('\n').slice(-20).join('\n')}`);
    }
    expect(faults.length).toBeGreaterThanOrEqual(Math.floor(SECONDS / 6));
    expect(lost).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(retitled).toEqual([]);
    expect(stats.submitted).toBe(sent);
    expect(unfinished).toBe(0);
    expect(failed).toBe(0);
    expect(completed).toBe(sent);
    expect(completions).toEqual([]);
    expect(overlapping).toEqual([]);
    expect(uncommitted).toEqual([]);
    expect(unexplained).toEqual([]);
    expect(undelivered).toEqual([]);
    expect(flips).toEqual([]);
    keep = false;
  } finally {
    delete process.env.CHAOS_RUNS;
    await cluster.stop();
    if (keep) {
      for (const node of cluster.nodes.values()) writeFileSync(join(dir, `${node.name}.log`), node.output.join(''));
      console.log(`run log and node logs kept in ${dir}`);
    } else rmSync(dir, { recursive: true, force: true });
  }
});
