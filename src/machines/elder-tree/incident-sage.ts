/**
 * The incident sage: turns the node's lifecycle events, node downs and dead-letter
 * bursts into incidents, learns which recovery worked for which error signature, and
 * scores each actor's failure risk (the model is in incident-model.ts).
 *
 * Messages (senders by role):
 *   sage.incident.observe {kind: lifecycle|node_down|node_up|dead_letters, ...}   the event bridge (operator)
 *       lifecycle: {event: crashed|restarted|..., path, node, incarnation, reason?, at}
 *   sage.incident.metrics {node, at?, samples: [{path, mailbox}]}                the event bridge
 *   sage.task.metrics     {samples: [{path, latencyMs}], at?}                    task sage
 *   sage.incident.list {status?, limit?} | get {id} | risk {path?} | patterns     claude elder, grand elder
 *   sage.incident.resolve {id, action}                                           grand elder: a manual fix, learned too
 *   council.vote {proposal} | council.decided {decision}                         elder council
 *   tick {now?}                                                                  its clock
 * It tells the claude elder `report.to_elder {kind: incident|risk.alert|risk.cleared}`
 * and, when what worked before needs a council decision (quarantine), proposes it:
 * `sage.incident.propose {kind, target, reason}` to the council.
 */
import { enqueueActions, setup } from 'xstate';
import { clock, nowOf } from './clock.js';
import * as model from './incident-model.js';
import type { IncidentConfig, IncidentState, Notice, Observation } from './incident-model.js';
import { answer, currentEnvelope, deliver, describe, int, ok, refuse, tellEffect, text, type Effect, type Payload } from './messages.js';
import { ELDER_ADDRESSES, servantSlot } from './paths.js';
import { ballot, parseProposal } from './proposals.js';
import type { Answer, BallotAnswer, ElderAddress, IncidentSageEvent, RiskRow } from './protocol.js';

export type { IncidentSageEvent };

export interface IncidentSageInput extends Partial<IncidentConfig> {
  elder?: ElderAddress<'claude-elder'>;
  council?: ElderAddress<'elder-council'>;
  /** ms between clock ticks; 0 disables (tests tick by hand). */
  tickMs?: number;
  /** ms before the same quarantine is proposed again. */
  reproposeMs?: number;
}

export interface IncidentContext {
  state: IncidentState;
  config: IncidentConfig;
  elder: ElderAddress<'claude-elder'>;
  council: ElderAddress<'elder-council'>;
  tickMs: number;
  reproposeMs: number;
  /** When each target was last proposed to the council. */
  proposed: Record<string, number>;
}

type IncidentEvent = IncidentSageEvent;

/** The observation in a `sage.incident.observe` payload, or what is wrong with it. */
export function parseObservation(fields: Payload | object): { ok: true; obs: Observation } | { ok: false; error: string } {
  const p = fields as Payload;
  const at = typeof p.at === 'number' && Number.isFinite(p.at) ? p.at : Date.now();
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  switch (p.kind) {
    case 'lifecycle':
      if (!str(p.event) || !str(p.path)) return { ok: false, error: 'lifecycle needs event (crashed, restarted, ...) and path' };
      return {
        ok: true,
        obs: {
          kind: 'lifecycle',
          type: p.event as string,
          path: p.path as string,
          node: str(p.node) ? (p.node as string) : 'unknown',
          incarnation: typeof p.incarnation === 'number' ? p.incarnation : 0,
          ...(typeof p.reason === 'string' ? { reason: p.reason } : {}),
          at,
        },
      };
    case 'node_down':
    case 'node_up':
      if (!str(p.node)) return { ok: false, error: `${p.kind} needs node` };
      return { ok: true, obs: { kind: p.kind, node: p.node as string, reason: typeof p.reason === 'string' ? p.reason : p.kind, at } };
    case 'dead_letters':
      if (!str(p.reason) || !str(p.target) || typeof p.count !== 'number') return { ok: false, error: 'dead_letters needs reason, target and count' };
      return {
        ok: true,
        obs: { kind: 'dead_letters', reason: p.reason as string, target: p.target as string, count: p.count, ...(typeof p.detail === 'string' ? { detail: p.detail } : {}), at },
      };
    default:
      return { ok: false, error: `kind must be lifecycle, node_down, node_up or dead_letters; got ${describe(p.kind)}` };
  }
}

function incidentView(i: model.Incident): model.Incident {
  return i;
}

