/**
 * The servant pool: the agent of the `servants` supervisor, which carries out the
 * council's decisions on it with OTP's start_child / delete_child (service 'tree').
 *
 * The decided shape (how many servants, which are quarantined) is also saved in the
 * node's snapshot store with a revision number. Servants run on every node of a
 * cluster, and a decision reaches one node's pool only (the one next to the council):
 * every other pool reads the shared record on its clock and converges to it. A pool
 * that restarts (its supervisor restarted, the process restarted) resumes it too.
 *
 * Messages: council.scale {count}, council.quarantine {target}, council.release
 * {target} (the council, the grand elder); pool.status (anyone with the rights).
 */
import { assign, enqueueActions, setup, type AnyStateMachine } from 'xstate';
import type { ActorRuntime } from '../../actors/effects.js';
import type { AnyKind } from '../../actors/kind.js';
import type { SnapshotStore } from '../../actors/persistence.js';
import { worker, type WorkerSpec } from '../../supervision/spec.js';
import { clock } from './clock.js';
import { answer, answerLater, currentEnvelope, deliver, describe, ok, refuse, type Effect, type Payload } from './messages.js';
import type { PoolStatus, ServantPoolEvent } from './protocol.js';
import { fromRuntime } from './orphans.js';
import { ELDER_PATHS, servantId, servantSlot } from './paths.js';
import { MAX_SERVANTS, parseProposal } from './proposals.js';
import { TREE_SERVICE, type TreeControl } from './tree-control.js';
import type { Envelope } from '../../actors/envelope.js';

/** How a new servant is made: the spec startChild gets, minus its id. */
export interface ServantTemplate {
  machine: AnyStateMachine;
  /** The servants' kind (its schemas check messages from the wire); the machine's when given. */
  kind?: AnyKind;
  options?: Omit<WorkerSpec, 'id' | 'machine' | 'type'>;
}

export interface PoolInput {
  servants?: string;
  template: ServantTemplate;
  /** Servants the spec starts with (servant-1..initial). */
  initial: number;
  /** ms between reads of the shared record; 0 disables (one node needs none). */
  reconcileMs?: number;
}

export interface PoolShape {
  desired: number;
  quarantined: string[];
  rev: number;
}

export interface PoolContext extends PoolShape {
  servants: string;
  template: ServantTemplate;
  reconcileMs: number;
  /** The shape changed while an apply ran: apply again. */
  dirty: boolean;
  /** Asks to answer once the tree has the shape. */
  waiting: (Envelope | undefined)[];
  running: string[];
  lastError: string | undefined;
}

export type { ServantPoolEvent };
type PoolEvent = ServantPoolEvent;
/** The asks answered once the tree has the shape. */
type Request = Extract<PoolEvent, { type: 'council.scale' }>;

const RECORD_VERSION = '1';
const recordPath = (servants: string) => `${servants}/pool/desired`;

/** Servant slots to run: the first `desired` slots that are not quarantined. */
export function wantedSlots(shape: Pick<PoolShape, 'desired' | 'quarantined'>): number[] {
  const wanted: number[] = [];
  for (let n = 1; wanted.length < shape.desired && n <= MAX_SERVANTS * 2; n++) {
    if (!shape.quarantined.includes(servantId(n))) wanted.push(n);
  }
  return wanted;
}

export interface ApplyInput {
  servants: string;
  template: ServantTemplate;
  shape: PoolShape;
  publish: boolean;
}

/** The spec of servant slot n. */
export function servantSpec(template: ServantTemplate, n: number): WorkerSpec {
  const options = template.options ?? {};
  return template.kind ? worker(servantId(n), template.kind, options) : worker(servantId(n), template.machine, options);
}

async function applyShape(runtime: ActorRuntime, input: ApplyInput): Promise<{ running: string[] }> {
  const tree = runtime.service<TreeControl>(TREE_SERVICE);
  const children = await tree.whichChildren(input.servants);
  const have = new Set(children.map((c) => servantSlot(c.id)).filter((n): n is number => n !== undefined));
  const wanted = new Set(wantedSlots(input.shape));
  for (const n of [...have].sort((a, b) => b - a)) if (!wanted.has(n)) await tree.removeChild(input.servants, servantId(n));
  for (const n of [...wanted].sort((a, b) => a - b)) {
    if (!have.has(n)) await tree.startChild(input.servants, servantSpec(input.template, n));
  }
  if (input.publish) {
    const store = runtime.service<SnapshotStore>('snapshots');
    await store.save(recordPath(input.servants), RECORD_VERSION, input.shape);
  }
  return { running: [...wanted].sort((a, b) => a - b).map(servantId) };
}

async function readShape(runtime: ActorRuntime, servants: string): Promise<PoolShape | undefined> {
  let store: SnapshotStore;
  try {
    store = runtime.service<SnapshotStore>('snapshots');
  } catch {
    return undefined; // no store: this node keeps its own shape
  }
  const stored = await store.load(recordPath(servants));
  if (!stored || stored.version !== RECORD_VERSION) return undefined;
  const s = stored.snapshot as Partial<PoolShape>;
  if (typeof s?.desired !== 'number' || !Array.isArray(s.quarantined) || typeof s.rev !== 'number') return undefined;
  return { desired: s.desired, quarantined: s.quarantined.filter((q): q is string => typeof q === 'string'), rev: s.rev };
}

const shapeOf = (c: PoolContext): PoolShape => ({ desired: c.desired, quarantined: c.quarantined, rev: c.rev });

