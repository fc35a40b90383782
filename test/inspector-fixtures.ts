// Shared by the inspector tests: a small tree with a nested statechart, servants to
// crash, a sage that asks them (correlated messages), and tools to read the stream.
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, fromPromise, setup } from 'xstate';
import { reply, runtimeOf, supervisor, worker, type SupervisorSpec } from '../src/index.js';

/** A traffic light: nested states (red.walk / red.blink), a guard, a context counter. */
export const lightMachine = setup({
  types: {
    context: {} as { cycles: number },
    events: {} as { type: 'next' } | { type: 'countdown' } | { type: 'emergency' } | { type: 'crash' } | { type: 'get' },
  },
  guards: { calm: ({ context }) => context.cycles < 1000 },
}).createMachine({
  id: 'light',
  context: { cycles: 0 },
  initial: 'green',
  on: {
    emergency: '.red',
    crash: {
      actions: () => {
        throw new Error('light crashed on request');
      },
    },
    get: { actions: reply(({ context }) => ({ cycles: context.cycles })) },
  },
  states: {
    green: { on: { next: { target: 'yellow', guard: 'calm' } } },
    yellow: { on: { next: 'red' } },
    red: {
      initial: 'walk',
      on: { next: { target: 'green', actions: assign({ cycles: ({ context }) => context.cycles + 1 }) } },
      states: { walk: { on: { countdown: 'blink' } }, blink: { on: { countdown: 'walk' } } },
    },
  },
});

/** A servant: takes a task, works, reports done; `crash` throws. */
export const servantMachine = setup({
  types: {
    context: {} as { done: number; task: string | null },
    events: {} as { type: 'task.execute'; task?: string } | { type: 'task.done' } | { type: 'crash' },
  },
}).createMachine({
  id: 'servant',
  context: { done: 0, task: null },
  initial: 'idle',
  on: {
    crash: {
      actions: () => {
        throw new Error('servant crashed on request');
      },
    },
  },
  states: {
    idle: {
      on: {
        'task.execute': {
          target: 'working',
          actions: [assign({ task: ({ event }) => event.task ?? 'task' }), reply(({ event }) => ({ accepted: event.task ?? 'task' }))],
        },
      },
    },
    working: {
      on: { 'task.done': { target: 'idle', actions: assign({ done: ({ context }) => context.done + 1, task: null }) } },
    },
  },
});

/** A sage that hands tasks to servants with ask (so messages carry correlation ids). */
export const sageMachine = setup({
  types: { context: {} as { sent: number }, events: {} as { type: 'task.submit'; servant: string; task: string } },
}).createMachine({
  id: 'sage',
  context: { sent: 0 },
  initial: 'ready',
  states: {
    ready: {
      on: {
        'task.submit': {
          actions: [
            assign({ sent: ({ context }) => context.sent + 1 }),
            ({ event, system }) => {
              const runtime = runtimeOf(system);
              runtime.ask(event.servant, 'task.execute', { task: event.task }, { timeout: 2000 }).then(
                () => runtime.tell(event.servant, 'task.done'),
                () => undefined,
              );
            },
          ],
        },
      },
    },
  },
});

/** A player: an invoked loader (its done event is XState's internal one), then a parallel state of two regions. */
export const playerMachine = setup({
  actors: { load: fromPromise(async () => 'track') },
  types: { events: {} as { type: 'play' } | { type: 'pause' } | { type: 'louder' } | { type: 'quieter' } | { type: 'eject' } },
}).createMachine({
  id: 'player',
  initial: 'loading',
  states: {
    loading: { invoke: { src: 'load', onDone: 'ready' } },
    ready: {
      type: 'parallel',
      on: { eject: 'loading' },
      states: {
        audio: { initial: 'paused', states: { paused: { on: { play: 'playing' } }, playing: { on: { pause: 'paused' } } } },
        volume: { initial: 'normal', states: { normal: { on: { louder: 'loud' } }, loud: { on: { quieter: 'normal' } } } },
      },
    },
  },
});

export function inspectorTree(): SupervisorSpec {
  return supervisor('elders', { strategy: 'one_for_one', intensity: 20, period: 10_000 }, [
    worker('light', lightMachine),
    worker('sage', sageMachine),
    supervisor('servants', { strategy: 'one_for_one', intensity: 10, period: 10_000 }, [
      worker('servant-1', servantMachine),
      worker('servant-2', servantMachine),
      worker('servant-3', servantMachine),
    ]),
  ]);
}

/** Headless Debian Chromium through playwright-core, with flags that work on a closed network. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  // Playwright gives every launch a new empty profile dir of its own; the temp dir is for crash dumps.
  const dir = mkdtempSync(join(tmpdir(), 'eldertree-chromium-'));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--crash-dumps-dir=${dir}`,
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SseEvent {
  event: string;
  data: string;
}

/** Reads an SSE stream with Node's http client (a stand-in for one connected browser). */
export function openStream(url: string): { events: SseEvent[]; next(event: string, ms?: number): Promise<SseEvent>; close(): void } {
  const events: SseEvent[] = [];
  const waiters: { event: string; resolve: (e: SseEvent) => void }[] = [];
  let buffer = '';
  let seen = 0;
  const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let cut: number;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (data.length === 0) continue;
        const e = { event, data: data.join('\n') };
        events.push(e);
        for (const w of [...waiters]) {
          if (w.event === event) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(e);
          }
        }
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return {
    events,
    next(event, ms = 5000) {
      const ready = events.slice(seen).find((e) => e.event === event);
      if (ready) {
        seen = events.indexOf(ready) + 1;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${event} event within ${ms} ms`)), ms);
        waiters.push({
          event,
          resolve: (e) => {
            clearTimeout(timer);
            seen = events.indexOf(e) + 1;
            resolve(e);
          },
        });
      });
    },
    close: () => req.destroy(),
  };
}

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format (0.0.4): HELP/TYPE lines, then samples
 * `name{l="v",...} value`, label values with \\ \" \n escapes. Throws on any other line.
 */
export function parsePrometheus(text: string): { types: Map<string, string>; samples: PromSample[] } {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/.exec(line))) continue;
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      if (types.has(m[1]!)) throw new Error(`TYPE twice for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus line: ${line}`);
    const name = m[1]!;
    // A histogram's samples are its _bucket (with le), _sum and _count.
    const family = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
    const histogram = family !== undefined && types.get(family) === 'histogram';
    if (!types.has(name) && !histogram) throw new Error(`sample ${name} before its TYPE line`);
    const labels: Record<string, string> = {};
    const body = m[3] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    let pos = 0;
    while (pos < body.length) {
      re.lastIndex = pos;
      const lm = re.exec(body);
      if (!lm) throw new Error(`bad labels in: ${line}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      pos = re.lastIndex;
    }
    if (histogram && name.endsWith('_bucket') && labels.le === undefined) throw new Error(`bucket without le: ${line}`);
    samples.push({ name, labels, value: Number(m[4]) });
  }
  return { types, samples };
}
