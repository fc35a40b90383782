import { afterEach, describe, expect, it } from 'vitest';
import { assign, fromPromise, setup } from 'xstate';
import {
  AskRejectedError,
  AskTimeoutError,
  plainEnvelope,
  Node,
  reply,
  runtimeOf,
  supervisor,
  tell,
  worker,
} from '../src/index.js';
import { eventually, startNode, testMachine } from './helpers.js';

let node: Node | undefined;
afterEach(async () => {
  await node?.stop();
  node = undefined;
});

/** Records every `note` it gets with the sender, in processing order. */
const logMachine = setup({
  types: { context: {} as { log: string[] }, events: {} as { type: 'note'; n: number } | { type: 'read' } },
}).createMachine({
  context: { log: [] },
  on: {
    note: {
      actions: assign({
        log: ({ context, event, system }) => [...context.log, `${runtimeOf(system).current!.source_elder}:${event.n}`],
      }),
    },
    read: { actions: reply(({ context }) => ({ log: context.log })) },
  },
});

describe('tell and ask', () => {
  it('delivers the envelope fields as an XState event and replies to ask', async () => {
    const echo = setup({}).createMachine({
      on: {
        'sage.knowledge.query': {
          actions: reply(({ event, system }) => {
            const env = runtimeOf(system).current!;
            return { got: event, type: env.message_type, from: env.source_elder, priority: env.priority, seq: env.seq };
          }),
        },
      },
    });
    const started = await startNode(supervisor('app', {}, [worker('echo', echo)]));
    node = started.node;
    const answer = await node.ask('/app/echo', 'sage.knowledge.query', { q: 'why' }, { priority: 7 });
    expect(answer).toEqual({
      got: { q: 'why', type: 'sage.knowledge.query' },
      type: 'sage.knowledge.query',
      from: `@${node.nodeId}`,
      priority: 7,
      seq: 1,
    });
  });

  it('an ask the actor does not answer is rejected with AskTimeoutError, and recorded', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    const t0 = performance.now();
    const err = await node.ask('/app/w', 'inc', {}, { timeout: 50 }).catch((e: unknown) => e);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(49);
    expect(err).toBeInstanceOf(AskTimeoutError);
    expect((err as Error).message).toBe('ask inc to /app/w timed out after 50 ms');
    expect(started.rec.deadLetters().map((d) => d.reason)).toEqual(['ask_timeout']);
  });

  it('per-pair FIFO within a priority; higher priority first', async () => {
    const started = await startNode(supervisor('app', {}, [worker('log', logMachine)]));
    node = started.node;
    // Queue them all in one tick so the mailbox, not arrival time, decides the order.
    for (let n = 1; n <= 5; n++) node.tell('/app/log', 'note', { n }, { from: '/a' });
    node.tell('/app/log', 'note', { n: 100 }, { from: '/b', priority: 9 });
    for (let n = 6; n <= 8; n++) node.tell('/app/log', 'note', { n }, { from: '/a' });
    node.tell('/app/log', 'note', { n: 0 }, { from: '/b', priority: 0 });
    const { log } = await node.ask('/app/log', 'read', {}, { priority: 0 });
    expect(log).toEqual(['/b:100', ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => `/a:${n}`), '/b:0']);
  });

  it('actors tell each other from actions with tell() and runtimeOf()', async () => {
    const relay = setup({}).createMachine({
      on: {
        forward: {
          actions: [
            tell('/app/counter', 'inc'),
            ({ system }) => runtimeOf(system).tell('/app/counter', 'inc'),
          ],
        },
      },
    });
    const started = await startNode(supervisor('app', {}, [worker('counter', testMachine), worker('relay', relay)]));
    node = started.node;
    node.tell('/app/relay', 'forward');
    node.tell('/app/relay', 'forward');
    await node.settled();
    expect(await node.ask('/app/counter', 'get')).toEqual({ count: 4 });
  });
});