/** Reports and proposals for what a step noticed. */
function noticesToEffects(c: IncidentContext, notices: Notice[], now: number): { effects: Effect[]; proposed: Record<string, number> } {
  const effects: Effect[] = [];
  let proposed = c.proposed;
  for (const n of notices) {
    if (n.kind === 'opened' || n.kind === 'resolved') {
      effects.push(tellEffect(c.elder, { type: 'report.to_elder', kind: 'incident', event: n.kind, incident: incidentView(n.incident) as unknown as Payload }));
    } else if (n.kind === 'alert' || n.kind === 'cleared') {
      effects.push(
        tellEffect(c.elder, { type: 'report.to_elder', kind: n.kind === 'alert' ? 'risk.alert' : 'risk.cleared', path: n.path, score: n.score, components: n.components as unknown as Payload }),
      );
    } else if (n.kind === 'propose') {
      const { incident, proposal } = n;
      effects.push(
        tellEffect(c.elder, {
          type: 'report.to_elder',
          kind: 'incident',
          event: 'proposal',
          incident: incidentView(incident) as unknown as Payload,
          proposal: proposal as unknown as Payload,
        }),
      );
      // Recoveries the runtime does by itself (restart, failover) need nobody's vote.
      const target = incident.subject;
      if (proposal.action === 'quarantine' && servantSlot(target) !== undefined && now - (proposed[target] ?? -Infinity) >= c.reproposeMs) {
        proposed = { ...proposed, [target]: now };
        effects.push(
          tellEffect(c.council, {
            type: 'sage.incident.propose',
            kind: proposal.action,
            target,
            reason: `${incident.signature}: ${proposal.action} resolved it ${proposal.successes} time(s), failed ${proposal.failures}`,
          }),
        );
      }
    }
  }
  return { effects, proposed };
}

function vote(c: IncidentContext, p: Extract<IncidentEvent, { type: 'council.vote' }>): BallotAnswer {
  const proposal = parseProposal(p.proposal ?? {});
  if (!proposal.ok) return ballot('no', proposal.error);
  const v = proposal.value;
  const table = model.riskTable(c.state, c.config);
  if (v.kind === 'scale_servants') {
    const alerts = table.filter((r) => r.alerted).length;
    return ballot('yes', alerts > 0 ? `${alerts} actor(s) at risk: more servants share the load` : 'no risk alerts stand against it');
  }
  const risk = table.find((r) => r.path === v.target);
  const score = risk?.score ?? 0;
  if (v.kind === 'quarantine') {
    if (score >= c.config.threshold) return ballot('yes', `${v.target} failure risk ${score} >= ${c.config.threshold}`);
    return ballot('no', `${v.target} failure risk ${score} is below ${c.config.threshold}`);
  }
  return ballot('yes', `releasing ${v.target} (risk ${score}) brings capacity back`);
}

