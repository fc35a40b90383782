export * from './envelope.js';
export * from './events.js';
export * from './errors.js';
export * from './transport.js';
export { ActorCell, SHUTDOWN_EVENT, type Behavior, type CellStatus, type Exit, type Shutdown } from './cell.js';
export { ActorSystem, type AskOptions, type Payload, type SystemOptions, type TellOptions } from './system.js';
export { reply, runtimeOf, tell, type ActionArgs, type ActorRuntime } from './effects.js';
export { Mailbox } from './mailbox.js';
export { SNAPSHOTS_SERVICE, type Persistence, type SnapshotStore } from './persistence.js';