describe('dead letters', () => {
  it('records unhandled events with the state, unknown targets, reserved types and tells to nobody', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    node.tell('/app/w', 'fly');
    node.tell('/app/nobody', 'inc');
    node.tell('/app/w', 'xstate.stop');
    node.tell('/app/w', 'eldertree.shutdown');
    await node.settled();
    expect(started.rec.deadLetters().map((d) => [d.reason, d.detail])).toEqual([
      ['unknown_target', 'no actor at /app/nobody'],
      ['forbidden', 'xstate.stop is a reserved event type; actors cannot be sent it'],
      ['forbidden', 'eldertree.shutdown is a reserved event type; actors cannot be sent it'],
      ['unhandled', '/app/w in state "up" does not handle fly'],
    ]);
    // The actor is untouched by all of it.
    expect(await node.ask('/app/w', 'ping')).toEqual({ pong: true });
  });

  it('an ask that is unhandled, or crashes the actor, is rejected at once with the reason', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    const unhandled = await node.ask('/app/w', 'fly', {}, { timeout: 5000 }).catch((e: unknown) => e);
    expect(unhandled).toBeInstanceOf(AskRejectedError);
    expect(unhandled).toMatchObject({ reason: 'unhandled', message: '/app/w in state "up" does not handle fly' });
    const crashed = await node.ask('/app/w', 'crash', {}, { timeout: 5000 }).catch((e: unknown) => e);
    expect(crashed).toMatchObject({ reason: 'crashed', message: 'crash made /app/w crash: crash requested' });
    expect(started.rec.deadLetters().map((d) => d.reason)).toEqual(['unhandled', 'crashed']);
  });

  it('a reply-only transition is handled, not a dead letter', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    await node.ask('/app/w', 'ping');
    expect(started.rec.deadLetters()).toEqual([]);
  });

  it('reply() to a tell has nobody to answer: no_reply_target', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    node.tell('/app/w', 'ping');
    await node.settled();
    expect(started.rec.deadLetters().map((d) => d.reason)).toEqual(['no_reply_target']);
  });

  it('the authorize hook refuses before delivery: forbidden, audit line, error to the asker', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]), {
      authorize: (env) => (env.message_type === 'inc' && env.source_elder === '/servant' ? 'servants may not inc' : undefined),
    });
    node = started.node;
    const err = await node.ask('/app/w', 'inc', {}, { from: '/servant' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskRejectedError);
    expect((err as AskRejectedError).reason).toBe('forbidden');
    node.tell('/app/w', 'inc', {}, { from: '/elder' });
    expect(await node.ask('/app/w', 'get')).toEqual({ count: 1 });
    expect(started.rec.deadLetters().map((d) => [d.reason, d.detail])).toEqual([['forbidden', 'servants may not inc']]);
  });
});

