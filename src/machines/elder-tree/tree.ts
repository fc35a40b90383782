/**
 * The Elder Tree as a supervision tree spec:
 *
 *   grand-elder            supervisor, one_for_one, agent commander (herald on a cluster)
 *   ├── commander          the grand elder, persistent            singleton on a cluster
 *   ├── claude-elder       supervisor, agent elder                singleton on a cluster
 *   │   ├── elder            the claude elder
 *   │   ├── knowledge-sage   persistent
 *   │   ├── task-sage        persistent
 *   │   ├── incident-sage    persistent
 *   │   └── rag-sage
 *   ├── elder-council                                             singleton on a cluster
 *   ├── servants           supervisor, agent pool                 on every node
 *   │   ├── pool
 *   │   └── servant-1..N
 *   └── demo               the demo load (optional)               singleton on a cluster
 *
 * Children start in this order, so the sages are up before the servants ask for
 * work, and the knowledge sage before the rag sage syncs from it.
 */
import type { PathsOf } from '../../supervision/paths.js';
import { supervisor, worker, type Placement, type WorkerSpec } from '../../supervision/spec.js';
import type { ClaudeElderInput } from './claude-elder.js';
import type { CommanderInput } from './commander.js';
import type { CouncilInput } from './council.js';
import type { DemoInput } from './demo-load.js';
import type { Handlers } from './handlers.js';
import type { IncidentSageInput } from './incident-sage.js';
import type { KnowledgeSageInput } from './knowledge-sage.js';
import { KNOWLEDGE_SEED } from './knowledge-seed.js';
import { ClaudeElder, Commander, Council, DemoLoad, Herald, IncidentSage, KnowledgeSage, RagSage, Servant, ServantPool, TaskSage } from './kinds.js';
import type { RagSageInput } from './rag-sage.js';
import type { ServantInput } from './servant.js';
import { servantSpec, type ServantTemplate } from './servant-pool.js';
import type { TaskSageInput } from './task-sage.js';

export interface ElderTreeOptions {
  /** Servants per node at start (default 4). */
  servants?: number;
  /** Extra task handlers for the servants. */
  handlers?: Handlers;
  /** The demo load: false (default) or its settings. */
  demo?: false | DemoInput;
  /** Placement for a NATS cluster: singletons for the elders, servants on every node. */
  cluster?: boolean;
  /** Snapshots for the knowledge, task and incident sages (default true). */
  persist?: boolean;
  commander?: CommanderInput;
  claudeElder?: ClaudeElderInput;
  knowledge?: KnowledgeSageInput;
  taskSage?: TaskSageInput;
  incidentSage?: IncidentSageInput;
  rag?: RagSageInput;
  council?: CouncilInput;
  servant?: Omit<ServantInput, 'handlers'>;
  /** ms between pool reconciliations on a cluster (default 2000). */
  reconcileMs?: number;
}

const SINGLETON: Placement = { singleton: true };

/** A servant's spec as the tree's type sees it: `servant-N`, of kind Servant. */
type ServantSpec = WorkerSpec<(typeof Servant)['machine'], `servant-${number}`, typeof Servant>;

/** The spec every servant is made from, at start and when the council scales. */
export function servantTemplate(options: ElderTreeOptions = {}): ServantTemplate {
  return {
    machine: Servant.machine,
    kind: Servant,
    options: {
      input: { ...options.servant, ...(options.handlers ? { handlers: options.handlers } : {}) },
      // A crashing servant comes back quickly, but not in a tight loop.
      backoff: { initial: 10, max: 250, resetAfter: 1000 },
      shutdown: 1000,
    },
  };
}

/** Marks a spec made by elderTree(); Symbol.for, so a copy of this module loaded twice agrees. */
const ELDER_TREE = Symbol.for('eldertree.elderTree');

/**
 * True for a spec made by elderTree(), also one a tree file exports (with its own
 * handlers or options): the runtime then adds the Elder Tree's roles and services.
 */
export function isElderTree(spec: unknown): boolean {
  return typeof spec === 'object' && spec !== null && (spec as Record<symbol, unknown>)[ELDER_TREE] === true;
}

/** The Elder Tree's spec, typed: a node started with it knows the kind at each elder's path. */
export type ElderTreeSpec = ReturnType<typeof buildElderTree>;
/** The paths of the Elder Tree and the kinds there (`node.ref(TaskSage, path)` checks against it). */
export type ElderTreePaths = PathsOf<ElderTreeSpec>;

export function elderTree(options: ElderTreeOptions = {}): ElderTreeSpec {
  const spec = buildElderTree(options);
  // Not enumerable: copies and JSON of the spec stay as they were.
  Object.defineProperty(spec, ELDER_TREE, { value: true });
  return spec;
}

function buildElderTree(options: ElderTreeOptions) {
  const cluster = options.cluster === true;
  const placed = cluster ? { placement: SINGLETON } : {};
  // The knowledge and task sages save after each message (saves coalesce while one is
  // being written): a task whose id was handed out is not lost with its node. The
  // incident sage (many observations) and the grand elder (reports) lose little with a
  // short window. The claude elder, council and servants keep no state worth a snapshot.
  const persist = (every?: number) => (options.persist === false ? {} : { persist: { version: '1', ...(every ? { every } : {}) } });
  const count = options.servants ?? 4;
  const template = servantTemplate(options);
  return supervisor('grand-elder', { strategy: 'one_for_one', intensity: 5, period: 10_000, agent: cluster ? 'herald' : 'commander' }, [
    ...(cluster ? [worker('herald', Herald)] : []),
    worker('commander', Commander, { input: options.commander, ...placed, ...persist(1000) }),
    supervisor('claude-elder', { strategy: 'one_for_one', intensity: 10, period: 10_000, agent: 'elder', ...placed }, [
      worker('elder', ClaudeElder, { input: options.claudeElder }),
      worker('knowledge-sage', KnowledgeSage, { input: { seed: KNOWLEDGE_SEED, ...options.knowledge }, ...persist() }),
      worker('task-sage', TaskSage, { input: options.taskSage, ...persist() }),
      worker('incident-sage', IncidentSage, { input: options.incidentSage, ...persist(500) }),
      worker('rag-sage', RagSage, { input: options.rag }),
    ]),
    worker('elder-council', Council, { input: options.council, ...placed }),
    // Servants crash on purpose in the demo and the tests: a generous intensity keeps
    // their crashes from escalating to the grand elder.
    supervisor('servants', { strategy: 'one_for_one', intensity: 100, period: 10_000, agent: 'pool' }, [
      worker('pool', ServantPool, { input: { template, initial: count, reconcileMs: cluster ? (options.reconcileMs ?? 2000) : 0 } }),
      ...Array.from({ length: count }, (_, i) => servantSpec(template, i + 1) as ServantSpec),
    ]),
    ...(options.demo ? [worker('demo', DemoLoad, { input: options.demo, ...placed })] : []),
  ]);
}
