export * from './envelope.js';
export * from './events.js';
export * from './errors.js';
export * from './transport.js';
export { ActorCell, SHUTDOWN_EVENT, type Behavior, type CellStatus, type Exit, type Shutdown } from './cell.js';
export { ActorSystem, type AskOptions, type Payload, type SystemOptions, type TellOptions } from './system.js';
export { ask, reply, runtimeOf, tell, type ActionArgs, type ActorRuntime, type ReplyFor } from './effects.js';
export {
  checkEvent,
  isAddress,
  isKind,
  kind,
  type Address,
  type AddressFor,
  type KindName,
  type AnyKind,
  type Ask,
  type AskEvent,
  type EventFields,
  type EventOf,
  type EventSchemas,
  type Kind,
  type KindOptions,
  type ReplyOf,
  type SchemaEvents,
} from './kind.js';
export { bindRef, Ref, type AskMessage, type AskType, type RefSender, type ReplyTo } from './ref.js';
export { Mailbox, shifted, type LocalFields, type LocalMaker } from './mailbox.js';
export { SNAPSHOTS_SERVICE, type Persistence, type SnapshotStore } from './persistence.js';
export * from './entity-address.js';
export { migrateSnapshot, type PersistedSnapshot } from './persistence.js';
