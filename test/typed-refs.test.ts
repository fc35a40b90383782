import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import {
  ask,
  AskRejectedError,
  ClusterClient,
  EldertreeError,
  isAddress,
  Node,
  runtimeOf,
  supervisor,
  tell,
  worker,
  kind,
  reply,
  type Address,
  type Ask,
  type EventOf,
  type SchemaEvents,
  type DeadLetterEvent,
  type Ref,
  type SystemEvent,
} from '../src/index.js';
import { checkEvent, NatsTransport } from '../src/internals.js';
import { eventually } from './helpers.js';
import { Counter } from './fixtures/typed-counter.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** Tells the counter it is given, then asks it and keeps the answer: typed actions inside a machine. */
const driver = setup({
  types: {
    context: {} as { counter: Address<typeof Counter>; seen: number; failure: string },
    input: {} as { counter: Address<typeof Counter> },
    events: {} as { type: 'go'; by: number } | { type: 'got'; count: number } | { type: 'failed'; reason: string },
  },
}).createMachine({
  context: ({ input }) => ({ counter: input.counter, seen: -1, failure: '' }),
  on: {
    go: {
      actions: [
        tell(({ context }) => context.counter, ({ event }) => ({ type: 'inc', by: event.by })),
        ask(({ context }) => context.counter, { type: 'get' }, {
          reply: (r) => ({ type: 'got', count: r.count }),
          error: (e) => ({ type: 'failed', reason: e.message }),
        }),
      ],
    },
    got: { actions: assign({ seen: ({ event }) => event.count }) },
    failed: { actions: assign({ failure: ({ event }) => event.reason }) },
  },
});

/** Forwards to whatever counter address comes inside the payload (on another node, too). */
const relay = setup({
  types: { events: {} as { type: 'forward'; to: Address<'counter'>; by: number } },
}).createMachine({
  on: {
    forward: {
      actions: ({ system, event }) => {
        runtimeOf(system).ref(Counter, event.to).tell({ type: 'inc', by: event.by });
      },
    },
  },
});

const tree = supervisor('app', {}, [
  worker('counter', Counter),
  worker('driver', driver, { input: { counter: Counter.at('/app/counter') } }),
]);

