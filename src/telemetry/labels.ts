import type { ActorCell } from '../actors/cell.js';
import { isEntityTarget } from '../actors/entity-address.js';

/**
 * The bounded label of an actor: its supervisor's path. An entity cell
 * (`/app/carts/<key>`) is labelled by its region (`/app/carts`), so a label never
 * names a key, a message id or one entity.
 */
export function supervisorOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Entities are cells their region reroutes; the rest keep their own path as template. */
export function isEntityCell(cell: ActorCell): boolean {
  return cell.reroute !== undefined;
}

/**
 * The destination template of a target: an entity address `kind/key` is its kind; an
 * actor path is itself (a tree you wrote has a bounded number of them).
 */
export function destinationTemplate(target: string): string {
  return isEntityTarget(target) ? target.slice(0, target.indexOf('/')) : target;
}
