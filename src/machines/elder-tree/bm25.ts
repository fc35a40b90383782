/**
 * Okapi BM25 over word tokens, computed locally: no model, no download. The index is
 * plain data (maps of counts), so it can live in an XState context and be rebuilt or
 * updated one document at a time.
 */

const STOPWORDS = new Set(
  'a an and are as at be by for from has have in is it its of on or that the this to was were will with into than then there these those can should would could do does not no'.split(
    ' ',
  ),
);

/** Lower-case word tokens without stopwords, with a light plural strip ("hashes" ~ "hash"). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.toLowerCase().normalize('NFKD').split(/[^\p{L}\p{N}]+/u)) {
    if (raw.length < 2 || STOPWORDS.has(raw)) continue;
    out.push(stem(raw));
  }
  return out;
}

function stem(word: string): string {
  if (word.length > 4 && word.endsWith('es') && /(sh|ch|x|ss)es$/.test(word)) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

export interface IndexedDoc {
  terms: Record<string, number>;
  length: number;
  title: string;
  tags: string[];
  version: number;
  snippet: string;
}

export interface Bm25Index {
  docs: Record<string, IndexedDoc>;
  /** Documents containing each term. */
  df: Record<string, number>;
  totalLength: number;
}

export interface Bm25Doc {
  id: string;
  title: string;
  content: string;
  tags: string[];
  version: number;
}

export interface Hit {
  id: string;
  title: string;
  tags: string[];
  score: number;
  snippet: string;
}

export const emptyIndex = (): Bm25Index => ({ docs: {}, df: {}, totalLength: 0 });

const K1 = 1.2;
const B = 0.75;

function termsOf(doc: Bm25Doc): string[] {
  // Title and tags say what a document is about: they count twice.
  const head = `${doc.title} ${doc.tags.join(' ')}`;
  return [...tokenize(head), ...tokenize(head), ...tokenize(doc.content)];
}

/** The index without `id`. */
export function remove(index: Bm25Index, id: string): Bm25Index {
  const old = index.docs[id];
  if (!old) return index;
  const df = { ...index.df };
  for (const term of Object.keys(old.terms)) {
    const n = (df[term] ?? 1) - 1;
    if (n <= 0) delete df[term];
    else df[term] = n;
  }
  const docs = { ...index.docs };
  delete docs[id];
  return { docs, df, totalLength: index.totalLength - old.length };
}

/** The index with `doc` added or replaced; an older version than the indexed one is ignored. */
export function upsert(index: Bm25Index, doc: Bm25Doc): Bm25Index {
  const old = index.docs[doc.id];
  if (old && old.version > doc.version) return index;
  const base = remove(index, doc.id);
  const terms: Record<string, number> = {};
  const tokens = termsOf(doc);
  for (const t of tokens) terms[t] = (terms[t] ?? 0) + 1;
  const df = { ...base.df };
  for (const t of Object.keys(terms)) df[t] = (df[t] ?? 0) + 1;
  const indexed: IndexedDoc = {
    terms,
    length: tokens.length,
    title: doc.title,
    tags: doc.tags,
    version: doc.version,
    snippet: doc.content.length > 160 ? doc.content.slice(0, 159) + '…' : doc.content,
  };
  return { docs: { ...base.docs, [doc.id]: indexed }, df, totalLength: base.totalLength + tokens.length };
}

/**
 * The best `k` documents for `query`, best first; documents sharing no term are left
 * out, and with `require`, so are documents without that word.
 */
export function search(index: Bm25Index, query: string, k = 5, require?: string): Hit[] {
  const ids = Object.keys(index.docs);
  const n = ids.length;
  if (n === 0) return [];
  const avg = index.totalLength / n || 1;
  const terms = [...new Set(tokenize(query))];
  const required = require === undefined ? undefined : tokenize(require)[0];
  const hits: Hit[] = [];
  for (const id of ids) {
    const doc = index.docs[id]!;
    if (required !== undefined && !doc.terms[required]) continue;
    let score = 0;
    for (const t of terms) {
      const tf = doc.terms[t];
      if (!tf) continue;
      const df = index.df[t] ?? 0;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      score += (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * doc.length) / avg));
    }
    if (score > 0) hits.push({ id, title: doc.title, tags: doc.tags, score: Math.round(score * 1000) / 1000, snippet: doc.snippet });
  }
  hits.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
  return hits.slice(0, k);
}