export const incidentSageMachine = setup({
  types: {
    context: {} as IncidentContext,
    input: {} as IncidentSageInput | undefined,
    events: {} as IncidentEvent,
  },
  actors: { clock },
  actions: {
    deliver,
    /** Applies a model step and says what it noticed. */
    step: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      // Read as data: local senders are not schema-checked, and the model checks what it uses.
      const p = event as Payload;
      let result: { state: IncidentState; notices: Notice[] } | undefined;
      let reply: Answer<Payload> | undefined;
      let now = Date.now();
      switch (event.type) {
        case 'sage.incident.observe': {
          const parsed = parseObservation(event);
          if (!parsed.ok) reply = refuse(parsed.error);
          else {
            result = model.observe(context.state, parsed.obs, context.config);
            reply = ok();
          }
          break;
        }
        case 'sage.incident.metrics': {
          const samples = Array.isArray(p.samples) ? p.samples.filter((s): s is { path: string; mailbox: number } => typeof s?.path === 'string' && typeof s?.mailbox === 'number') : undefined;
          if (!samples || typeof p.node !== 'string') reply = refuse('metrics needs node and samples [{path, mailbox}]');
          else {
            result = model.sampleMailboxes(context.state, p.node, typeof p.at === 'number' ? p.at : now, samples, context.config);
            reply = ok();
          }
          break;
        }
        case 'sage.task.metrics': {
          const samples = Array.isArray(p.samples) ? p.samples.filter((s): s is { path: string; latencyMs: number } => typeof s?.path === 'string' && typeof s?.latencyMs === 'number') : undefined;
          if (!samples) reply = refuse('task metrics need samples [{path, latencyMs}]');
          else {
            result = model.sampleLatency(context.state, typeof p.at === 'number' ? p.at : now, samples, context.config);
            reply = ok();
          }
          break;
        }
        case 'sage.incident.resolve': {
          const action = text(p.action, 'action', { required: true, max: 64 });
          const r = typeof p.id === 'string' && action.ok ? model.resolveManually(context.state, p.id, action.value!, now) : undefined;
          if (!action.ok) reply = refuse(action.error);
          else if (!r) reply = refuse(`no open incident ${describe(p.id)}`);
          else {
            result = r;
            reply = ok({ incident: incidentView(r.state.incidents[p.id as string]!) });
          }
          break;
        }
        case 'council.decided': {
          const d = (p.decision ?? {}) as Payload;
          const proposal = parseProposal((d.proposal ?? {}) as Payload);
          const executed = (d.execution as Payload | undefined)?.ok === true;
          if (proposal.ok && d.outcome === 'accepted' && executed && proposal.value.kind !== 'scale_servants') {
            result = model.observe(context.state, { kind: 'decision', action: proposal.value.kind, target: proposal.value.target, at: now }, context.config);
          }
          reply = ok();
          break;
        }
        case 'tick':
          now = nowOf(event);
          result = model.tick(context.state, now, context.config);
          break;
      }
      const effects: Effect[] = [];
      // Tells of these (the bridge's, the clock's) get no answer: answer() does nothing for them.
      if (reply) effects.push(answer(event, env, reply));
      if (result) {
        const said = noticesToEffects(context, result.notices, now);
        effects.push(...said.effects);
        if (result.state !== context.state || said.proposed !== context.proposed) enqueue.assign({ state: result.state, proposed: said.proposed });
      }
      if (effects.length > 0) enqueue({ type: 'deliver', params: { effects } });
    }),
    query: enqueueActions(({ context, event, system, enqueue }) => {
      const env = currentEnvelope(system);
      const p = event as Payload;
      const s = context.state;
      let effect: Effect;
      switch (event.type) {
        case 'sage.incident.list': {
          const status = p.status;
          const limit = int(p.limit, 'limit', 1, 500);
          if (status !== undefined && status !== 'open' && status !== 'recovering' && status !== 'resolved') {
            effect = answer(event, env, refuse(`status must be open, recovering or resolved; got ${describe(status)}`));
          } else if (!limit.ok) effect = answer(event, env, refuse(limit.error));
          else {
            const all = s.order.map((id) => s.incidents[id]!).filter((i) => status === undefined || i.status === status);
            effect = answer(event, env, ok({ total: all.length, incidents: all.slice(-(limit.value ?? 50)).map(incidentView) }));
          }
          break;
        }
        case 'sage.incident.get': {
          const i = typeof p.id === 'string' ? s.incidents[p.id] : undefined;
          effect = answer(event, env, i ? ok({ incident: incidentView(i) }) : refuse(`unknown incident ${describe(p.id)}`));
          break;
        }
        case 'sage.incident.risk': {
          const table = model.riskTable(s, context.config);
          if (typeof p.path === 'string') {
            const row: RiskRow = table.find((r) => r.path === p.path) ?? { path: p.path, score: 0, alerted: false };
            effect = answer(event, env, ok(row));
          } else effect = answer(event, env, ok({ threshold: context.config.threshold, actors: table }));
          break;
        }
        case 'sage.incident.patterns':
          effect = answer(event, env, ok({ learned: s.learned }));
          break;
        case 'council.vote':
          effect = answer(event, env, vote(context, event));
          break;
        default:
          return;
      }
      enqueue({ type: 'deliver', params: { effects: [effect] } });
    }),
  },
}).createMachine({
  id: 'incident-sage',
  context: ({ input }) => {
    const { elder, council, tickMs, reproposeMs, ...config } = input ?? {};
    return {
      state: model.emptyIncidentState(),
      config: { ...model.DEFAULT_INCIDENT_CONFIG, ...config },
      elder: elder ?? ELDER_ADDRESSES.elder,
      council: council ?? ELDER_ADDRESSES.council,
      tickMs: tickMs ?? 1000,
      reproposeMs: reproposeMs ?? 60_000,
      proposed: {},
    };
  },
  invoke: { src: 'clock', input: ({ context }) => ({ every: context.tickMs }) },
  initial: 'watching',
  states: {
    watching: {
      on: {
        'sage.incident.observe': { actions: 'step' },
        'sage.incident.metrics': { actions: 'step' },
        'sage.task.metrics': { actions: 'step' },
        'sage.incident.resolve': { actions: 'step' },
        'council.decided': { actions: 'step' },
        tick: { actions: 'step' },
        'sage.incident.list': { actions: 'query' },
        'sage.incident.get': { actions: 'query' },
        'sage.incident.risk': { actions: 'query' },
        'sage.incident.patterns': { actions: 'query' },
        'council.vote': { actions: 'query' },
      },
    },
  },
});