function status(c: PoolContext): PoolStatus {
  return ok({ desired: c.desired, quarantined: c.quarantined, running: c.running, rev: c.rev, ...(c.lastError ? { lastError: c.lastError } : {}) });
}

/** The shape a request asks for, or why it cannot be had. */
export function requestedShape(c: PoolShape, message: PoolEvent | Payload): { shape: PoolShape } | { error: string } {
  // Read as data: local senders are not schema-checked.
  const event = message as Payload;
  if (event.type === 'council.scale') {
    const p = parseProposal({ kind: 'scale_servants', count: event.count });
    if (!p.ok) return { error: p.error };
    return { shape: { ...c, desired: (p.value as { count: number }).count, rev: c.rev + 1 } };
  }
  const kind = event.type === 'council.quarantine' ? 'quarantine' : 'release';
  const p = parseProposal({ kind, target: event.target });
  if (!p.ok) return { error: p.error };
  const id = (p.value as { target: string }).target.split('/').pop()!;
  if (kind === 'quarantine') {
    if (c.quarantined.includes(id)) return { error: `${id} is already quarantined` };
    return { shape: { ...c, quarantined: [...c.quarantined, id], rev: c.rev + 1 } };
  }
  if (!c.quarantined.includes(id)) return { error: `${id} is not quarantined` };
  return { shape: { ...c, quarantined: c.quarantined.filter((q) => q !== id), rev: c.rev + 1 } };
}

export const servantPoolMachine = setup({
  types: {
    context: {} as PoolContext,
    input: {} as PoolInput,
    events: {} as PoolEvent,
  },
  actors: {
    clock,
    apply: fromRuntime<{ running: string[] }, ApplyInput>('the servant pool', ({ input, runtime }) => applyShape(runtime, input)),
    read: fromRuntime<PoolShape | undefined, { servants: string }>('the servant pool', ({ input, runtime }) => readShape(runtime, input.servants)),
  },
  actions: {
    deliver,
    request: enqueueActions(({ context, event, system, enqueue }) => {
      const envelope = currentEnvelope(system);
      if (event.type !== 'council.scale' && event.type !== 'council.quarantine' && event.type !== 'council.release') return;
      const r = requestedShape(shapeOf(context), event);
      if ('error' in r) {
        enqueue({ type: 'deliver', params: { effects: [answer(event, envelope, refuse(r.error))] } });
        return;
      }
      enqueue.assign({ ...r.shape, dirty: true, waiting: [...context.waiting, envelope] });
    }),
    status: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'pool.status') return;
      enqueue({ type: 'deliver', params: { effects: [answer(event, currentEnvelope(system), status(context))] } });
    }),
  },
  guards: {
    dirty: ({ context }) => context.dirty,
    newer: ({ context, event }) => {
      const shape = (event as unknown as { output?: PoolShape }).output;
      return shape !== undefined && shape.rev > context.rev;
    },
  },
}).createMachine({
  id: 'servant-pool',
  context: ({ input }) => ({
    servants: input.servants ?? ELDER_PATHS.servants,
    template: input.template,
    reconcileMs: input.reconcileMs ?? 0,
    desired: input.initial,
    quarantined: [],
    rev: 0,
    dirty: false,
    waiting: [],
    running: Array.from({ length: input.initial }, (_, i) => servantId(i + 1)),
    lastError: undefined,
  }),
  on: {
    'council.scale': { actions: 'request' },
    'council.quarantine': { actions: 'request' },
    'council.release': { actions: 'request' },
    'pool.status': { actions: 'status' },
  },
  initial: 'reading',
  states: {
    // At start and on the clock: adopt a newer decided shape (another node's pool, or before a restart).
    reading: {
      invoke: {
        src: 'read',
        input: ({ context }) => ({ servants: context.servants }),
        onDone: [
          { guard: 'newer', target: 'applying', actions: assign(({ event }) => ({ ...event.output!, dirty: false })) },
          { guard: 'dirty', target: 'applying' },
          { target: 'idle' },
        ],
        onError: [{ guard: 'dirty', target: 'applying' }, { target: 'idle' }],
      },
    },
    idle: {
      invoke: { src: 'clock', input: ({ context }) => ({ every: context.reconcileMs }) },
      always: { guard: 'dirty', target: 'applying' },
      on: { tick: 'reading' },
    },
    applying: {
      entry: assign({ dirty: false }),
      invoke: {
        src: 'apply',
        input: ({ context }) => ({ servants: context.servants, template: context.template, shape: shapeOf(context), publish: context.waiting.length > 0 }),
        onDone: [
          { guard: 'dirty', target: 'applying', reenter: true, actions: assign({ running: ({ event }) => event.output.running, lastError: undefined }) },
          {
            target: 'idle',
            actions: [
              assign({ running: ({ event }) => event.output.running, lastError: undefined }),
              enqueueActions(({ context, enqueue }) => {
                const effects: Effect[] = context.waiting.map((e) => answerLater<Request>(e, status(context)));
                enqueue.assign({ waiting: [] });
                if (effects.length) enqueue({ type: 'deliver', params: { effects } });
              }),
            ],
          },
        ],
        onError: {
          target: 'idle',
          actions: enqueueActions(({ context, event, enqueue }) => {
            const error = `could not change the servants: ${(event.error as Error)?.message ?? describe(event.error)}`;
            const effects: Effect[] = context.waiting.map((e) => answerLater<Request>(e, refuse(error)));
            enqueue.assign({ waiting: [], lastError: error });
            if (effects.length) enqueue({ type: 'deliver', params: { effects } });
          }),
        },
      },
    },
  },
});
