export * from './spec.js';
export { validateTree } from './validate.js';
export { RestartIntensity } from './intensity.js';
export { supervisorMachine, type ChildInfo, type SupervisorInput, type SupervisorStatus } from './machine.js';
export { StartError, SupervisorError, type SupervisorErrorCode } from './errors.js';
export { Supervisor, type ChildExit } from './supervisor.js';
export { Node, TreeSpecError, type ActorView, type NodeExit, type NodeOptions, type NodeView } from './node.js';
export type { PathFor, PathMap, PathsOf } from './paths.js';
