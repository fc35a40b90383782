import type { DeadLetterReason } from './events.js';

/** Base class so callers can tell runtime errors from their own. */
export class EldertreeError extends Error {
  override name = 'EldertreeError';
}

/** An ask got no reply in time. */
export class AskTimeoutError extends EldertreeError {
  override name = 'AskTimeoutError';
  constructor(
    readonly target: string,
    readonly messageType: string,
    readonly timeoutMs: number,
  ) {
    super(`ask ${messageType} to ${target} timed out after ${timeoutMs} ms`);
  }
}

/** An ask was refused: unknown target, stopped actor, forbidden, malformed, crashed... */
export class AskRejectedError extends EldertreeError {
  override name = 'AskRejectedError';
  constructor(
    readonly reason: DeadLetterReason | string,
    message: string,
  ) {
    super(message);
  }
}

export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));
}
