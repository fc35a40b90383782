import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { decodeMsg, encodeMsg } from '../cluster/events-wire.js';
import type { Logger } from '../log.js';
import type { Subjects } from '../transport/subjects.js';
import type { LocalSource } from './local-source.js';
import type { MessageRecord } from './protocol.js';
import { ActionError } from './source.js';

/**
 * The inspector's reach into a node over NATS, so one inspector anywhere shows every
 * node's statecharts, histories and messages and can act on them:
 *   elders.<cluster>.node.<node>.ctl.inspector  detail | send | restart | stop (one node)
 *   elders.<cluster>.sys.inspector              messages since a cursor (every node)
 * Tracing on the node runs only while some inspector pulled messages in the last
 * WATCH_LEASE_MS; the role check happens in the inspector that took the HTTP request
 * (NATS permissions decide who may publish on these subjects at all).
 */
export type AgentRequest =
  | { op: 'detail'; path: string }
  | { op: 'send'; path: string; type: string; payload: Record<string, unknown> }
  | { op: 'restart'; path: string }
  | { op: 'stop'; path: string }
  | { op: 'messages'; since: Record<string, number> };

export type AgentReply = { ok: true; result: unknown } | { ok: false; status: number; code: string; message: string };

export const WATCH_LEASE_MS = 3000;

export function agentSubject(subjects: Subjects, node: string): string {
  return subjects.control(node, 'inspector');
}

export function agentBroadcast(subjects: Subjects): string {
  return subjects.broadcast('inspector');
}

export class InspectorAgent {
  private readonly subs: Subscription[] = [];
  private unwatch: (() => void) | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    subjects: Subjects,
    private readonly local: LocalSource,
    private readonly logger?: Logger,
  ) {
    const serve = (subject: string) =>
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err || !msg.reply) return;
          void this.answer(decodeMsg<AgentRequest>(msg.data)).then((reply) => {
            // A reply too big for the broker still gets an answer, not a timeout.
            try {
              msg.respond(encodeMsg(reply));
            } catch (e) {
              msg.respond(encodeMsg({ ok: false, status: 500, code: 'reply_failed', message: (e as Error).message }));
            }
          });
        },
      });
    this.subs.push(serve(agentSubject(subjects, local.nodeId)), serve(agentBroadcast(subjects)));
  }

  /** Serves the inspector subjects for a node on NATS. */
  static attach(cluster: ClusterNode, local: LocalSource, logger?: Logger): InspectorAgent {
    return new InspectorAgent(cluster.transport.connection, cluster.transport.subjects, local, logger);
  }

  private async answer(request: AgentRequest | undefined): Promise<AgentReply> {
    try {
      if (!request || typeof request !== 'object') throw new ActionError(400, 'bad_request', 'inspector request did not decode');
      switch (request.op) {
        case 'messages':
          return { ok: true, result: this.messages(request.since) };
        case 'detail':
          return { ok: true, result: this.local.localDetail(String(request.path)) ?? null };
        case 'send':
          return { ok: true, result: await this.local.send(this.local.nodeId, String(request.path), String(request.type), request.payload ?? {}) };
        case 'restart':
          return { ok: true, result: await this.local.restart(this.local.nodeId, String(request.path)) };
        case 'stop':
          await this.local.stop(this.local.nodeId, String(request.path));
          return { ok: true, result: {} };
        default:
          throw new ActionError(400, 'bad_request', `unknown inspector op ${String((request as { op?: unknown }).op)}`);
      }
    } catch (err) {
      if (err instanceof ActionError) return { ok: false, status: err.status, code: err.code, message: err.message };
      this.logger?.warn({ err }, `inspector agent request failed: ${(err as Error).message}`);
      return { ok: false, status: 500, code: 'agent_failed', message: (err as Error).message };
    }
  }

  /** A pull is also a watch lease: tracing stays on while pulls keep coming. */
  private messages(since: Record<string, number> | undefined): MessageRecord[] {
    this.unwatch ??= this.local.watch();
    clearTimeout(this.leaseTimer);
    this.leaseTimer = setTimeout(() => {
      this.unwatch?.();
      this.unwatch = undefined;
    }, WATCH_LEASE_MS);
    this.leaseTimer.unref();
    const from = Number(since?.[this.local.nodeId] ?? 0);
    return this.local.messagesSince(Number.isFinite(from) ? from : 0).slice(-500);
  }

  close(): void {
    clearTimeout(this.leaseTimer);
    this.unwatch?.();
    this.unwatch = undefined;
    for (const sub of this.subs) {
      try {
        sub.unsubscribe();
      } catch {
        // The connection closed first.
      }
    }
  }
}
