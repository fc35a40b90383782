/**
 * `inspect` at scale. A node's answer grows with its actors (~100 bytes each), past
 * NATS's max_payload (1 MB by default) at ~10k actors: it goes out in chunks under
 * the limit, each naming its place (`chunk: [index, count]`); an answer that fits is
 * one message as before. The collector waits until every node known to be up (from
 * the members lists in the answers) has answered in full, or until its timeout, and
 * then names the nodes that did not.
 */
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import type { NodeView } from '../supervision/node.js';
import { decodeMsg, encodeMsg } from './events-wire.js';
import type { Member } from './membership.js';

/** What a node answers on `inspect`: its members' view and its actors. */
export interface InspectReply extends NodeView {
  members: Member[];
  startedAt: number;
  /** Problems an operator should know of (e.g. a KV bucket with fewer replicas than asked). */
  warnings?: string[];
}

type Chunk = Partial<InspectReply> & { node: string; actors: InspectReply['actors']; chunk?: [number, number] };

/** Room left under max_payload for the subject, reply and headers of a message. */
const HEADROOM = 16 * 1024;

/** The messages of one answer, each under `maxPayload` bytes. */
export function encodeInspectReply(reply: InspectReply, maxPayload: number): Uint8Array[] {
  const whole = encodeMsg(reply);
  const limit = Math.max(1024, maxPayload - HEADROOM);
  if (whole.byteLength <= limit) return [whole];
  const { actors, ...header } = reply;
  // Slices by an even estimate of bytes per actor, halved again where one is still too big.
  const perChunk = Math.max(1, Math.floor((actors.length * limit * 0.8) / whole.byteLength));
  const slices: InspectReply['actors'][] = [];
  const cut = (list: InspectReply['actors']) => {
    if (list.length > 1 && encodeMsg({ node: reply.node, actors: list }).byteLength > limit) {
      const half = list.length >> 1;
      cut(list.slice(0, half));
      cut(list.slice(half));
    } else slices.push(list);
  };
  for (let i = 0; i < actors.length; i += perChunk) cut(actors.slice(i, i + perChunk));
  return slices.map((slice, i) =>
    encodeMsg(i === 0 ? { ...header, actors: slice, chunk: [0, slices.length] } : { node: reply.node, actors: slice, chunk: [i, slices.length] }),
  );
}

export interface InspectResult {
  /** Complete answers, sorted by node. */
  replies: InspectReply[];
  /** Nodes known to be up that had not answered in full when the timeout came. */
  missing: string[];
}

/**
 * Asks every node on `subject` and collects their answers: done as soon as every node
 * known up has answered in full, else at `timeoutMs`. Nobody listening is an answer
 * too (none), at once.
 */
export async function collectInspect(nc: NatsConnection, subject: string, timeoutMs: number): Promise<InspectResult> {
  const answers = new Map<string, { header?: Chunk; parts: Map<number, InspectReply['actors']>; count: number }>();
  const complete = new Set<string>();
  // The connection's own inbox prefix: under the generated nats.conf a role other than
  // operator may subscribe only to _INBOX_<role>.> (the default _INBOX would be refused).
  const inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const knownUp = () => {
    const up = new Set<string>(answers.keys());
    for (const a of answers.values()) for (const m of a.header?.members ?? []) if (m.status === 'up') up.add(m.node);
    return up;
  };
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err) return;
      if (msg.headers?.code === 503) return finish(); // no node listens
      const value = decodeMsg<Chunk>(msg.data);
      if (!value || typeof value.node !== 'string' || !Array.isArray(value.actors)) return;
      const [index, count] = Array.isArray(value.chunk) ? value.chunk : [0, 1];
      let answer = answers.get(value.node);
      if (!answer || (index === 0 && complete.has(value.node))) {
        answers.set(value.node, (answer = { parts: new Map(), count }));
        complete.delete(value.node);
      }
      if (index === 0) answer.header = value;
      answer.parts.set(index, value.actors);
      if (answer.header && answer.parts.size === answer.count) complete.add(value.node);
      if ([...knownUp()].every((n) => complete.has(n))) finish();
    },
  });
  const timer = setTimeout(finish, timeoutMs);
  try {
    nc.publish(subject, encodeMsg({}), { reply: inbox });
    await done;
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  const replies: InspectReply[] = [];
  for (const [node, a] of answers) {
    if (!complete.has(node)) continue;
    const { chunk: _chunk, ...header } = a.header!;
    const actors = [...a.parts.entries()].sort(([x], [y]) => x - y).flatMap(([, part]) => part);
    replies.push({ ...(header as InspectReply), actors });
  }
  const missing = [...knownUp()].filter((n) => !complete.has(n)).sort();
  return { replies: replies.sort((a, b) => a.node.localeCompare(b.node)), missing };
}
