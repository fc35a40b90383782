/**
 * The herald: on a cluster, the agent of /grand-elder that hands every order on to
 * the grand elder wherever its singleton runs (the forward keeps the sender and the
 * reply address, so the grand elder answers the asker).
 *
 * Why not make the commander the agent directly, as on one node: placement replaces a
 * singleton child by its guard in the parent's spec, and validateTree then refuses an
 * agent that is not among the children. Until placement keeps agents of placed
 * children, the herald (which runs on every node) stands in.
 */
import { enqueueActions, setup } from 'xstate';
import { currentEnvelope, deliver, forwardEffect } from './messages.js';
import { ELDER_ADDRESSES } from './paths.js';
import type { CommanderEvent, ElderAddress } from './protocol.js';

export const heraldMachine = setup({
  types: {
    context: {} as { to: ElderAddress<'commander'> },
    input: {} as { to?: ElderAddress<'commander'> } | undefined,
    // It takes what the grand elder takes: everything is handed on to it.
    events: {} as CommanderEvent,
  },
  actions: {
    deliver,
    forward: enqueueActions(({ context, system, enqueue }) => {
      enqueue({ type: 'deliver', params: { effects: [forwardEffect(currentEnvelope(system), context.to)] } });
    }),
  },
}).createMachine({
  id: 'herald',
  context: ({ input }) => ({ to: input?.to ?? ELDER_ADDRESSES.commander }),
  on: { '*': { actions: 'forward' } },
});