describe('typed references on one node', () => {
  let node: Awaited<ReturnType<typeof startTyped>>;
  const startTyped = () => Node.start({ tree });
  beforeAll(async () => void (node = await startTyped()));
  afterAll(() => node.stop());

  it('tell and ask through a reference typed from the tree', async () => {
    const counter = node.ref('/app/counter');
    expectTypeOf(counter).toEqualTypeOf<Ref<typeof Counter>>();
    counter.tell({ type: 'reset' });
    counter.tell({ type: 'inc', by: 2 });
    counter.tell({ type: 'inc', by: 3 });
    const got = await counter.ask({ type: 'get' });
    expectTypeOf(got).toEqualTypeOf<{ count: number }>();
    expect(got).toEqual({ count: 5 });
    const sum = await node.ref(Counter, '/app/counter').ask({ type: 'add', a: 2, b: 40 });
    expectTypeOf(sum).toEqualTypeOf<{ sum: number }>();
    expect(sum).toEqual({ sum: 42 });
  });

  it('a reference is plain data: { path, kind }, and binds again from that', async () => {
    const counter = node.ref('/app/counter');
    const data = JSON.parse(JSON.stringify({ who: counter })) as { who: unknown };
    expect(data.who).toEqual({ path: '/app/counter', kind: 'counter' });
    expect(isAddress(data.who)).toBe(true);
    expect(Counter.at('/app/counter')).toEqual(data.who);
    const again = node.ref(Counter, data.who as Address<typeof Counter>);
    expect(await again.ask({ type: 'add', a: 1, b: 1 })).toEqual({ sum: 2 });
  });

  it('a reference of another kind is refused when bound, not at its first message', () => {
    expect(() => node.ref(Counter, { path: '/app/driver', kind: 'driver' } as unknown as Address<typeof Counter>)).toThrow(
      new EldertreeError('/app/driver is referenced as kind driver, not counter'),
    );
    expect(() => node.ref(Counter, 'app/counter' as '/app/counter')).toThrow('app/counter is an entity address of kind app, not counter (an actor path starts with /)');
    expect(() => node.ref(Counter, 'app counter' as '/app/counter')).toThrow(/an actor path starts with \//);
  });

  it('typed tell and ask actions inside a machine', async () => {
    node.ref('/app/counter').tell({ type: 'reset' });
    node.tell('/app/driver', 'go', { by: 7 });
    const driverCell = node.system.cell('/app/driver')!;
    const context = () => driverCell.actor!.getSnapshot().context as { seen: number };
    expect(await eventually(() => context().seen === 7, 5000)).toBe(true);
  });

  it('wrong messages from typed code cannot be written; the string layer still takes anything and dead-letters it', async () => {
    const events: SystemEvent[] = [];
    const sub = node.subscribe((e) => events.push(e));
    node.tell('/app/counter', 'nope');
    const dead = () => events.find((e): e is DeadLetterEvent => e.type === 'dead_letter');
    expect(await eventually(() => dead() !== undefined, 5000)).toBe(true);
    sub.unsubscribe();
    expect(dead()?.reason).toBe('unhandled');
  });
});

describe('a machine whose types follow its schemas', () => {
  const schemas = { greet: z.object({ name: z.string().min(1) }), shout: z.object({ times: z.coerce.number().int() }) };
  const greeter = setup({
    types: { context: {} as { said: string[] }, events: {} as SchemaEvents<typeof schemas> | Ask<{ type: 'said' }, { said: string[] }> },
  }).createMachine({
    context: { said: [] },
    on: {
      greet: { actions: assign({ said: ({ context, event }) => [...context.said, `hello ${event.name}`] }) },
      shout: { actions: assign({ said: ({ context, event }) => [...context.said, '!'.repeat(event.times)] }) },
      said: { actions: reply(({ context }) => ({ said: context.said })) },
    },
  });
  const Greeter = kind('greeter', greeter, { schemas });

  it('events are the schemas\' outputs, and the kind checks them', async () => {
    expectTypeOf<EventOf<typeof Greeter>>().toMatchTypeOf<{ type: 'greet'; name: string } | { type: 'shout'; times: number } | { type: 'said' }>();
    const node = await Node.start({ tree: supervisor('g', {}, [worker('greeter', Greeter)]) });
    try {
      const g = node.ref('/g/greeter');
      g.tell({ type: 'greet', name: 'ada' });
      g.tell({ type: 'shout', times: 3 });
      expect(await g.ask({ type: 'said' })).toEqual({ said: ['hello ada', '!!!'] });
      // What the node boundary does with a message from the wire: coerced, then typed.
      expect(checkEvent(Greeter.schemas!, 'shout', { times: '2' })).toEqual({ ok: true, event: { type: 'shout', times: 2 } });
      expect(checkEvent(Greeter.schemas!, 'greet', { name: '' })).toEqual({ ok: false, reason: 'greet: name: Too small: expected string to have >=1 characters' });
    } finally {
      await node.stop();
    }
  });
});

describe('typed references across NATS, schemas at the node boundary', () => {
  let server: NatsServer;
  let a: Node;
  let b: Node;
  let client: ClusterClient;
  const deadLetters: DeadLetterEvent[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    a = await Node.start({
      nodeId: 'ta',
      tree: supervisor('a', {}, [worker('counter', Counter)]),
      transport: new NatsTransport({ servers: server.url }),
      onEvent: (e) => void (e.type === 'dead_letter' && deadLetters.push(e)),
    });
    b = await Node.start({ nodeId: 'tb', tree: supervisor('b', {}, [worker('relay', relay)]), transport: new NatsTransport({ servers: server.url }) });
    client = await ClusterClient.connect({ servers: server.url });
  });
  afterAll(async () => {
    await client?.close();
    await b?.stop();
    await a?.stop();
    await server?.stop();
  });

  it('an address travels inside a payload and is used on another node', async () => {
    const counter = client.ref(Counter, '/a/counter');
    counter.tell({ type: 'reset' });
    // The client gives node b the address; b's relay binds it and tells node a's counter.
    client.ref(b.ref('/b/relay')).tell({ type: 'forward', to: Counter.at('/a/counter'), by: 4 });
    client.tell('/b/relay', 'forward', { to: JSON.parse(JSON.stringify(counter)) as Payload, by: 5 });
    // Two hops (client -> b -> a): poll until both tells have landed.
    let count = -1;
    for (const end = Date.now() + 5000; count !== 9 && Date.now() < end; ) count = (await counter.ask({ type: 'get' })).count;
    expect(count).toBe(9);
  });

  it('a message from the wire that fails its schema is a malformed dead letter naming the field; an ask is rejected with it', async () => {
    deadLetters.length = 0;
    client.tell('/a/counter', 'inc', { by: 'lots' });
    expect(await eventually(() => deadLetters.some((d) => d.reason === 'malformed'), 5000)).toBe(true);
    const dead = deadLetters.find((d) => d.reason === 'malformed')!;
    expect(dead.detail).toMatch(/^\/a\/counter refuses inc: by: Invalid input: expected number, received string$/);
    expect(dead.envelope?.message_type).toBe('inc');

    const err = await client.ask('/a/counter', 'add', { a: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AskRejectedError);
    expect((err as AskRejectedError).reason).toBe('malformed');
    expect((err as Error).message).toMatch(/add: b: Invalid input: expected number, received undefined/);
    // What passes the schema is processed as usual, transformed values included.
    expect(await client.ref(Counter, '/a/counter').ask({ type: 'add', a: 1, b: 2 })).toEqual({ sum: 3 });
  });
});

type Payload = Record<string, unknown>;
