import { createActor, type AnyStateMachine } from 'xstate';
import { startElderTree, type DeadLetterEvent, type LifecycleEvent, type StartElderTreeOptions, type SystemEvent } from '../src/internals.js';
import type { Effect } from '../src/machines/elder-tree/messages.js';

/**
 * Runs an elder's machine bare, as XState tests do: no node, its `deliver` action
 * replaced by a recorder, so every message it would send is an effect to look at.
 */
export function bare<M extends AnyStateMachine>(machine: M, input?: unknown, provide: Parameters<M['provide']>[0] = {}) {
  const effects: Effect[] = [];
  const provided = machine.provide({
    ...provide,
    actions: { ...(provide as { actions?: object }).actions, deliver: (_: unknown, params: { effects: Effect[] }) => void effects.push(...params.effects) },
  } as never);
  const actor = createActor(provided as AnyStateMachine, input === undefined ? {} : { input });
  actor.start();
  return {
    actor,
    effects,
    send(type: string, payload: Record<string, unknown> = {}) {
      actor.send({ ...payload, type });
    },
    /** Reply payloads, oldest first (clears them when `take`). */
    replies(take = true) {
      const out = effects.filter((e): e is Extract<Effect, { kind: 'reply' }> => e.kind === 'reply').map((e) => e.payload);
      if (take) effects.splice(0, effects.length, ...effects.filter((e) => e.kind !== 'reply'));
      return out;
    },
    tells(type?: string) {
      return effects.filter((e): e is Extract<Effect, { kind: 'tell' }> => e.kind === 'tell' && (type === undefined || e.type === type));
    },
    lastReply() {
      const r = effects.filter((e): e is Extract<Effect, { kind: 'reply' }> => e.kind === 'reply');
      return r[r.length - 1]?.payload;
    },
    get context() {
      return actor.getSnapshot().context;
    },
    get value() {
      return actor.getSnapshot().value;
    },
  };
}

/** The Elder Tree on one node, with its events recorded from the start. */
export async function startTree(options: StartElderTreeOptions = {}) {
  const events: SystemEvent[] = [];
  const tree = await startElderTree({
    ...options,
    node: { ...options.node, onEvent: (e) => events.push(e) },
    bridge: { sampleMs: 0, ...options.bridge },
  });
  return {
    ...tree,
    events,
    deadLetters: () => events.filter((e): e is DeadLetterEvent => e.type === 'dead_letter'),
    lifecycle: (type?: string) => events.filter((e): e is LifecycleEvent => e.type !== 'dead_letter' && (type === undefined || e.type === type)),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` (sync or async) until it holds; throws with `what` after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** A seeded PRNG (mulberry32): random but the same in every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
