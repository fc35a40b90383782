/** The debug actions the page and API offer. */
export type InspectorAction = 'send' | 'restart' | 'stop';

export interface ActionTarget {
  node: string;
  path: string;
  /** send: the event type. */
  type?: string;
}

/**
 * Decides whether `role` may do `action` on `target`: true allows; false or a sentence
 * refuses (the sentence is what the caller reads). The role is the one the inspector's
 * token configuration gives the caller's bearer token; never something the caller asserts.
 */
export type Authorize = (
  role: string,
  action: InspectorAction,
  target: ActionTarget,
) => boolean | string | Promise<boolean | string>;

/** Default: only `operator` may act; everyone may look. */
export const operatorOnly: Authorize = (role, action, target) =>
  role === 'operator' || `role "${role}" may not ${action} ${target.path}: only the operator role may act`;
