import { assign, setup } from 'xstate';
import { kind, Node, reply, supervisor, worker, type Ask } from 'eldertree';

const counter = setup({
  types: {
    context: {} as { count: number },
    events: {} as { type: 'inc'; by: number } | { type: 'crash' } | Ask<{ type: 'get' }, { count: number }>,
  },
}).createMachine({
  context: { count: 0 },
  on: {
    inc: { actions: assign({ count: ({ context, event }) => context.count + event.by }) },
    get: { actions: reply(({ context }) => ({ count: context.count })) }, // must answer { count: number }
    crash: { actions: () => { throw new Error('boom'); } },
  },
});
export const Counter = kind('counter', counter);

const node = await Node.start({
  tree: supervisor('app', { strategy: 'one_for_one', intensity: 3, period: 5000 }, [
    worker('counter', Counter, { restart: 'permanent', shutdown: 2000 }),
    supervisor('pool', { strategy: 'one_for_all' }, [worker('a', Counter), worker('b', Counter)]),
  ]),
});
node.subscribe((e) => console.log(e.type, 'path' in e ? e.path : e.reason));
const c = node.ref('/app/counter');    // typed from the tree: a path typo does not compile
c.tell({ type: 'inc', by: 2 });        // { type: 'inc', by: 'x' } or { type: 'nope' } do not compile
c.tell({ type: 'crash' });             // dead letter 'crashed', restarted as incarnation 2
console.log(await c.ask({ type: 'get' }, { timeout: 1000 })); // { count: 0 }, typed { count: number }
await node.stop();
