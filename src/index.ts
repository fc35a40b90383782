/**
 * eldertree: XState v5 actors under Erlang/OTP supervision, clustered over NATS.
 *
 *   const Counter = kind('counter', counterMachine);
 *   const node = await Node.start({ tree: supervisor('app', {}, [worker('counter', Counter)]) });
 *   node.ref('/app/counter').tell({ type: 'inc', by: 2 });
 *
 * This entry is the user's API, curated as XState's is. The machinery under it (actor
 * cells, mailboxes, transports, leases, placement) is `eldertree/internals`, for tools
 * and tests, without the promise of stability; the Elder Tree application is
 * `eldertree/elder-tree`.
 */

// Trees and nodes
export {
  dynamicSupervisor,
  supervisor,
  worker,
  DEFAULTS,
  type AutoShutdown,
  type Backoff,
  type DynamicChildArgs,
  type ChildSpec,
  type Placement,
  type RestartType,
  type Shutdown,
  type Strategy,
  type SupervisorSpec,
  type WorkerOptions,
  type WorkerSpec,
} from './supervision/spec.js';
export { entities, type EntitiesSpec, type EntityConfig, type EntityOptions } from './supervision/entities.js';
export type { RegionView } from './supervision/region.js';
export type { ShardCount } from './actors/entity-address.js';
export { Node, TreeSpecError, type EntityLocation, type ActorView, type NodeExit, type NodeOptions, type NodeView } from './supervision/node.js';
export { validateTree } from './supervision/validate.js';
export { StartError, SupervisorError, type SupervisorErrorCode } from './supervision/errors.js';
export type { ChildExit } from './supervision/supervisor.js';
export type { ChildCounts, ChildInfo } from './supervision/machine.js';
export type { PathFor, PathMap, PathsOf } from './supervision/paths.js';

// Kinds, addresses and typed references
export {
  isAddress,
  isKind,
  kind,
  type Address,
  type AddressFor,
  type AnyKind,
  type Ask,
  type AskEvent,
  type EventFields,
  type EventOf,
  type EventSchemas,
  type Kind,
  type KindName,
  type KindOptions,
  type Payload,
  type ReplyOf,
  type SchemaEvents,
} from './actors/kind.js';
export { Ref, type AskMessage, type AskType, type ReplyTo } from './actors/ref.js';

// Inside machines
export { ask, reply, runtimeOf, tell, type ActionArgs, type ActorRuntime, type AskActionHandlers, type ReplyFor } from './actors/effects.js';
export { SHUTDOWN_EVENT } from './actors/cell.js';

// Messages, events, errors
export type { Envelope } from './actors/envelope.js';
// A plain copy of any envelope (the runtime's own keep id and timestamp as getters; user code is handed plain ones).
export { plainEnvelope } from './actors/envelope.js';
export type { AskOptions, TellOptions } from './actors/system.js';
export type { DeadLetterEvent, DeadLetterReason, LifecycleEvent, LifecycleType, Subscription, SystemEvent, SystemEventListener } from './actors/events.js';
export { AskRejectedError, AskTimeoutError, EldertreeError } from './actors/errors.js';

// Persistence and services
export type { PersistedSnapshot, Persistence, SnapshotStore } from './actors/persistence.js';
export { FileSnapshotStore, KvSnapshotStore, MemorySnapshotStore, SnapshotConflictError, SnapshotError, SnapshotVersionError } from './cluster/snapshots.js';
export type { TaskLock, TaskLocks } from './cluster/task-locks.js';

// Metrics and tracing
export { Telemetry, NodeMetrics, tracerProviderRegistered, type TelemetryOptions } from './telemetry/index.js';

// The cluster
export { ClusterNode, type ClusterNodeOptions } from './cluster/cluster-node.js';
export { ClusterClient } from './cluster/client.js';
export type { WireEvent } from './cluster/events-wire.js';

export { createLogger, type Logger, type LogLevel } from './log.js';
