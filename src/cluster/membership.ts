import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import type { Subjects } from '../transport/subjects.js';

export interface MembershipOptions {
  /** ms between heartbeats; default 150. */
  intervalMs?: number;
  /** ms of silence after which a node is declared down; default 750 (detection <= 1 s). */
  downAfterMs?: number;
}

export interface Member {
  node: string;
  status: 'up' | 'down';
  /** Wall-clock ms of the last heartbeat heard (or sent, for this node). */
  lastSeen: number;
  startedAt: number;
}

export type MembershipEvent = { type: 'node_up' | 'node_down'; node: string; reason: string; at: number };

interface Heartbeat {
  node: string;
  seq: number;
  startedAt: number;
  leaving?: boolean;
}

const packr = new Packr({ useRecords: false });

/**
 * Heartbeats on elders.<cluster>.sys.heartbeat.<node>: every node publishes its own on
 * a timer and declares a peer down when it has been silent past `downAfterMs`. Timers
 * keep firing under load because the dispatcher hands the event loop back every few ms;
 * silence is measured on the monotonic clock, so wall-clock jumps cause no false downs.
 */
export class Membership {
  readonly intervalMs: number;
  readonly downAfterMs: number;
  private readonly peers = new Map<string, { member: Member; heardAt: number }>();
  private readonly startedAt = Date.now();
  private seq = 0;
  private sub: Subscription | undefined;
  private beat: NodeJS.Timeout | undefined;
  private check: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(event: MembershipEvent) => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    readonly self: string,
    options: MembershipOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 150;
    this.downAfterMs = options.downAfterMs ?? 750;
    if (this.downAfterMs < 2 * this.intervalMs) {
      throw new Error(`downAfterMs (${this.downAfterMs}) must be at least twice intervalMs (${this.intervalMs})`);
    }
  }

  start(): void {
    this.sub = this.nc.subscribe(this.subjects.heartbeats(), {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.heard(packr.unpack(msg.data) as Heartbeat);
        } catch {
          // A frame that is not a heartbeat says nothing about membership.
        }
      },
    });
    this.publish();
    this.beat = setInterval(() => this.publish(), this.intervalMs);
    this.check = setInterval(() => this.sweep(), Math.max(10, Math.floor(this.intervalMs / 3)));
  }

  async stop(): Promise<void> {
    clearInterval(this.beat);
    clearInterval(this.check);
    // Say goodbye so peers need not wait for the timeout.
    if (!this.nc.isClosed()) this.publish(true);
    this.sub?.unsubscribe();
  }

  onChange(listener: (event: MembershipEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** This node and every peer heard of, sorted by name. */
  members(): Member[] {
    const self: Member = { node: this.self, status: 'up', lastSeen: Date.now(), startedAt: this.startedAt };
    return [self, ...[...this.peers.values()].map((p) => ({ ...p.member }))].sort((a, b) => a.node.localeCompare(b.node));
  }

  /** Names of the nodes up now, this one included, sorted. */
  up(): string[] {
    return this.members()
      .filter((m) => m.status === 'up')
      .map((m) => m.node);
  }

  private publish(leaving = false): void {
    const hb: Heartbeat = { node: this.self, seq: ++this.seq, startedAt: this.startedAt, ...(leaving ? { leaving } : {}) };
    try {
      this.nc.publish(this.subjects.heartbeat(this.self), packr.pack(hb));
    } catch {
      // Disconnected: nats.js buffers while reconnecting; a closed connection cannot beat.
    }
  }

  private heard(hb: Heartbeat): void {
    if (typeof hb?.node !== 'string' || hb.node === this.self) return;
    const now = performance.now();
    const known = this.peers.get(hb.node);
    if (hb.leaving) {
      if (known?.member.status === 'up') this.mark(known.member, 'down', 'left the cluster');
      return;
    }
    if (!known) {
      const member: Member = { node: hb.node, status: 'up', lastSeen: Date.now(), startedAt: hb.startedAt };
      this.peers.set(hb.node, { member, heardAt: now });
      this.emit({ type: 'node_up', node: hb.node, reason: 'first heartbeat', at: Date.now() });
      return;
    }
    known.heardAt = now;
    known.member.lastSeen = Date.now();
    const restarted = hb.startedAt !== known.member.startedAt;
    known.member.startedAt = hb.startedAt;
    if (known.member.status === 'down') this.mark(known.member, 'up', restarted ? 'restarted' : 'heard again');
  }

  private lastSweep = performance.now();

  private sweep(): void {
    const now = performance.now();
    const late = now - this.lastSweep > this.downAfterMs / 2;
    this.lastSweep = now;
    // Our own timer ran late (this process was paused or starved): peers' heartbeats
    // are likely waiting in the socket. Judge them at the next sweep, not now.
    if (late) return;
    for (const { member, heardAt } of this.peers.values()) {
      if (member.status === 'up' && now - heardAt > this.downAfterMs) {
        this.mark(member, 'down', `no heartbeat for ${Math.round(now - heardAt)} ms`);
      }
    }
  }

  private mark(member: Member, status: 'up' | 'down', reason: string): void {
    member.status = status;
    this.emit({ type: status === 'up' ? 'node_up' : 'node_down', node: member.node, reason, at: Date.now() });
  }

  private emit(event: MembershipEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not stop failure detection.
      }
    }
  }
}
