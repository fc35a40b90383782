/**
 * The elders as kinds: each machine with its name and the schemas of the messages it
 * takes from the wire (protocol.ts). The tree spec (`worker('task-sage', TaskSage)`)
 * and references from outside the tree (`client.ref(TaskSage, ELDER_PATHS.task)`)
 * share them; a message from another node or a client that does not fit its schema
 * is a `malformed` dead letter, and an ask of it is rejected with the reason.
 *
 * The elders themselves name one another by kind name (`ElderAddress<'task-sage'>`),
 * so this module imports the machines and no machine imports it.
 */
import { kind } from '../../actors/kind.js';
import { claudeElderMachine } from './claude-elder.js';
import { commanderMachine } from './commander.js';
import { councilMachine } from './council.js';
import { demoLoadMachine } from './demo-load.js';
import { heraldMachine } from './herald.js';
import { incidentSageMachine } from './incident-sage.js';
import { knowledgeSageMachine } from './knowledge-sage.js';
import {
  claudeElderSchemas,
  commanderSchemas,
  councilSchemas,
  incidentSageSchemas,
  knowledgeSageSchemas,
  ragSageSchemas,
  servantPoolSchemas,
  servantSchemas,
  taskSageSchemas,
} from './protocol.js';
import { ragSageMachine } from './rag-sage.js';
import { servantPoolMachine } from './servant-pool.js';
import { servantMachine } from './servant.js';
import { taskSageMachine } from './task-sage.js';

/**
 * What the grand elder hands on (to the claude elder, to the council) is checked where
 * it first arrives, with the schema of the elder that will take it.
 */
const { 'report.to_elder': _reports, ...developmentSchemas } = claudeElderSchemas;
const grandElderSchemas = {
  ...commanderSchemas,
  ...developmentSchemas,
  'council.propose': councilSchemas['council.propose'],
  'council.status': councilSchemas['council.status'],
};

export const Commander = kind('commander', commanderMachine, { schemas: grandElderSchemas });
/** On a cluster, the agent of /grand-elder on every node: takes what the grand elder takes. */
export const Herald = kind('herald', heraldMachine, { schemas: grandElderSchemas });
export const ClaudeElder = kind('claude-elder', claudeElderMachine, { schemas: claudeElderSchemas });
export const KnowledgeSage = kind('knowledge-sage', knowledgeSageMachine, { schemas: knowledgeSageSchemas });
export const TaskSage = kind('task-sage', taskSageMachine, { schemas: taskSageSchemas });
export const IncidentSage = kind('incident-sage', incidentSageMachine, { schemas: incidentSageSchemas });
export const RagSage = kind('rag-sage', ragSageMachine, { schemas: ragSageSchemas });
export const Council = kind('elder-council', councilMachine, { schemas: councilSchemas });
export const ServantPool = kind('servant-pool', servantPoolMachine, { schemas: servantPoolSchemas });
export const Servant = kind('servant', servantMachine, { schemas: servantSchemas });
/** Takes no messages: it only sends. */
export const DemoLoad = kind('demo-load', demoLoadMachine);
