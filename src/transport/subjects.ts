/**
 * The NATS subjects of DESIGN.md, in one place:
 *   elders.<cluster>.actor.<role>.<path>     an actor's mailbox (queue group: replicas balance);
 *                                            <role> is the sender's, so the broker can refuse a
 *                                            user that publishes another role's messages
 *   elders.<cluster>.sys.heartbeat.<node>    membership
 *   elders.<cluster>.sys.events.<node>       lifecycle events and dead letters
 *   elders.<cluster>.node.<node>.>           node control, and the node's one reply inbox
 */
export interface Subjects {
  readonly cluster: string;
  /** Where a sender of `role` publishes to the actor at `path`. */
  actor(path: string, role: string): string;
  /** What the actor's host subscribes to: any sender role. */
  actorInbox(path: string): string;
  /** Length of `elders.<cluster>.actor.`: the role token starts there. */
  readonly actorPrefixLength: number;
  /** Everything addressed to a node: ask replies, acks, no-responder statuses. */
  inbox(node: string): string;
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
    inbox: (node) => `${root}.node.${node}.r`,
    heartbeat: (node) => `${root}.sys.heartbeat.${node}`,
    heartbeats: () => `${root}.sys.heartbeat.*`,
    events: (node) => `${root}.sys.events.${node}`,
    allEvents: () => `${root}.sys.events.*`,
    control: (node, command) => `${root}.node.${node}.ctl.${command}`,
    broadcast: (command) => `${root}.sys.${command}`,
  };
}
