/**
 * The NATS subjects of DESIGN.md, in one place:
 *   elders.<cluster>.actor.<role>.<path>     an actor's mailbox (queue group: replicas balance);
 *                                            <role> is the sender's, so the broker can refuse a
 *                                            user that publishes another role's messages
 *   elders.<cluster>.sys.heartbeat.<node>    membership
 *   elders.<cluster>.sys.events.<node>       lifecycle events and dead letters
 *   elders.<cluster>.inbox.<role>.<node>.<t> a node's reply inbox: one unguessable token <t> per
 *                                            frame sent; <role> is the role of the node's NATS
 *                                            user, so the broker lets only that role read it
 *   elders.<cluster>.route.<role>.<path>     the same mail through any node, which relays it and
 *                                            turns an unknown path into a dead letter and an error
 *   elders.<cluster>.entity.<role>.<kind>.<d1>.<d2>.<d3>
 *                                            the entity `<kind>/<key>` (d1d2d3: the key's slot, the
 *                                            top 12 bits of its FNV-1a 32 hash); the owner of a shard
 *                                            subscribes to the slot prefix of the shard
 *   elders.<cluster>.node.<node>.ctl.<cmd>   node control
 * PROTOCOL.md is the full contract.
 */
export interface Subjects {
  readonly cluster: string;
  /** Where a sender of `role` publishes to the actor at `path`. */
  actor(path: string, role: string): string;
  /** What the actor's host subscribes to: any sender role. */
  actorInbox(path: string): string;
  /** Length of `elders.<cluster>.actor.`: the role token starts there. */
  readonly actorPrefixLength: number;
  /** Where a sender of `role` publishes to the entity with slot `slot` (3 hex digits). */
  entity(kind: string, slot: string, role: string): string;
  /** What the owner of a shard subscribes to (any sender role). */
  entityShard(kind: string, prefix: string): string;
  /** Length of `elders.<cluster>.entity.`: the role token starts there. */
  readonly entityPrefixLength: number;
  /** What every node (that may speak for any role) subscribes to, queue group `route`. */
  readonly routes: string;
  /** Length of `elders.<cluster>.route.`. */
  readonly routePrefixLength: number;
  /** Answers to a node's frames (ask replies, acks, no-responder statuses): append `.<token>`. */
  inbox(role: string, node: string): string;
  heartbeat(node: string): string;
  heartbeats(): string;
  events(node: string): string;
  allEvents(): string;
  control(node: string, command: string): string;
  /** Every node answers here (discovery, cluster-wide inspection). */
  broadcast(command: string): string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;
const PATH = /^(\/[A-Za-z0-9_-]+)+$/;

export function isActorPath(path: string): boolean {
  return PATH.test(path);
}

export function isSubjectToken(token: string): boolean {
  return TOKEN.test(token);
}

export function subjects(cluster = 'elders'): Subjects {
  if (!isSubjectToken(cluster)) throw new Error(`cluster name must be letters, digits, _ and -; got "${cluster}"`);
  const root = `elders.${cluster}`;
  return {
    cluster,
    actor: (path, role) => `${root}.actor.${role}${path.replaceAll('/', '.')}`,
    actorInbox: (path) => `${root}.actor.*${path.replaceAll('/', '.')}`,
    actorPrefixLength: `${root}.actor.`.length,
    entity: (kind, slot, role) => `${root}.entity.${role}.${kind}.${slot[0]}.${slot[1]}.${slot[2]}`,
    entityShard: (kind, prefix) => `${root}.entity.*.${kind}.${[...prefix, '*', '*', '*'].slice(0, 3).join('.')}`,
    entityPrefixLength: `${root}.entity.`.length,
    routes: `${root}.route.*.>`,
    routePrefixLength: `${root}.route.`.length,
    inbox: (role, node) => `${root}.inbox.${role}.${node}`,
    heartbeat: (node) => `${root}.sys.heartbeat.${node}`,
    heartbeats: () => `${root}.sys.heartbeat.*`,
    events: (node) => `${root}.sys.events.${node}`,
    allEvents: () => `${root}.sys.events.*`,
    control: (node, command) => `${root}.node.${node}.ctl.${command}`,
    broadcast: (command) => `${root}.sys.${command}`,
  };
}

/**
 * The inbox prefix of plain NATS requests (KV, inspection) for a connection of `role`:
 * `_INBOX` for operator (what every NATS client uses by default), `_INBOX_<role>` for the
 * others, so nats.conf can let each role read only its own request replies.
 */
export function requestInboxPrefix(role: string): string {
  return role === 'operator' ? '_INBOX' : `_INBOX_${role}`;
}
