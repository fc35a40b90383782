import type { KnowledgeSageInput } from './knowledge-sage.js';

/**
 * What a brand-new knowledge sage knows: the built-in handlers (the rag sage finds
 * the right one from a task's words), working guidelines, and lessons the council's
 * rag vote leans on. A sage that resumes from its snapshot keeps its own instead.
 */
export const KNOWLEDGE_SEED: NonNullable<KnowledgeSageInput['seed']> = [
  {
    id: 'handler.hash',
    title: 'hash handler: digest, checksum, fingerprint',
    content: 'Computes a sha256 (or sha512) digest of the task data: a checksum or fingerprint to hash files, payloads, releases and notes.',
    tags: ['handler'],
  },
  {
    id: 'handler.transform',
    title: 'transform handler: rewrite text',
    content: 'Transforms text: upper case, lower case, reverse, title case, a url slug, or counts the words of a text.',
    tags: ['handler'],
  },
  {
    id: 'handler.sleep',
    title: 'sleep handler: wait, delay, pause',
    content: 'Waits a number of milliseconds: a stand-in for slow work, load tests and timeout checks.',
    tags: ['handler'],
  },
  {
    id: 'guideline.small-tasks',
    title: 'Keep tasks small',
    content: 'One handler call per task: small tasks re-run cheaply when a servant crashes.',
    tags: ['guideline'],
  },
  {
    id: 'guideline.priorities',
    title: 'Priorities',
    content: 'Priority 9 is for incident work; routine work runs at 3 to 6; 0 is background.',
    tags: ['guideline'],
  },
  {
    id: 'lesson.scaling',
    title: 'Council lesson: scale servants with the queue',
    content: 'When the queue grows, scale servants up; scale them down when it stays empty. Scaling servants is cheap and safe.',
    tags: ['lesson', 'council', 'approve'],
  },
  {
    id: 'lesson.quarantine',
    title: 'Council lesson: quarantine with care',
    content: 'Quarantine a servant only when its failure risk is high: a quarantined servant no longer takes work.',
    tags: ['lesson', 'council', 'caution'],
  },
];
