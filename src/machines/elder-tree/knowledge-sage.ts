/**
 * The knowledge sage: stores and answers knowledge entries. It is a persistent actor
 * (`persist` in the tree spec): its entries survive crashes, restarts of the process
 * (a file per actor on the embedded transport) and failovers (NATS KV).
 *
 * Messages (senders by role: claude elder and grand elder; sage.rag.sync from the rag sage):
 *   sage.knowledge.add    {id?, title, content, tags?}  -> {ok, entry}
 *   sage.knowledge.get    {id}                          -> {ok, entry}
 *   sage.knowledge.list   {tag?, limit?}                -> {ok, entries, total}
 *   sage.knowledge.update {id, title?, content?, tags?} -> {ok, entry} (version + 1)
 *   sage.knowledge.query  {text?, tag?, limit?}         -> {ok, entries}: every word of text, in any field
 *   sage.rag.sync                                       -> {ok, entries}: all of them, for the rag index
 *   council.vote          {proposal}                    -> a ballot from policy entries
 * It tells the rag sage `sage.knowledge.changed {entry}` after each add and update.
 *
 * Votes: an entry `policy.<kind>` (e.g. policy.scale_servants) whose content starts
 * with "approve" or "reject" decides the sage's ballot; without one it abstains.
 */
import { enqueueActions, setup } from 'xstate';
import { answer, currentEnvelope, deliver, describe, firstError, int, ok, refuse, strings, tellEffect, text, type Effect } from './messages.js';
import { ELDER_ADDRESSES } from './paths.js';
import { ballot, parseProposal } from './proposals.js';
import type { BallotAnswer, ElderAddress, KnowledgeEntry, KnowledgeSageEvent } from './protocol.js';
import { tokenize } from './bm25.js';

export type { KnowledgeEntry, KnowledgeSageEvent };

export interface KnowledgeSageInput {
  rag?: ElderAddress<'rag-sage'>;
  /** Entries a brand-new sage starts with (ignored when it resumes from a snapshot). */
  seed?: Omit<KnowledgeEntry, 'version' | 'createdAt' | 'updatedAt'>[];
  maxEntries?: number;
  /**
   * Characters of all titles and contents together (default 512k): the entries are one
   * snapshot, and on NATS a snapshot is one KV value (1 MiB by default), as is the
   * answer to sage.rag.sync.
   */
  maxChars?: number;
}

export interface KnowledgeContext {
  entries: Record<string, KnowledgeEntry>;
  nextId: number;
  rag: ElderAddress<'rag-sage'>;
  maxEntries: number;
  maxChars: number;
}

type In<T extends KnowledgeSageEvent['type']> = Extract<KnowledgeSageEvent, { type: T }>;

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** What list and query show of an entry: all of it but a long content's tail. */
function summary(e: KnowledgeEntry): KnowledgeEntry {
  return { ...e, content: e.content.length > 280 ? e.content.slice(0, 279) + '…' : e.content };
}

type Result = { context?: Partial<KnowledgeContext>; effects: Effect[] };

/** Characters held, with `replacing` swapped for `by`. */
function charsWith(c: KnowledgeContext, by: { title: string; content: string }, replacing?: KnowledgeEntry): number {
  let total = by.title.length + by.content.length;
  for (const e of Object.values(c.entries)) if (e !== replacing) total += e.title.length + e.content.length;
  return total;
}

