/**
 * The rag sage: ranked retrieval (BM25) over the knowledge entries, kept in step with
 * the knowledge sage. At start it asks for every entry (`sage.rag.sync`, retried
 * until the knowledge sage answers); afterwards each add or update arrives as
 * `sage.knowledge.changed`. It answers searches while syncing, from what it has.
 *
 * Messages: sage.rag.search {query, k?} -> {ok, hits, synced} (claude elder, grand
 * elder); sage.rag.status; sage.knowledge.changed {entry} (knowledge sage);
 * council.vote {proposal}: the best hit that names the proposal's verb (scale,
 * quarantine, release) decides when it is tagged `approve` (yes) or `caution` /
 * `reject` (no); otherwise it abstains.
 */
import { assign, enqueueActions, setup } from 'xstate';
import * as bm25 from './bm25.js';
import { answer, askElder, currentEnvelope, deliver, int, ok, refuse, text, type Effect } from './messages.js';
import { fromRuntime } from './orphans.js';
import { ELDER_ADDRESSES } from './paths.js';
import { ballot, describeProposal, parseProposal } from './proposals.js';
import type { BallotAnswer, ElderAddress, RagSageEvent } from './protocol.js';

export type { RagSageEvent };

export interface RagSageInput {
  knowledge?: ElderAddress<'knowledge-sage'>;
  retryMs?: number;
  /** Lowest score a hit needs to sway a vote. */
  voteMinScore?: number;
}

export interface RagContext {
  index: bm25.Bm25Index;
  knowledge: ElderAddress<'knowledge-sage'>;
  retryMs: number;
  voteMinScore: number;
  synced: boolean;
  syncError: string | undefined;
}


/** An entry as it arrives (from sync or a change), or undefined when it is not one. */
export function asDoc(value: unknown): bm25.Bm25Doc | undefined {
  const e = value as Partial<bm25.Bm25Doc> | undefined;
  if (!e || typeof e !== 'object' || typeof e.id !== 'string' || typeof e.title !== 'string' || typeof e.content !== 'string') return undefined;
  const tags = Array.isArray(e.tags) ? e.tags.filter((t): t is string => typeof t === 'string') : [];
  return { id: e.id, title: e.title, content: e.content, tags, version: typeof e.version === 'number' ? e.version : 1 };
}

function vote(c: RagContext, p: Extract<RagSageEvent, { type: 'council.vote' }>): BallotAnswer {
  const parsed = parseProposal(p.proposal ?? {});
  if (!parsed.ok) return ballot('no', parsed.error);
  // The proposal's own verb must appear: a lesson about scaling says nothing about a release.
  const verb = parsed.value.kind === 'scale_servants' ? 'scale' : parsed.value.kind;
  const [best] = bm25.search(c.index, `council ${verb} ${describeProposal(parsed.value)}`, 1, verb);
  if (!best || best.score < c.voteMinScore) return ballot('abstain', 'no knowledge close enough to this proposal');
  if (best.tags.includes('approve')) return ballot('yes', `"${best.title}" (score ${best.score}) supports it`);
  if (best.tags.includes('caution') || best.tags.includes('reject')) return ballot('no', `"${best.title}" (score ${best.score}) advises against it`);
  return ballot('abstain', `closest knowledge "${best.title}" takes no side`);
}

export const ragSageMachine = setup({
  types: {
    context: {} as RagContext,
    input: {} as RagSageInput | undefined,
    events: {} as RagSageEvent,
  },
  actors: {
    sync: fromRuntime<{ entries?: unknown[] }, { knowledge: ElderAddress<'knowledge-sage'> }>('the rag sage', async ({ input, runtime }) => {
      const synced = await askElder(runtime, input.knowledge, { type: 'sage.rag.sync' }, { timeout: 5000 });
      if (!synced.ok) throw new Error(`the knowledge sage refused the sync: ${synced.error}`);
      return { entries: synced.entries };
    }),
  },
  delays: { retry: ({ context }) => context.retryMs },
  actions: {
    deliver,
    answer: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      let effect: Effect;
      if (event.type === 'sage.rag.search') {
        const query = text(event.query, 'query', { required: true, max: 2000 });
        const k = int(event.k, 'k', 1, 50);
        effect = answer(event, env, !query.ok ? refuse(query.error) : !k.ok ? refuse(k.error) : ok({ hits: bm25.search(context.index, query.value!, k.value ?? 5), synced: context.synced }));
      } else if (event.type === 'council.vote') {
        effect = answer(event, env, vote(context, event));
      } else if (event.type === 'sage.rag.status') {
        effect = answer(
          event,
          env,
          ok({
            synced: context.synced,
            docs: Object.keys(context.index.docs).length,
            terms: Object.keys(context.index.df).length,
            ...(context.syncError ? { syncError: context.syncError } : {}),
          }),
        );
      } else return;
      enqueue({ type: 'deliver', params: { effects: [effect] } });
    }),
    learn: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'sage.knowledge.changed') return;
      // Read as data: a local sender may have sent anything under this type.
      const doc = asDoc(event.entry as unknown);
      if (!doc) {
        enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), refuse('changed needs entry {id, title, content, tags?, version?}'))] } });
        return;
      }
      enqueue.assign({ index: bm25.upsert(context.index, doc) });
    }),
  },
}).createMachine({
  id: 'rag-sage',
  context: ({ input }) => ({
    index: bm25.emptyIndex(),
    knowledge: input?.knowledge ?? ELDER_ADDRESSES.knowledge,
    retryMs: input?.retryMs ?? 1000,
    voteMinScore: input?.voteMinScore ?? 0.5,
    synced: false,
    syncError: undefined,
  }),
  on: {
    'sage.rag.search': { actions: 'answer' },
    'sage.rag.status': { actions: 'answer' },
    'council.vote': { actions: 'answer' },
    'sage.knowledge.changed': { actions: 'learn' },
  },
  initial: 'syncing',
  states: {
    syncing: {
      invoke: {
        src: 'sync',
        input: ({ context }) => ({ knowledge: context.knowledge }),
        onDone: {
          target: 'ready',
          actions: assign(({ context, event }) => {
            let index = context.index;
            for (const e of event.output.entries ?? []) {
              const doc = asDoc(e);
              if (doc) index = bm25.upsert(index, doc);
            }
            return { index, synced: true, syncError: undefined };
          }),
        },
        onError: { target: 'waiting', actions: assign({ syncError: ({ event }) => (event.error as Error)?.message ?? 'sync failed' }) },
      },
    },
    waiting: { after: { retry: 'syncing' } },
    ready: {},
  },
});
