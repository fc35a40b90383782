import { fromCallback } from 'xstate';
import { parentAlive } from './orphans.js';

/**
 * A periodic `tick` for elders that watch deadlines or trends. Sent back to the
 * elder directly (not through its mailbox). `every <= 0` disables it: unit tests send
 * `tick` events with an explicit `now` instead. XState restarts invoked callbacks when
 * an actor resumes from a persisted snapshot, so the boot tick also marks a restore.
 */
export const clock = fromCallback<{ type: 'tick'; boot?: boolean }, { every: number; boot?: boolean }>(({ sendBack, input, self }) => {
  if (!(input.every > 0)) return () => undefined;
  // With `boot`, one tick right away that says so: the elder (re)started, fresh or from a snapshot.
  if (input.boot) setTimeout(() => parentAlive(self) && sendBack({ type: 'tick', boot: true }), 0);
  const timer = setInterval(() => {
    if (parentAlive(self)) sendBack({ type: 'tick' });
    else clearInterval(timer); // the elder crashed: this clock is an orphan
  }, input.every);
  timer.unref?.();
  return () => clearInterval(timer);
});

/** `now` of a tick event when a test gives one, else the wall clock. */
export function nowOf(event: { now?: unknown }): number {
  return typeof event.now === 'number' && Number.isFinite(event.now) ? event.now : Date.now();
}
