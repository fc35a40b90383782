import { createHash } from 'node:crypto';
import { assign, setup } from 'xstate';
import { reply } from '../actors/effects.js';

/** Hashes payloads on request (`hash.sha256` {data}) and replies with the hex digest. */
export const hasherMachine = setup({
  types: {
    context: {} as { hashed: number },
    events: {} as { type: 'hash.sha256'; data: string } | { type: 'stats' },
  },
}).createMachine({
  id: 'hasher',
  context: { hashed: 0 },
  initial: 'ready',
  states: {
    ready: {
      on: {
        'hash.sha256': {
          actions: [
            assign({ hashed: ({ context }) => context.hashed + 1 }),
            reply(({ event }) => ({ digest: createHash('sha256').update(String(event.data)).digest('hex') })),
          ],
        },
        stats: { actions: reply(({ context }) => ({ hashed: context.hashed })) },
      },
    },
  },
});
