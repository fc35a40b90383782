/**
 * The tree file of the cluster-failover case's `node dist/runtime.js` processes: one
 * singleton that says which node runs it.
 */
import { reply, runtimeOf, supervisor, worker } from 'eldertree';
import { setup } from 'xstate';

const whoami = setup({}).createMachine({
  on: { whoami: { actions: reply(({ system }) => ({ node: runtimeOf(system).nodeId })) } },
});

export default supervisor('bench', {}, [worker('singleton', whoami, { placement: { singleton: true } })]);
