import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Subscription as EventSubscription } from '../actors/events.js';
import type { Address, AddressFor, AnyKind } from '../actors/kind.js';
import { bindEntity, bindRef, type Ref } from '../actors/ref.js';
import { ActorSystem, type AskOptions, type Payload, type TellOptions } from '../actors/system.js';
import { closeConnection, NatsTransport, type NatsTransportOptions } from '../transport/nats.js';
import { retryPolicy } from '../transport/outbox.js';
import { connectOrExplain } from './cluster-node.js';
import { decodeWire, type WireEvent } from './events-wire.js';
import { collectInspect, type InspectReply, type InspectResult } from './inspect-wire.js';

/**
 * The cluster from outside the tree (the `eldertree` CLI, tests, tools): an actor
 * system with no actors of its own on the NATS transport, so tell/ask work exactly as
 * from a node, plus cluster-wide inspection and the event stream.
 */
export class ClusterClient {
  private constructor(
    readonly system: ActorSystem,
    private readonly transport: NatsTransport,
    /** Ours to close (the transport does not own a connection it was given). */
    private readonly owned: NatsConnection | undefined,
  ) {}

  static async connect(options: NatsTransportOptions & { nodeId?: string }): Promise<ClusterClient> {
    const nodeId = options.nodeId ?? `client-${process.pid}-${Date.now().toString(36)}`;
    retryPolicy(options.retry); // a bad retry option fails here, before a connection is opened
    const connection = options.connection ?? (await connectOrExplain(options, `eldertree-${nodeId}`));
    // A client hosts nothing: it takes no routed frames (routes: false).
    const transport = new NatsTransport({ routes: false, ...options, connection });
    const system = new ActorSystem({ nodeId, transport });
    await system.start();
    return new ClusterClient(system, transport, options.connection === undefined ? connection : undefined);
  }

  get connection(): NatsConnection {
    return this.transport.connection;
  }

  tell(target: string, type: string, payload?: Payload, options?: TellOptions): string {
    return this.system.tell(target, type, payload, options);
  }

  /**
   * Tells with `requires_ack` and waits for the acknowledgement: resolves once the
   * receiver processed (or dead-lettered) it, rejects with the reason when it was
   * refused or not acknowledged within `timeoutMs`. The transport keeps resending meanwhile.
   */
  async tellAcked(target: string, type: string, payload: Payload, options: TellOptions & { timeoutMs: number }): Promise<string> {
    // A dead letter may come synchronously from inside tell, before its id is known.
    const refusals = new Map<string, string>();
    const sub = this.system.subscribe((e) => {
      if (e.type === 'dead_letter' && e.envelope) refusals.set(e.envelope.message_id, `${e.reason}: ${e.detail}`);
    });
    try {
      const id = this.system.tell(target, type, payload, { ...options, requiresAck: true });
      const deadline = performance.now() + options.timeoutMs;
      while (this.transport.unacknowledged(id) && !refusals.has(id) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const refused = refusals.get(id);
      if (refused !== undefined) throw new Error(refused);
      if (this.transport.unacknowledged(id)) throw new Error(`${target} did not acknowledge ${type} within ${options.timeoutMs} ms`);
      return id;
    } finally {
      sub.unsubscribe();
    }
  }

  ask<T extends Payload = Payload>(target: string, type: string, payload?: Payload, options?: AskOptions): Promise<T> {
    return this.system.ask<T>(target, type, payload, options);
  }

  /**
   * A typed reference from outside the tree: `client.ref(Counter, '/app/counter')`, or
   * `client.ref(actorRef)` for one that came as data.
   */
  ref<K extends AnyKind>(kind: K, path: NoInfer<string | AddressFor<K>>): Ref<K>;
  ref<K extends AnyKind>(address: Address<K>): Ref<K>;
  ref<K extends AnyKind>(kindOrRef: K | Address<K>, path?: string | AddressFor<K>): Ref<K> {
    return bindRef<K>(this, kindOrRef, path);
  }

  /** A typed reference to the entity `key` of a kind: `client.entity(Cart, 'user-42')`. */
  entity<K extends AnyKind>(kind: K, key: string): Ref<K> {
    return bindEntity(this, kind, key);
  }

  /**
   * Every node's answer to `inspect`: as soon as every node known up has answered in
   * full, else what came within `timeoutMs` (inspectAll also says who did not answer).
   */
  async inspect(timeoutMs = 5000): Promise<InspectReply[]> {
    return (await this.inspectAll(timeoutMs)).replies;
  }

  /** As inspect(), plus `missing`: the nodes known up that had not answered in full by the timeout. */
  inspectAll(timeoutMs = 5000): Promise<InspectResult> {
    return collectInspect(this.connection, this.transport.subjects.broadcast('inspect'), timeoutMs);
  }

  /** Lifecycle events, dead letters and membership changes from every node. */
  events(listener: (event: WireEvent) => void): EventSubscription {
    const sub: Subscription = this.connection.subscribe(this.transport.subjects.allEvents(), {
      callback: (err, msg) => {
        if (err) return;
        const event = decodeWire(msg.data);
        if (event) listener(event);
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async flush(): Promise<void> {
    await this.connection.flush();
  }

  async close(): Promise<void> {
    await this.system.stop();
    if (this.owned) await closeConnection(this.owned);
  }
}