function add(c: KnowledgeContext, p: In<'sage.knowledge.add'>, env: ReturnType<typeof currentEnvelope>, now: number): Result {
  const id = text(p.id, 'id', { max: 64 });
  const title = text(p.title, 'title', { required: true, max: 200 });
  const content = text(p.content, 'content', { required: true, max: 20_000 });
  const tags = strings(p.tags, 'tags');
  const error = firstError(id, title, content, tags);
  if (error || !id.ok || !title.ok || !content.ok || !tags.ok) return { effects: [answer(p, env, refuse(error!))] };
  if (id.value !== undefined && !ID.test(id.value)) return { effects: [answer(p, env, refuse(`id must match ${ID}; got ${JSON.stringify(id.value)}`))] };
  if (id.value !== undefined && c.entries[id.value]) return { effects: [answer(p, env, refuse(`an entry ${id.value} exists already; update it instead`))] };
  if (Object.keys(c.entries).length >= c.maxEntries) return { effects: [answer(p, env, refuse(`the knowledge sage holds at most ${c.maxEntries} entries`))] };
  if (charsWith(c, { title: title.value!, content: content.value! }) > c.maxChars) {
    return { effects: [answer(p, env, refuse(`the knowledge sage holds at most ${c.maxChars} characters of titles and contents`))] };
  }
  let nextId = c.nextId;
  let key = id.value;
  while (key === undefined || c.entries[key]) key = `k${nextId++}`;
  const entry: KnowledgeEntry = { id: key, title: title.value!, content: content.value!, tags: tags.value ?? [], version: 1, createdAt: now, updatedAt: now };
  return {
    context: { entries: { ...c.entries, [key]: entry }, nextId },
    effects: [answer(p, env, ok({ entry })), tellEffect(c.rag, { type: 'sage.knowledge.changed', entry })],
  };
}

function update(c: KnowledgeContext, p: In<'sage.knowledge.update'>, env: ReturnType<typeof currentEnvelope>, now: number): Result {
  const id = p.id as unknown;
  const old = typeof id === 'string' ? c.entries[id] : undefined;
  if (typeof id !== 'string') return { effects: [answer(p, env, refuse(`update needs id, an entry id; got ${describe(id)}`))] };
  if (!old) return { effects: [answer(p, env, refuse(`unknown entry id ${JSON.stringify(id)}`))] };
  const title = text(p.title, 'title', { max: 200 });
  const content = text(p.content, 'content', { max: 20_000 });
  const tags = strings(p.tags, 'tags');
  const error = firstError(title, content, tags);
  if (error || !title.ok || !content.ok || !tags.ok) return { effects: [answer(p, env, refuse(error!))] };
  if (title.value === undefined && content.value === undefined && tags.value === undefined) {
    return { effects: [answer(p, env, refuse('update needs at least one of title, content, tags'))] };
  }
  if (title.value === '' || content.value === '') return { effects: [answer(p, env, refuse('title and content must not be empty'))] };
  const entry: KnowledgeEntry = {
    ...old,
    ...(title.value !== undefined ? { title: title.value } : {}),
    ...(content.value !== undefined ? { content: content.value } : {}),
    ...(tags.value !== undefined ? { tags: tags.value } : {}),
    version: old.version + 1,
    updatedAt: now,
  };
  if (charsWith(c, entry, old) > c.maxChars) {
    return { effects: [answer(p, env, refuse(`the knowledge sage holds at most ${c.maxChars} characters of titles and contents`))] };
  }
  return {
    context: { entries: { ...c.entries, [entry.id]: entry } },
    effects: [answer(p, env, ok({ entry })), tellEffect(c.rag, { type: 'sage.knowledge.changed', entry })],
  };
}

function list(c: KnowledgeContext, p: In<'sage.knowledge.list'>, env: ReturnType<typeof currentEnvelope>): Result {
  const tag = text(p.tag, 'tag', { max: 64 });
  const limit = int(p.limit, 'limit', 1, 1000);
  if (!tag.ok || !limit.ok) return { effects: [answer(p, env, refuse(firstError(tag, limit)!))] };
  const all = Object.values(c.entries).filter((e) => tag.value === undefined || e.tags.includes(tag.value));
  all.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  return { effects: [answer(p, env, ok({ total: all.length, entries: all.slice(0, limit.value ?? 100).map(summary) }))] };
}