describe('messages around a crash', () => {
  it('the crashing message is a dead letter with the error; the rest go to the new incarnation', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    node.tell('/app/w', 'inc');
    node.tell('/app/w', 'crash');
    for (let i = 0; i < 3; i++) node.tell('/app/w', 'inc');
    const after = await node.ask('/app/w', 'get');
    expect(after).toEqual({ count: 3 }); // the first inc died with incarnation 1
    const [crashed] = started.rec.deadLetters();
    expect(crashed).toMatchObject({ reason: 'crashed', detail: 'crash made /app/w crash: crash requested' });
    expect(crashed!.error?.message).toBe('crash requested');
    expect(started.rec.lifecycle((e) => e.path === '/app/w')).toEqual([
      'started /app/w#1',
      'crashed /app/w#1',
      'restarted /app/w#2',
    ]);
  });

  it('a thrown error in a delayed transition is caught too: the process survives', async () => {
    const timeBomb = setup({}).createMachine({
      initial: 'ticking',
      states: {
        ticking: {
          after: {
            5: {
              actions: () => {
                throw new Error('boom later');
              },
            },
          },
        },
      },
    });
    const started = await startNode(
      supervisor('app', { intensity: 100 }, [worker('bomb', timeBomb, { restart: 'transient' })]),
    );
    node = started.node;
    // Each incarnation's 5 ms timer throws again: wait for the second crash, however busy the machine.
    const crashes = () => started.rec.lifecycle((e) => e.type === 'crashed');
    expect(await eventually(() => crashes().length >= 2, 10_000)).toBe(true);
    expect(crashes()[0]).toBe('crashed /app/bomb#1');
  });

  it('a stopped actor turns new mail and waiting mail into dead letters', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine, { restart: 'transient' })]));
    node = started.node;
    node.tell('/app/w', 'finish'); // normal exit: a transient child is not restarted
    node.tell('/app/w', 'inc'); // waits in the mailbox, then is flushed when the supervisor decides
    await node.settled();
    node.tell('/app/w', 'inc');
    await node.settled();
    expect(started.rec.deadLetters().map((d) => [d.reason, d.detail])).toEqual([
      ['stopped', '/app/w was stopped before processing it'],
      ['stopped', '/app/w is stopped'],
    ]);
  });
});

describe('requires_ack', () => {
  it('processes a redelivered acked message once (dedup by message_id)', async () => {
    const started = await startNode(supervisor('app', {}, [worker('w', testMachine)]));
    node = started.node;
    // As it comes off the wire: a plain map (a node's own envelopes keep id and timestamp as getters).
    const env = plainEnvelope(node.system.envelope('/x', new Map(), '/app/w', 'inc', {}, 5, true));
    node.system.receive(env);
    node.system.receive({ ...env }); // the network duplicated it
    node.system.receive({ ...env, message_id: env.message_id + 'b', seq: 2 });
    expect(await node.ask('/app/w', 'get')).toEqual({ count: 2 });
    expect(node.system.counters.duplicates).toBe(1);
  });
});

describe('asking from inside a machine', () => {
  it('an invoked promise actor asks another actor; the answer comes back as done data', async () => {
    const asker = setup({
      actors: {
        askCount: fromPromise<{ count: number }>(({ system }) => runtimeOf(system).ask<{ count: number }>('/app/counter', 'get')),
      },
      types: { context: {} as { seen: number } },
    }).createMachine({
      context: { seen: -1 },
      initial: 'idle',
      states: {
        idle: { on: { check: 'asking' } },
        asking: {
          invoke: {
            src: 'askCount',
            onDone: { target: 'idle', actions: assign({ seen: ({ event }) => event.output.count }) },
          },
        },
      },
      on: { read: { actions: reply(({ context }) => ({ seen: context.seen })) } },
    });
    const started = await startNode(supervisor('app', {}, [worker('counter', testMachine), worker('asker', asker)]));
    node = started.node;
    node.tell('/app/counter', 'inc');
    node.tell('/app/counter', 'inc');
    node.tell('/app/asker', 'check');
    // The answer arrives asynchronously (an invoked promise): read until it is there.
    let seen = -1;
    const end = Date.now() + 10_000;
    while (seen !== 2 && Date.now() < end) seen = (await node.ask<{ seen: number }>('/app/asker', 'read')).seen;
    expect(seen).toBe(2);
    expect(started.rec.deadLetters()).toEqual([]);
  });
});

describe('a crash leaves nothing behind', () => {
  it("stops the crashed incarnation's invoked children (XState leaves them running)", async () => {
    const { fromCallback } = await import('xstate');
    let ticks = 0;
    const machine = setup({
      actors: {
        ticker: fromCallback(() => {
          const t = setInterval(() => ticks++, 2);
          return () => clearInterval(t);
        }),
      },
    }).createMachine({
      invoke: { src: 'ticker' },
      on: {
        boom: {
          actions: () => {
            throw new Error('boom');
          },
        },
      },
    });
    const started = await startNode(supervisor('app', {}, [worker('w', machine, { restart: 'temporary' })]));
    node = started.node;
    expect(await eventually(() => ticks > 0, 10_000)).toBe(true);
    node.tell('/app/w', 'boom');
    await node.settled();
    const after = ticks;
    await new Promise((r) => setTimeout(r, 30));
    expect(ticks).toBe(after);
  });
});

