/**
 * Council proposals, ballots and the count. Shared by the council (which runs the
 * vote), the sages (which vote) and the grand elder (which breaks ties).
 */
import { ELDER_PATHS, servantSlot } from './paths.js';
import { describe, invalid, valid, type Parsed, type Payload } from './messages.js';
import type { Ballot, BallotAnswer, Proposal, Tally, Vote } from './protocol.js';

export type { Ballot, Proposal, Tally, Vote };

export const MAX_SERVANTS = 64;

/**
 * Only servants can be quarantined or released: elders are each the only one of
 * their kind, and taking one out would stop the tree's work rather than protect it.
 */
export function parseProposal(payload: Payload | object): Parsed<Proposal> {
  const fields = payload as Payload;
  const kind = fields.kind;
  if (kind === 'scale_servants') {
    const count = fields.count;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_SERVANTS) {
      return invalid(`scale_servants needs count, a whole number from 1 to ${MAX_SERVANTS}; got ${describe(count)}`);
    }
    return valid({ kind, count });
  }
  if (kind === 'quarantine' || kind === 'release') {
    const target = fields.target;
    if (typeof target !== 'string') return invalid(`${kind} needs target, a servant path; got ${describe(target)}`);
    const path = target.startsWith('/') ? target : `${ELDER_PATHS.servants}/${target}`;
    if (!path.startsWith(ELDER_PATHS.servants + '/') || servantSlot(path) === undefined) {
      return invalid(`${kind} applies to servants only (${ELDER_PATHS.servants}/servant-N); got ${JSON.stringify(target)}`);
    }
    return valid({ kind, target: path });
  }
  return invalid(`kind must be scale_servants, quarantine or release; got ${describe(kind)}`);
}

export function describeProposal(p: Proposal): string {
  return p.kind === 'scale_servants' ? `scale servants to ${p.count}` : `${p.kind} ${p.target}`;
}

export function parseBallot(value: unknown): Ballot {
  const v = (value ?? {}) as Payload;
  const vote = v.vote === 'yes' || v.vote === 'no' ? v.vote : 'abstain';
  return { vote, reason: typeof v.reason === 'string' ? v.reason : vote === 'abstain' ? 'no opinion' : '' };
}

/** A majority of the votes cast decides; abstentions count for neither side; even is a tie. */
export function tally(ballots: readonly Ballot[]): Tally {
  const yes = ballots.filter((b) => b.vote === 'yes').length;
  const no = ballots.filter((b) => b.vote === 'no').length;
  const abstain = ballots.length - yes - no;
  return { yes, no, abstain, outcome: yes > no ? 'accepted' : no > yes ? 'rejected' : 'tie' };
}

/** A sage's answer to `council.vote`. */
export const ballot = (vote: Vote, reason: string): BallotAnswer => ({ ok: true, vote, reason });
