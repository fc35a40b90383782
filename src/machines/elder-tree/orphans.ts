/**
 * XState v5 does not stop the invoked children of an actor that fails (its
 * `_stopProcedure` says so in a TODO): when an elder crashes, its clock would keep
 * ticking into the dead actor and its pending asks would settle into it. Until the
 * runtime stops them on a crash, the elders' own child logic checks its parent.
 */
import { fromPromise, type AnyActorRef } from 'xstate';
import type { ActorRuntime } from '../../actors/effects.js';
import { runtimeIfAny } from './messages.js';

/** The parent of a child actor is still running (an actor without one counts as running). */
export function parentAlive(self: AnyActorRef): boolean {
  const parent = self._parent;
  return parent === undefined || parent.getSnapshot().status === 'active';
}

/** `work`'s result, unless the parent died meanwhile: then it never settles (nobody is left to hear it). */
export function forLivingParent<T>(self: AnyActorRef, work: Promise<T>): Promise<T> {
  const never = new Promise<T>(() => undefined);
  return work.then(
    (value) => (parentAlive(self) ? value : never),
    (error: unknown) => (parentAlive(self) ? Promise.reject(error) : never),
  );
}

/**
 * `fromPromise` for work that talks to the node (asks, services): it gets the actor's
 * runtime, and its result is dropped if the elder that invoked it has died meanwhile.
 */
export function fromRuntime<TOutput, TInput>(
  what: string,
  run: (args: { input: TInput; runtime: ActorRuntime; signal: AbortSignal }) => Promise<TOutput>,
) {
  return fromPromise<TOutput, TInput>(({ input, system, signal, self }) => {
    const runtime = runtimeIfAny(system);
    if (!runtime) return Promise.reject(new Error(`${what} needs an eldertree node`));
    return forLivingParent(self, run({ input, runtime, signal }));
  });
}