describe('a local tell kept as fields (no envelope object while it waits)', () => {
  it('is the same message wherever it is read: runtime.current, the id tell returned, sender, seq, time; and its dead letters', async () => {
    const seen: { id: string; from: string; seq: number; at: number; type: string; n?: unknown; same: boolean; spread: boolean }[] = [];
    const recorder = setup({ types: { events: {} as { type: 'note'; n?: number } | { type: 'boom' } } }).createMachine({
      on: {
        note: {
          actions: ({ system, event }) => {
            const c = runtimeOf(system).current!;
            // Recorded here, checked outside: a failed expect in an action would only crash the actor.
            seen.push({
              id: c.message_id,
              from: c.source_elder,
              seq: c.seq,
              at: c.timestamp,
              type: c.message_type,
              n: (c.payload as { n?: number }).n ?? event.n,
              // Read twice: the same object, made once.
              same: runtimeOf(system).current === c,
              // A plain object: what user code spreads or clones keeps every field.
              spread: { ...c }.message_id === c.message_id && structuredClone({ ...c, payload: {} }).timestamp === c.timestamp,
            });
          },
        },
        boom: {
          actions: () => {
            throw new Error('boom');
          },
        },
      },
    });
    const started = await startNode(supervisor('app', { intensity: 10 }, [worker('r', recorder)]));
    node = started.node;
    const before = Date.now();
    const a = node.tell('/app/r', 'note', { n: 1 }, { from: '/outside' });
    const b = node.tell('/app/r', 'note');
    const crashId = node.tell('/app/r', 'boom');
    const unhandled = node.tell('/app/r', 'nobody-handles-this');
    expect(await eventually(() => seen.length === 2 && started.rec.deadLetters().length === 2)).toBe(true);
    expect(seen.map((s) => s.id)).toEqual([a, b]);
    expect(seen.map((s) => [s.same, s.spread])).toEqual([
      [true, true],
      [true, true],
    ]);
    expect(seen.map((s) => s.type)).toEqual(['note', 'note']);
    expect(seen[0]!.from).toBe('/outside');
    expect(seen[0]!.n).toBe(1);
    expect(seen[1]!.seq).toBeGreaterThan(0);
    for (const s of seen) expect(s.at).toBeGreaterThanOrEqual(before - 1);
    const dead = started.rec.deadLetters();
    expect(dead.map((d) => [d.reason, d.envelope?.message_id])).toEqual([
      ['crashed', crashId],
      ['unhandled', unhandled],
    ]);
    // Every copy carries every field: JSON, plainEnvelope, a spread.
    expect(JSON.parse(JSON.stringify(dead[0]!.envelope))).toMatchObject({ message_id: crashId, message_type: 'boom', target_elder: '/app/r', seq: expect.any(Number), timestamp: expect.any(Number) });
    expect(plainEnvelope(dead[1]!.envelope!)).toMatchObject({ message_id: unhandled, target_elder: '/app/r' });
    expect({ ...dead[1]!.envelope! }).toMatchObject({ message_id: unhandled, timestamp: expect.any(Number) });
    // A dead letter of an envelope the node made (an ask nobody handles) is plain too.
    await expect(node.ask('/app/r', 'nobody-handles-this-either')).rejects.toThrow();
    const asked = started.rec.deadLetters().at(-1)!.envelope!;
    expect({ ...asked }.message_id).toBe(asked.message_id);
    expect(typeof { ...asked }.timestamp).toBe('number');
  });
});
