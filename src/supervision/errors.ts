import { EldertreeError } from '../actors/errors.js';

/**
 * Why a supervisor call was refused, as OTP's `{error, Code}`: stable strings callers
 * can switch on (the message is for people and may change).
 */
export type SupervisorErrorCode =
  | 'already_started' // start_child: a child with that id runs
  | 'already_present' // start_child: the id is kept (not running, or being restarted)
  | 'restarting' // restart_child / delete_child: its restart is being retried
  | 'running' // restart_child / delete_child: it runs; terminate it first
  | 'not_found' // no child with that id
  | 'simple_one_for_one' // not a call a dynamic supervisor takes (restart_child, delete_child...)
  | 'max_children' // a dynamic supervisor is at its maxChildren
  | 'bad_child_spec' // the spec (or the arguments) do not validate
  | 'not_running' // the supervisor is not running (starting, stopping, stopped, failed)
  | 'no_supervisor' // no supervisor at that path
  | 'failed_to_start'; // the child threw while starting (StartError)

/** A refused supervisor call; `code` says why. */
export class SupervisorError extends EldertreeError {
  override name = 'SupervisorError';
  constructor(
    readonly code: SupervisorErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A child failed to start (OTP: the supervisor fails to start, or start_child returns the error). */
export class StartError extends SupervisorError {
  override name = 'StartError';
  constructor(
    readonly path: string,
    override readonly cause: Error,
  ) {
    super('failed_to_start', `${path} failed to start: ${cause.message}`);
  }
}
