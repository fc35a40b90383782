/**
 * The data shapes the elders' messages share: proposals, ballots and decisions of the
 * council, knowledge entries, servants and their assignments. Schemas (zod) and the
 * types derived from them, for protocol.ts.
 */
import { z } from 'zod';
import { SAGE_DOMAINS } from '../../security/roles.js';

type Payload = Record<string, unknown>;

export const proposalSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('scale_servants'), count: z.number() }),
  z.object({ kind: z.literal('quarantine'), target: z.string() }),
  z.object({ kind: z.literal('release'), target: z.string() }),
]);
/** A council proposal, as parseProposal (proposals.ts) returns it. */
export type Proposal = z.output<typeof proposalSchema>;

/**
 * A proposal as the fields of a message (`council.propose {kind, count}`). Flat, not a
 * union: the elder checks which fields a kind needs (parseProposal), and a flat type
 * keeps typed asks of it simple.
 */
export const proposalFields = {
  kind: z.enum(['scale_servants', 'quarantine', 'release']),
  count: z.number().optional(),
  target: z.string().optional(),
  reason: z.string().optional(),
};

export const voteSchema = z.enum(['yes', 'no', 'abstain']);
export type Vote = z.output<typeof voteSchema>;
export const ballotSchema = z.object({ vote: voteSchema, reason: z.string() });
export type Ballot = z.output<typeof ballotSchema>;
export const tallySchema = z.object({ yes: z.number(), no: z.number(), abstain: z.number(), outcome: z.enum(['accepted', 'rejected', 'tie']) });
export type Tally = z.output<typeof tallySchema>;

export const decisionSchema = z.object({
  id: z.string(),
  proposal: proposalSchema,
  summary: z.string(),
  proposer: z.string(),
  reason: z.string().optional(),
  ballots: z.partialRecord(z.enum(SAGE_DOMAINS), ballotSchema),
  tally: tallySchema,
  outcome: z.enum(['accepted', 'rejected']),
  decidedBy: z.enum(['majority', 'grand-elder']),
  verdictReason: z.string().optional(),
  execution: z.object({ ok: z.boolean(), detail: z.string() }).optional(),
  at: z.number(),
});
/** A council decision, as the council keeps and announces it. */
export type Decision = z.output<typeof decisionSchema>;

/** A sage's answer to `council.vote`. */
export type BallotAnswer = { ok: true } & Ballot;

export const knowledgeEntrySchema = z.object({
  id: z.string(),
  title: z.string(),
  content: z.string(),
  tags: z.array(z.string()),
  version: z.number(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type KnowledgeEntry = z.output<typeof knowledgeEntrySchema>;

/** A servant as the task sage knows it: paths repeat on every node, incarnations change. */
export const servantRefSchema = z.object({ node: z.string(), path: z.string(), incarnation: z.number() });

/** A task as a servant gets it: one attempt. */
export interface Assignment {
  id: string;
  attempt: number;
  title: string;
  priority: number;
  handler: string;
  input: Payload;
  timeoutMs: number;
}

