import { SAGE_DOMAINS } from '../../security/roles.js';
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