function query(c: KnowledgeContext, p: In<'sage.knowledge.query'>, env: ReturnType<typeof currentEnvelope>): Result {
  const q = text(p.text, 'text', { max: 2000 });
  const tag = text(p.tag, 'tag', { max: 64 });
  const limit = int(p.limit, 'limit', 1, 100);
  if (!q.ok || !tag.ok || !limit.ok) return { effects: [answer(p, env, refuse(firstError(q, tag, limit)!))] };
  if (!q.value && !tag.value) return { effects: [answer(p, env, refuse('query needs text or tag'))] };
  const words = tokenize(q.value ?? '');
  const hits = Object.values(c.entries).filter((e) => {
    if (tag.value !== undefined && !e.tags.includes(tag.value)) return false;
    const have = new Set(tokenize(`${e.title} ${e.content} ${e.tags.join(' ')}`));
    return words.every((w) => have.has(w));
  });
  return { effects: [answer(p, env, ok({ entries: hits.slice(0, limit.value ?? 10).map(summary) }))] };
}

function vote(c: KnowledgeContext, p: In<'council.vote'>): BallotAnswer {
  const parsed = parseProposal(p.proposal ?? {});
  if (!parsed.ok) return ballot('no', parsed.error);
  const policy = c.entries[`policy.${parsed.value.kind}`];
  if (!policy) return ballot('abstain', `no policy.${parsed.value.kind} entry`);
  const verdict = policy.content.trim().toLowerCase();
  if (verdict.startsWith('approve')) return ballot('yes', `policy.${parsed.value.kind}: ${policy.content}`);
  if (verdict.startsWith('reject')) return ballot('no', `policy.${parsed.value.kind}: ${policy.content}`);
  return ballot('abstain', `policy.${parsed.value.kind} says neither approve nor reject`);
}

export const knowledgeSageMachine = setup({
  types: {
    context: {} as KnowledgeContext,
    input: {} as KnowledgeSageInput | undefined,
    events: {} as KnowledgeSageEvent,
  },
  actions: {
    deliver,
    handle: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      const now = Date.now();
      let r: Result;
      switch (event.type) {
        case 'sage.knowledge.add':
          r = add(context, event, env, now);
          break;
        case 'sage.knowledge.update':
          r = update(context, event, env, now);
          break;
        case 'sage.knowledge.get': {
          // Local senders are not schema-checked: the id may be anything.
          const id = event.id as unknown;
          const entry = typeof id === 'string' ? context.entries[id] : undefined;
          const got =
            typeof id !== 'string' ? refuse(`get needs id, an entry id; got ${describe(id)}`) : entry ? ok({ entry }) : refuse(`unknown entry id ${JSON.stringify(id)}`);
          r = { effects: [answer(event, env, got)] };
          break;
        }
        case 'sage.knowledge.list':
          r = list(context, event, env);
          break;
        case 'sage.knowledge.query':
          r = query(context, event, env);
          break;
        case 'sage.rag.sync':
          r = { effects: [answer(event, env, ok({ entries: Object.values(context.entries) }))] };
          break;
        case 'council.vote':
          r = { effects: [answer(event, env, vote(context, event))] };
          break;
      }
      if (r.context) enqueue.assign(r.context);
      enqueue({ type: 'deliver', params: { effects: r.effects } });
    }),
  },
}).createMachine({
  id: 'knowledge-sage',
  context: ({ input }) => {
    const now = Date.now();
    const entries: Record<string, KnowledgeEntry> = {};
    for (const e of input?.seed ?? []) entries[e.id] = { ...e, version: 1, createdAt: now, updatedAt: now };
    return { entries, nextId: 1, rag: input?.rag ?? ELDER_ADDRESSES.rag, maxEntries: input?.maxEntries ?? 2_000, maxChars: input?.maxChars ?? 512_000 };
  },
  initial: 'answering',
  states: {
    answering: {
      on: {
        'sage.knowledge.add': { actions: 'handle' },
        'sage.knowledge.get': { actions: 'handle' },
        'sage.knowledge.list': { actions: 'handle' },
        'sage.knowledge.update': { actions: 'handle' },
        'sage.knowledge.query': { actions: 'handle' },
        'sage.rag.sync': { actions: 'handle' },
        'council.vote': { actions: 'handle' },
      },
    },
  },
});
