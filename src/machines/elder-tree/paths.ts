import { SAGE_DOMAINS } from '../../security/roles.js';
import { elderAt, type ElderAddress } from './protocol.js';
/** Where each elder lives. Paths never change across restarts, so they are the addresses. */
export const ELDER_PATHS = {
  root: '/grand-elder',
  commander: '/grand-elder/commander',
  herald: '/grand-elder/herald',
  claudeElder: '/grand-elder/claude-elder',
  elder: '/grand-elder/claude-elder/elder',
  knowledge: '/grand-elder/claude-elder/knowledge-sage',
  task: '/grand-elder/claude-elder/task-sage',
  incident: '/grand-elder/claude-elder/incident-sage',
  rag: '/grand-elder/claude-elder/rag-sage',
  council: '/grand-elder/elder-council',
  servants: '/grand-elder/servants',
  pool: '/grand-elder/servants/pool',
  demo: '/grand-elder/demo',
} as const;

/** The four sages that vote in the council, by domain. */
export { SAGE_DOMAINS };
export type SageDomain = (typeof SAGE_DOMAINS)[number];

export type SagePaths = Record<SageDomain, string>;

export const SAGE_PATHS: SagePaths = {
  knowledge: ELDER_PATHS.knowledge,
  task: ELDER_PATHS.task,
  incident: ELDER_PATHS.incident,
  rag: ELDER_PATHS.rag,
};

/** Each elder's address (path and kind): how the elders name one another. */
export const ELDER_ADDRESSES = {
  commander: elderAt('commander', ELDER_PATHS.commander),
  herald: elderAt('herald', ELDER_PATHS.herald),
  // The claude elder is the agent of its supervisor: mail to either path reaches it.
  claudeElder: elderAt('claude-elder', ELDER_PATHS.claudeElder),
  elder: elderAt('claude-elder', ELDER_PATHS.elder),
  knowledge: elderAt('knowledge-sage', ELDER_PATHS.knowledge),
  task: elderAt('task-sage', ELDER_PATHS.task),
  incident: elderAt('incident-sage', ELDER_PATHS.incident),
  rag: elderAt('rag-sage', ELDER_PATHS.rag),
  council: elderAt('elder-council', ELDER_PATHS.council),
  // The pool is the agent of the servants' supervisor: mail to that path reaches it.
  servants: elderAt('servant-pool', ELDER_PATHS.servants),
  pool: elderAt('servant-pool', ELDER_PATHS.pool),
} as const;

/** The sages that vote, by domain, as addresses. */
export interface SageAddresses {
  knowledge: ElderAddress<'knowledge-sage'>;
  task: ElderAddress<'task-sage'>;
  incident: ElderAddress<'incident-sage'>;
  rag: ElderAddress<'rag-sage'>;
}

export const SAGE_ADDRESSES: SageAddresses = {
  knowledge: ELDER_ADDRESSES.knowledge,
  task: ELDER_ADDRESSES.task,
  incident: ELDER_ADDRESSES.incident,
  rag: ELDER_ADDRESSES.rag,
};

export const SERVANT_PREFIX = 'servant-';

/** `servant-3` for slot 3. */
export function servantId(n: number): string {
  return `${SERVANT_PREFIX}${n}`;
}

/** The slot of a servant id or path (`/grand-elder/servants/servant-3` -> 3), else undefined. */
export function servantSlot(idOrPath: string): number | undefined {
  const id = idOrPath.slice(idOrPath.lastIndexOf('/') + 1);
  const m = /^servant-([1-9][0-9]{0,3})$/.exec(id);
  return m ? Number(m[1]) : undefined;
}
