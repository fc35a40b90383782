/**
 * The bridge from a node's event stream to the elders: lifecycle events, node downs
 * and dead letters become messages to the incident sage (`sage.incident.observe`),
 * servants that crash or stop, and nodes that go down, are reported to the task sage
 * at once (`sage.task.servant_down`, `sage.task.node_down`: their tasks are re-queued
 * without waiting for a timeout), and mailbox sizes are sampled for the risk scores
 * (`sage.incident.metrics`).
 *
 * It sends from the node's own address (role operator). It never reports a dead
 * letter of its own messages (an incident sage that is down would otherwise feed on
 * itself), coalesces dead letters per reason and target over a window, and goes
 * quiet while the node stops.
 */
import type { DeadLetterEvent, LifecycleEvent, Subscription, SystemEvent } from '../../actors/events.js';
import type { MembershipEvent } from '../../cluster/membership.js';
import type { Node } from '../../supervision/node.js';
import { IncidentSage, TaskSage } from './kinds.js';
import { ELDER_ADDRESSES, ELDER_PATHS, servantSlot } from './paths.js';
import type { ElderAddress } from './protocol.js';
import type { NodeTreeControl } from './tree-control.js';

export interface BridgeOptions {
  incident?: ElderAddress<'incident-sage'>;
  taskSage?: ElderAddress<'task-sage'>;
  /** The servants' supervisor: lifecycle events of servant-N below it are servant downs. */
  servants?: string;
  /** Cluster membership (ClusterNode.membership): node_down / node_up become observations. */
  membership?: { onChange(listener: (event: MembershipEvent) => void): () => void };
  /** ms between mailbox samples; 0 disables (default 2000). */
  sampleMs?: number;
  /** ms over which dead letters are counted before one observation goes out (default 1000). */
  burstWindowMs?: number;
  /** The 'tree' service to bind to this node. */
  control?: NodeTreeControl;
}

export interface Bridge {
  detach(): void;
  /** What it forwarded, for tests and the log. */
  readonly counts: { lifecycle: number; servantDown: number; deadLetterBatches: number; ownDeadLetters: number; samples: number; membership: number };
}

const OWN_IDS_KEPT = 10_000;

export function attachElderTree(node: Node, options: BridgeOptions = {}): Bridge {
  // Typed references that send from the node's own address (role operator).
  const incident = node.ref(IncidentSage, options.incident ?? ELDER_ADDRESSES.incident);
  const taskSage = node.ref(TaskSage, options.taskSage ?? ELDER_ADDRESSES.task);
  const servants = options.servants ?? ELDER_PATHS.servants;
  const windowMs = options.burstWindowMs ?? 1000;
  const sampleMs = options.sampleMs ?? 2000;
  const counts = { lifecycle: 0, servantDown: 0, deadLetterBatches: 0, ownDeadLetters: 0, samples: 0, membership: 0 };
  const own = new Set<string>();
  let detached = false;
  options.control?.bind(node);

  const stopping = () => detached || node.root.state === 'stopping' || node.root.state === 'stopped';

  // A local refusal is published while tell() still runs, before its id is known:
  // whatever dead letter comes up during our own send is about our message.
  let sending = 0;
  const send = (tell: (options: { requiresAck: true } | undefined) => string, acked = false) => {
    sending++;
    try {
      const id = tell(acked ? { requiresAck: true } : undefined);
      own.add(id);
      if (own.size > OWN_IDS_KEPT) own.delete(own.values().next().value as string);
    } finally {
      sending--;
    }
  };

  const onLifecycle = (e: LifecycleEvent) => {
    counts.lifecycle++;
    send((o) =>
      incident.tell(
        {
          type: 'sage.incident.observe',
          kind: 'lifecycle',
          // Not `type`: an event's type field is the message type.
          event: e.type,
          path: e.path,
          node: e.node,
          incarnation: e.incarnation,
          ...(e.reason !== undefined ? { reason: e.reason } : {}),
          at: e.at,
        },
        o,
      ),
    );
    const isServant = e.path.startsWith(servants + '/') && servantSlot(e.path) !== undefined;
    if (isServant && (e.type === 'crashed' || e.type === 'stopped' || e.type === 'exited')) {
      counts.servantDown++;
      const reason = e.type === 'crashed' ? `crashed: ${e.reason ?? ''}` : e.type;
      send((o) => taskSage.tell({ type: 'sage.task.servant_down', node: e.node, path: e.path, incarnation: e.incarnation, reason }, o));
    }
  };

  // Dead letters, counted per reason and target until the window closes.
  const buckets = new Map<string, { reason: string; target: string; count: number; detail: string; first: number }>();
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = () => {
    flushTimer = undefined;
    if (stopping()) return buckets.clear();
    for (const b of buckets.values()) {
      counts.deadLetterBatches++;
      send((o) => incident.tell({ type: 'sage.incident.observe', kind: 'dead_letters', reason: b.reason, target: b.target, count: b.count, detail: b.detail, at: b.first }, o));
    }
    buckets.clear();
  };
  const onDeadLetter = (e: DeadLetterEvent) => {
    const env = e.envelope;
    if (sending > 0 || (env && own.has(env.message_id))) {
      counts.ownDeadLetters++;
      return;
    }
    const target = env?.target_elder ?? '(undecodable frame)';
    const key = `${e.reason}\u0000${target}`;
    const bucket = buckets.get(key);
    if (bucket) bucket.count++;
    else buckets.set(key, { reason: e.reason, target, count: 1, detail: e.detail.slice(0, 200), first: e.at });
    flushTimer ??= setTimeout(flush, windowMs);
  };

  const subscription: Subscription = node.subscribe((event: SystemEvent) => {
    if (stopping()) return;
    if (event.type === 'dead_letter') onDeadLetter(event);
    else onLifecycle(event);
  });

  // Acknowledged: when the lost node ran the sages, these wait in the outbox for their
  // standby to take over (a plain tell would bounce while nobody hosts them).
  const unwatch = options.membership?.onChange((e) => {
    if (stopping()) return;
    counts.membership++;
    send((o) => incident.tell({ type: 'sage.incident.observe', kind: e.type, node: e.node, reason: e.reason, at: e.at }, o), true);
    if (e.type === 'node_down') send((o) => taskSage.tell({ type: 'sage.task.node_down', node: e.node, reason: e.reason }, o), true);
  });

  // Mailbox sizes of the workers here; an actor is reported while its mailbox is not
  // empty, and once more when it empties (so its growth trend can fall again).
  const reported = new Set<string>();
  const sampler =
    sampleMs > 0
      ? setInterval(() => {
          if (stopping()) return;
          const samples: { path: string; mailbox: number }[] = [];
          for (const a of node.view().actors) {
            if (a.kind !== 'worker') continue;
            if (a.mailbox > 0) {
              samples.push({ path: a.path, mailbox: a.mailbox });
              reported.add(a.path);
            } else if (reported.delete(a.path)) {
              samples.push({ path: a.path, mailbox: 0 });
            }
          }
          if (samples.length === 0) return;
          counts.samples++;
          send((o) => incident.tell({ type: 'sage.incident.metrics', node: node.nodeId, at: Date.now(), samples }, o));
        }, sampleMs)
      : undefined;
  sampler?.unref?.();

  return {
    counts,
    detach() {
      detached = true;
      subscription.unsubscribe();
      unwatch?.();
      if (sampler) clearInterval(sampler);
      if (flushTimer) clearTimeout(flushTimer);
      buckets.clear();
    },
  };
}
