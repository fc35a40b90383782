/**
 * Compile-time guards of the typed API: each @ts-expect-error line must stay an error
 * (tsc fails on an unused one), so a change that loosens a type fails `npm test`.
 * Nothing here runs.
 */
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { ask, kind, Node, reply, runtimeOf, supervisor, tell, worker, type Address, type Ask, type ClusterClient } from '../../src/index.js';
import { Counter } from '../fixtures/typed-counter.js';

const other = setup({ types: { events: {} as { type: 'ping' } | Ask<{ type: 'name' }, { name: string }> } }).createMachine({
  on: { name: { actions: reply({ name: 'other' }) } },
});
const Other = kind('other', other);

const tree = supervisor('app', {}, [worker('counter', Counter), supervisor('pool', {}, [worker('o', Other)])]);

export async function guards(node: Node<import('../../src/index.js').PathsOf<typeof tree>>, client: ClusterClient) {
  const counter = node.ref('/app/counter');
  // @ts-expect-error unknown event type
  counter.tell({ type: 'nope' });
  // @ts-expect-error wrong payload field type
  counter.tell({ type: 'inc', by: 'x' });
  // @ts-expect-error missing required field
  counter.tell({ type: 'inc' });
  // @ts-expect-error a field the event does not have
  counter.tell({ type: 'inc', by: 1, extra: true });
  // @ts-expect-error asking an event that declares no reply
  void counter.ask({ type: 'inc', by: 1 });
  // @ts-expect-error the reply has no such field
  void counter.ask({ type: 'get' }).then((r) => r.total);
  // @ts-expect-error the reply's field is a number
  void counter.ask({ type: 'get' }).then((r): string => r.count);
  // @ts-expect-error an ask's missing field
  void counter.ask({ type: 'add', a: 1 });
  // @ts-expect-error a path the tree does not have
  node.ref('/app/countr');
  // @ts-expect-error a known path of another kind
  node.ref(Counter, '/app/pool/o');
  // @ts-expect-error an address of another kind
  node.ref(Counter, Other.at('/app/pool/o'));
  // @ts-expect-error from outside: wrong event for the kind
  client.ref(Counter, '/app/counter').tell({ type: 'ping' });
  // @ts-expect-error from outside: an address of another kind
  client.ref(Counter, Other.at('/x'));
  const o = node.ref('/app/pool/o');
  // @ts-expect-error the other kind's reply is { name }
  void o.ask({ type: 'name' }).then((r) => r.count);
  // @ts-expect-error an address is data: no tell on it
  Counter.at('/app/counter').tell({ type: 'reset' });
}

// Inside machines: typed tell, reply and ask actions.
export const inside = setup({
  types: {
    context: {} as { n: number; counter: Address<typeof Counter> },
    events: {} as { type: 'go' } | { type: 'got'; n: number } | Ask<{ type: 'n' }, { n: number }>,
  },
}).createMachine({
  context: { n: 0, counter: Counter.at('/app/counter') },
  on: {
    // @ts-expect-error inside a machine: wrong event for the target's kind
    go: { actions: tell(({ context }) => context.counter, { type: 'inc', by: 'two' }) },
    // @ts-expect-error reply to an event that is not an ask, in a machine that declares asks
    got: { actions: reply({ n: 1 }) },
    // @ts-expect-error the reply's shape is { n: number }
    n: { actions: reply(() => ({ n: 'one' })) },
  },
});

export const insideAsk = setup({
  types: { context: {} as { counter: Address<typeof Counter> }, events: {} as { type: 'go' } | { type: 'got'; n: number } },
}).createMachine({
  context: { counter: Counter.at('/app/counter') },
  on: {
    go: {
      // @ts-expect-error the mapped event must be one of this machine's events
      actions: ask(({ context }) => context.counter, { type: 'get' }, { reply: (r) => ({ type: 'gone', n: r.count }) }),
    },
    got: [
      // @ts-expect-error asking an event that is not an ask of the target's kind
      { actions: ask(({ context }) => context.counter, { type: 'inc', by: 1 }, { reply: (r) => ({ type: 'got', n: r.count }) }) },
      // @ts-expect-error an ask action's event with a field of the wrong type
      { actions: ask(({ context }) => context.counter, { type: 'add', a: 1, b: 'x' }, { reply: (r) => ({ type: 'got', n: r.sum }) }) },
      { actions: assign({}) },
    ],
  },
});

export function inRuntime(system: object) {
  // @ts-expect-error runtimeOf(system).ref: wrong event for the kind
  runtimeOf(system).ref(Counter, '/app/counter').tell({ type: 'inc', by: null });
}

// Schemas must describe the machine's events.
// @ts-expect-error a schema whose output is not the event's fields
kind('bad', Counter.machine, { schemas: { inc: z.object({ by: z.string() }) } });
// @ts-expect-error a schema for an event the machine does not take
kind('bad2', Counter.machine, { schemas: { nope: z.object({}) } });
