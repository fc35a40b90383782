/** The debug actions the page and API offer. */
export type InspectorAction = 'send' | 'restart' | 'stop';

export interface ActionTarget {
  node: string;
  path: string;
  /** send: the event type. */
  type?: string;
}

/**
 * Decides whether `role` (from the X-Eldertree-Role header or ?role=, undefined when
 * absent) may do `action` on `target`: true allows; false or a sentence refuses (the
 * sentence is what the caller reads). The role is asserted by the caller: put the
 * inspector behind something that sets the header when it is reachable by others.
 */
export type Authorize = (
  role: string | undefined,
  action: InspectorAction,
  target: ActionTarget,
) => boolean | string | Promise<boolean | string>;

export const ROLE_HEADER = 'x-eldertree-role';

/** Default: only `operator` may act; everyone may look. */
export const operatorOnly: Authorize = (role, action, target) =>
  role === 'operator' ||
  `role ${role === undefined ? '(none given)' : `"${role}"`} may not ${action} ${target.path}: only the operator role may act (send X-Eldertree-Role: operator)`;
