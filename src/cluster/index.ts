export { ClusterNode, type ClusterNodeOptions, type InspectReply } from './cluster-node.js';
export { ClusterClient } from './client.js';
export { Membership, type Member, type MembershipEvent, type MembershipOptions } from './membership.js';
export { decodeWire, encodeWire, toWire, type WireEvent } from './events-wire.js';
export { chooseNodes, placeTree, type PlacementContext } from './placement.js';
export { Lease, LeaseError, LeaseStore, type LeaseHolder, type LeaseState, type LeaseValue } from './lease.js';
export { LeaseKeeper, type LeaseKeeperOptions, type LeaseLostReason } from './lease-keeper.js';
export { openKvLeases } from './lease-kv.js';
export { memoryLeases } from './lease-memory.js';
export { KvTaskLocks, MemoryTaskLocks, type TaskLock, type TaskLocks } from './task-locks.js';
export {
  FileSnapshotStore,
  KvSnapshotStore,
  MemorySnapshotStore,
  loadChecked,
  SnapshotConflictError,
  SnapshotError,
  SnapshotVersionError,
} from './snapshots.js';
export { ShardManager, type MembershipView, type ShardManagerOptions } from './shards.js';
