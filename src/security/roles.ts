/**
 * Roles of the Elder Tree (DESIGN.md "Security", the seed's ProcessPermissions): what
 * message types each role may SEND. The runtime calls `authorize(envelope)` before
 * every delivery to an actor; a refusal is a dead letter `forbidden` with an audit
 * log line, and an ask is rejected with it.
 *
 * Patterns: `*` is every type; `a.b.*` is every type under `a.b.` (any depth); anything
 * else is one exact type. (NATS subject permissions spell the any-depth wildcard `>`:
 * see toNatsSubjectPattern.)
 *
 * This is the lowest layer: it knows the Elder Tree's path layout as plain strings and
 * imports nothing from the machines.
 */
import type { Envelope } from '../actors/envelope.js';
import { isNodeAddress } from '../actors/envelope.js';

export type RoleName = 'grand_elder' | 'claude_elder' | 'sage' | 'servant' | 'council' | 'demo' | 'operator';

export interface Role {
  name: RoleName;
  /** The sage's domain (`knowledge`, `task`, ...): its patterns say `{domain}`. */
  domain?: string;
}

/**
 * What each role may send. grand_elder, claude_elder, sage and servant are the seed's;
 * the rest are this application's additions:
 * - council: asks the sages for votes, the grand elder for a tie-break, and the
 *   servant pool to carry a decision out, all under `council.*`;
 * - demo: the built-in load generator submits and follows tasks and proposes scaling;
 * - operator: senders outside the tree (node addresses `@...`: the `eldertree` CLI,
 *   the node's own event bridge). They have the grand elder's rights for now; a later
 *   issue binds roles to NATS users, after which the broker refuses what a user's
 *   role may not publish before a node ever sees it.
 */
export const ROLE_PERMISSIONS: Readonly<Record<RoleName, readonly string[]>> = {
  grand_elder: ['*'],
  claude_elder: ['development.*', 'sage.*', 'report.*'],
  sage: ['sage.{domain}.*', 'report.to_elder'],
  servant: ['task.execute', 'report.to_sage'],
  council: ['council.*'],
  demo: ['development.task.submit', 'development.task.status', 'council.propose'],
  operator: ['*'],
};

/** Which path has which role: the Elder Tree's layout. First match wins. */
export interface RoleBinding {
  /** An exact path, or a prefix ending in `/**` (the path itself and everything below). */
  path: string;
  role: RoleName;
}

export const ELDER_TREE_BINDINGS: readonly RoleBinding[] = [
  { path: '/grand-elder', role: 'grand_elder' },
  { path: '/grand-elder/commander', role: 'grand_elder' },
  { path: '/grand-elder/herald', role: 'grand_elder' },
  { path: '/grand-elder/claude-elder', role: 'claude_elder' },
  { path: '/grand-elder/claude-elder/elder', role: 'claude_elder' },
  { path: '/grand-elder/elder-council', role: 'council' },
  { path: '/grand-elder/servants/**', role: 'servant' },
  { path: '/grand-elder/demo', role: 'demo' },
];

/** A child `<domain>-sage` of the claude elder is a sage of that domain. */
const SAGE_PATH = /^\/grand-elder\/claude-elder\/([a-z0-9]+)-sage$/;

/** The role of a sender path; undefined when the path has none. */
export function roleOf(path: string, bindings: readonly RoleBinding[] = ELDER_TREE_BINDINGS): Role | undefined {
  if (isNodeAddress(path)) return { name: 'operator' };
  const sage = SAGE_PATH.exec(path);
  if (sage) return { name: 'sage', domain: sage[1]! };
  for (const binding of bindings) {
    if (binding.path.endsWith('/**')) {
      const prefix = binding.path.slice(0, -3);
      if (path === prefix || path.startsWith(prefix + '/')) return { name: binding.role };
    } else if (path === binding.path) {
      return { name: binding.role };
    }
  }
  return undefined;
}

/** The patterns a role may send, with `{domain}` filled in. */
export function permissionsOf(role: Role): string[] {
  return ROLE_PERMISSIONS[role.name].map((p) => (role.domain === undefined ? p : p.replaceAll('{domain}', role.domain)));
}

/** Does `pattern` allow the message type `type`? */
export function matchesPattern(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1)) && type.length > pattern.length - 1;
  return pattern === type;
}

export function mayRoleSend(role: Role, type: string): boolean {
  // A pattern still holding `{domain}` (a sage without one) matches nothing.
  return permissionsOf(role).some((p) => !p.includes('{domain}') && matchesPattern(p, type));
}

/** `a.b.*` -> `a.b.>` for NATS publish permissions. */
export function toNatsSubjectPattern(pattern: string): string {
  if (pattern === '*') return '>';
  return pattern.endsWith('.*') ? pattern.slice(0, -1) + '>' : pattern;
}

/** The sage domains of the Elder Tree (children `<domain>-sage` of the claude elder). */
export const SAGE_DOMAINS = ['knowledge', 'task', 'incident', 'rag'] as const;

/**
 * A role as a NATS subject token (elders.<c>.actor.<token>.<path>): `sage-knowledge`
 * for a sage, the role's name otherwise. Each token is a NATS user in nats.conf.
 */
export function roleToken(role: Role): string {
  return role.domain === undefined ? role.name : `${role.name}-${role.domain}`;
}

/** The role a subject token stands for; undefined for a token no role has. */
export function parseRoleToken(token: string): Role | undefined {
  const dash = token.indexOf('-');
  const name = (dash < 0 ? token : token.slice(0, dash)) as RoleName;
  if (!(name in ROLE_PERMISSIONS)) return undefined;
  if (dash < 0) return name === 'sage' ? undefined : { name };
  return name === 'sage' ? { name, domain: token.slice(dash + 1) } : undefined;
}

/** Every role token of the Elder Tree: one NATS user each. */
export function allRoleTokens(): string[] {
  return (Object.keys(ROLE_PERMISSIONS) as RoleName[]).flatMap((name) =>
    name === 'sage' ? SAGE_DOMAINS.map((domain) => roleToken({ name, domain })) : [name],
  );
}

export interface AuthorizerOptions {
  bindings?: readonly RoleBinding[];
}

/**
 * The check a node runs before each delivery (Node.start({ authorize })): undefined
 * lets the message in, a string is the refusal. Replies never come here: they go to
 * node addresses, which the runtime does not check.
 */
export function createAuthorizer(options: AuthorizerOptions = {}): (envelope: Envelope, verified?: string) => string | undefined {
  const bindings = options.bindings ?? ELDER_TREE_BINDINGS;
  return (envelope, verified) => {
    const sender = envelope.source_elder;
    // From the wire, the role is the subject token the broker let this publisher use:
    // whatever the envelope claims as its sender grants nothing.
    if (verified !== undefined) {
      const role = parseRoleToken(verified);
      if (role === undefined) return `role token ${verified} is no role of the Elder Tree`;
      if (mayRoleSend(role, envelope.message_type)) return undefined;
      return `role ${verified} (verified by the broker; the envelope says ${sender}) may not send ${envelope.message_type}`;
    }
    const role = roleOf(sender, bindings);
    if (role === undefined) return `${sender} has no role in the Elder Tree, so it may not send ${envelope.message_type}`;
    if (mayRoleSend(role, envelope.message_type)) return undefined;
    const name = role.domain === undefined ? role.name : `${role.name} (${role.domain})`;
    return `role ${name} of ${sender} may not send ${envelope.message_type} (allowed: ${permissionsOf(role).join(', ')})`;
  };
}
