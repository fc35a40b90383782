export {
  ELDER_ADDRESSES,
  ELDER_PATHS,
  SAGE_ADDRESSES,
  SAGE_DOMAINS,
  SAGE_PATHS,
  servantId,
  servantSlot,
  type SageAddresses,
  type SageDomain,
  type SagePaths,
} from './paths.js';
// The elders' kinds (for worker(), node.ref(), client.ref()) and their protocol.
export { ClaudeElder, Commander, Council, DemoLoad, Herald, IncidentSage, KnowledgeSage, RagSage, Servant, ServantPool, TaskSage } from './kinds.js';
export {
  elderAt,
  type Answer,
  type Assignment,
  type ClaudeElderEvent,
  type CommanderEvent,
  type CouncilEvent,
  type ElderAddress,
  type ElderName,
  type ElderProtocols,
  type IncidentSageEvent,
  type KnowledgeSageEvent,
  type RagSageEvent,
  type Refusal,
  type ServantEvent,
  type ServantPoolEvent,
  type TaskSageEvent,
} from './protocol.js';
export { elderTree, isElderTree, servantTemplate, type ElderTreeOptions, type ElderTreePaths, type ElderTreeSpec } from './tree.js';
export { startElderTree, elderTreeServices, type ElderTreeNode, type StartElderTreeOptions } from './start.js';
export { attachElderTree, type Bridge, type BridgeOptions } from './bridge.js';
export { NodeTreeControl, TREE_SERVICE, type TreeControl } from './tree-control.js';
export { commanderMachine, breakTie, type CommanderInput } from './commander.js';
export { claudeElderMachine, type ClaudeElderInput } from './claude-elder.js';
export { knowledgeSageMachine, type KnowledgeEntry, type KnowledgeSageInput } from './knowledge-sage.js';
export { KNOWLEDGE_SEED } from './knowledge-seed.js';
export { taskSageMachine, type TaskSageInput } from './task-sage.js';
export { incidentSageMachine, type IncidentSageInput } from './incident-sage.js';
export { ragSageMachine, type RagSageInput } from './rag-sage.js';
export { councilMachine, type CouncilInput, type Decision } from './council.js';
export { servantMachine, type ServantInput } from './servant.js';
export { servantPoolMachine, type ServantTemplate } from './servant-pool.js';
export { demoLoadMachine, type DemoInput } from './demo-load.js';
export { heraldMachine } from './herald.js';
export { builtinHandlers, PermanentTaskError, ServantCrash, type HandlerContext, type Handlers, type TaskHandler } from './handlers.js';
export { parseProposal, tally, type Ballot, type Proposal, type Vote } from './proposals.js';
// The roles of the Elder Tree's messages (DESIGN.md's role table).
export * from '../../security/roles.js';
