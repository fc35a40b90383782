import { toError } from '../actors/errors.js';
import type { ActorSystem } from '../actors/system.js';
import type { Child } from './child.js';

/** What starting a child gave: an error, OTP's `ignore` (it declined), or started (undefined). */
export type Launched = Error | 'ignore' | undefined;

/**
 * Starts a child. Plain workers start synchronously (no promise, no microtask per
 * child: a tree of 20k workers starts in one go); supervisors and persistent workers,
 * which must wait, return a promise.
 */
export function launch(child: Child, system: ActorSystem, intensity: { count: number }): Launched | Promise<Launched> {
  child.startedAt = performance.now();
  if (child.sup) {
    return child.sup.start().then(
      () => undefined,
      (err: unknown) => toError(err),
    );
  }
  if (child.cell.behavior.persist !== undefined) {
    return child.cell.restore().then((error) => started(child, system, intensity, error ?? child.cell.start()));
  }
  return started(child, system, intensity, child.cell.start());
}

function started(child: Child, system: ActorSystem, intensity: { count: number }, error: Error | undefined): Launched {
  const cell = child.cell;
  if (error) {
    system.lifecycle('crashed', cell, { reason: `failed to start: ${error.message}`, error });
    return error;
  }
  if (cell.actor?.getSnapshot().status === 'done') {
    // OTP's `ignore`: a machine final as soon as it starts declines to run. Its spec is
    // kept without an incarnation: taking the number back also makes the normal exit
    // the cell queued for it (a microtask, checked by incarnation) a no-op.
    cell.actor = undefined;
    cell.status = 'down';
    cell.incarnation--;
    system.logger.debug({ path: child.path }, `${child.path} ignored its start (final at start)`);
    return 'ignore';
  }
  const restarted = cell.incarnation > 1;
  system.lifecycle(restarted ? 'restarted' : 'started', cell, restarted ? { restarts: intensity.count } : {});
  return undefined;
}

/** Ends a child's incarnation; a child supervisor gets `shutdown` ms (or infinity) to stop its subtree. */
export async function stopChild(child: Child, flush: boolean): Promise<void> {
  if (!child.sup) return child.cell.stop(child.shutdown, flush);
  const stopping = child.sup.stop(flush);
  if (typeof child.shutdown === 'number') {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, child.shutdown as number)));
    await Promise.race([stopping, late]);
    clearTimeout(timer);
  }
  await stopping;
}
