import { createHash } from 'node:crypto';
import { fromCallback, setup, type AnyActorRef } from 'xstate';
import type { Logger } from '../log.js';
import type { Node } from '../supervision/node.js';
import { isSupervisorSpec, worker, type ChildSpec, type SupervisorSpec } from '../supervision/spec.js';
import type { LeaseStore } from './lease.js';
import { LeaseKeeper, leaseErrorLog } from './lease-keeper.js';
import type { Membership } from './membership.js';

/** What the guards of one node share. */
export interface PlacementContext {
  self: string;
  /** The node, once started: guards act through its supervisors. */
  node: () => Node | undefined;
  membership: () => Membership | undefined;
  leases: LeaseStore;
  /** Singleton lease TTL: failover takes about this long after an owner dies. */
  singletonTtlMs: number;
  logger: Logger;
}

/** Prefix of the guard that stands in for a placed child in its parent's spec. */
export const GUARD_PREFIX = '_placed_';

/**
 * This node's share of a tree. Children without placement run here (as on every
 * node); a child pinned to another node is left out; a singleton or a replicated
 * child is replaced by a guard worker that starts and stops the real child with
 * OTP's start_child / terminate as its lease or the membership says.
 */
export function placeTree(tree: SupervisorSpec, ctx: PlacementContext): SupervisorSpec {
  return placeSupervisor(tree, '', ctx);
}

function placeSupervisor(spec: SupervisorSpec, parentPath: string, ctx: PlacementContext): SupervisorSpec {
  const path = `${parentPath}/${spec.id}`;
  const children = spec.children.flatMap((child) => {
    const placed = placeChild(child, path, ctx);
    return placed ? [placed] : [];
  });
  return { ...spec, children };
}

function placeChild(spec: ChildSpec, parentPath: string, ctx: PlacementContext): ChildSpec | undefined {
  const inner = isSupervisorSpec(spec) ? placeSupervisor(spec, parentPath, ctx) : spec;
  const placement = spec.placement;
  if (!placement) return inner;
  if (placement.node !== undefined) return placement.node === ctx.self ? inner : undefined;
  if (placement.singleton) {
    if (placement.standby && !placement.standby.includes(ctx.self)) return undefined;
    return guard(inner, parentPath, ctx, 'singleton', 1);
  }
  if (placement.replicas !== undefined) return guard(inner, parentPath, ctx, 'replicas', placement.replicas);
  return inner;
}

interface GuardInput {
  ctx: PlacementContext;
  parentPath: string;
  spec: ChildSpec;
  mode: 'singleton' | 'replicas';
  replicas: number;
}

function guard(spec: ChildSpec, parentPath: string, ctx: PlacementContext, mode: GuardInput['mode'], replicas: number): ChildSpec {
  return worker(`${GUARD_PREFIX}${spec.id}`, guardMachine, {
    input: { ctx, parentPath, spec, mode, replicas },
    shutdown: 'brutal_kill',
  });
}

/** Rendezvous hashing: every node computes the same N nodes for a path from the same members. */
export function chooseNodes(path: string, up: readonly string[], n: number): string[] {
  const score = (node: string) => createHash('sha1').update(`${path}|${node}`).digest().readUInt32BE(0);
  return [...up].sort((a, b) => score(b) - score(a) || a.localeCompare(b)).slice(0, n);
}

/**
 * The guard's logic runs in callback actors; the machine shows where it stands
 * (standby or running the child here), as the inspector shows any actor.
 */
const guardMachine = setup({
  types: {
    input: {} as GuardInput,
    context: {} as GuardInput,
    events: {} as { type: 'placement.run' } | { type: 'placement.drop'; reason: string } | { type: 'placement.failed'; error: string },
  },
  actors: {
    // Lease for a singleton, membership for replicas: either way, run or drop events.
    placement: fromCallback<{ type: string }, GuardInput>((args) =>
      args.input.mode === 'singleton' ? watchLease(args) : watchMembers(args),
    ),
  },
  actions: {
    run: ({ context, self }) => schedule(context, self, 'run'),
    drop: ({ context, self }) => schedule(context, self, 'drop'),
    fail: ({ event }) => {
      throw new Error((event as { error: string }).error);
    },
  },
}).createMachine({
  id: 'placement-guard',
  context: ({ input }) => input,
  invoke: { src: 'placement', input: ({ context }) => context },
  initial: 'standby',
  states: {
    standby: { on: { 'placement.run': { target: 'running', actions: 'run' } } },
    running: { on: { 'placement.drop': { target: 'standby', actions: 'drop' } } },
  },
  on: { 'placement.failed': { actions: 'fail' } },
});


type Watch = (args: { sendBack: (event: { type: string; reason?: string }) => void; input: GuardInput }) => () => void;

const watchLease: Watch = ({ sendBack, input }) => {
  const { ctx } = input;
  const path = `${input.parentPath}/${input.spec.id}`;
  let stopped = false;
  let keeper: LeaseKeeper | undefined;
  // A restarted guard must not start its keeper before the previous one has let go:
  // two keepers of one owner in one process would both believe they hold the lease.
  const previous = stateOf(ctx).keepers.get(path) ?? Promise.resolve();
  const started = previous.then(() => {
    if (stopped) return;
    keeper = new LeaseKeeper(ctx.leases, `singleton${path}`, ctx.self, {
      ttlMs: ctx.singletonTtlMs,
      onAcquired: () => sendBack({ type: 'placement.run' }),
      onLost: (reason) => sendBack({ type: 'placement.drop', reason: `lease ${reason}` }),
      onError: leaseErrorLog(ctx.logger, `lease ${path}`, path, ctx.leases, { path }),
    });
    const current = keeper;
    stateOf(ctx).fences.set(path, () => current.isOwner());
    keeper.start();
  });
  const done = started.then(
    () =>
      new Promise<void>((resolve) => {
        release = resolve;
      }),
  );
  let release: (() => void) | undefined;
  stateOf(ctx).keepers.set(path, done);
  return () => {
    stopped = true;
    // The guard is going (restart, shutdown): drop the child before giving up the
    // lease, so a standby can never run it while this copy still does.
    void started
      .then(() => step(input, path, 'drop'))
      .finally(async () => {
        stateOf(ctx).fences.delete(path);
        await keeper?.stop();
        release?.();
      });
  };
};

const watchMembers: Watch = ({ sendBack, input }) => {

      const { ctx } = input;
      const path = `${input.parentPath}/${input.spec.id}`;
      let running = false;
      const evaluate = () => {
        const membership = ctx.membership();
        if (!membership) return;
        const chosen = chooseNodes(path, membership.up(), input.replicas).includes(ctx.self);
        if (chosen !== running) {
          running = chosen;
          sendBack(chosen ? { type: 'placement.run' } : { type: 'placement.drop', reason: 'not among the chosen replicas' });
        }
      };
      // Hear the peers' first heartbeats before choosing, or every node would start a copy.
      const first = setTimeout(() => {
        evaluate();
        unsubscribe = ctx.membership()?.onChange(evaluate);
      }, 2 * (ctx.membership()?.intervalMs ?? 150));
      let unsubscribe: (() => void) | undefined;
      return () => {
        clearTimeout(first);
        unsubscribe?.();
        void step(input, path, 'drop');
      };
};

/** What one node's guards keep by child path. Per context: tests run several nodes in one process. */
interface GuardState {
  /** The keeper of each singleton path, settled once it has let go. */
  keepers: Map<string, Promise<void>>;
  /** Lease checks, for fencing the cells of a singleton subtree. */
  fences: Map<string, () => boolean>;
  /** Start/stop of one placed child, one at a time. */
  chains: Map<string, Promise<void>>;
  unfences: Map<string, () => void>;
}

const states = new WeakMap<PlacementContext, GuardState>();

function stateOf(ctx: PlacementContext): GuardState {
  let state = states.get(ctx);
  if (!state) states.set(ctx, (state = { keepers: new Map(), fences: new Map(), chains: new Map(), unfences: new Map() }));
  return state;
}

function schedule(input: GuardInput, self: AnyActorRef, what: 'run' | 'drop'): void {
  const path = `${input.parentPath}/${input.spec.id}`;
  step(input, path, what).catch((err: Error) => {
    input.ctx.logger.error({ err, path }, `placement of ${path} failed: ${err.message}`);
    self.send({ type: 'placement.failed', error: `placement of ${path} failed: ${err.message}` });
  });
}

/** Runs start/stop of one placed child strictly one after the other. */
function step(input: GuardInput, path: string, what: 'run' | 'drop'): Promise<void> {
  const { chains } = stateOf(input.ctx);
  const next = (chains.get(path) ?? Promise.resolve()).then(() => (what === 'run' ? run(input, path) : drop(input, path)));
  chains.set(path, next.catch(() => undefined));
  return next;
}

async function run(input: GuardInput, path: string): Promise<void> {
  const node = await nodeOf(input.ctx);
  const { fences, unfences } = stateOf(input.ctx);
  const check = fences.get(path);
  if (check) {
    // Fencing: not one message more once the lease is no longer valid here.
    unfences.set(path, node.system.fence(path, check, () => undefined));
  }
  if (node.whichChildren(input.parentPath).some((c) => c.id === input.spec.id)) return; // still running
  input.ctx.logger.info({ path, mode: input.mode }, `${path} runs here (${input.mode})`);
  await node.startChild(input.parentPath, input.spec);
}

async function drop(input: GuardInput, path: string): Promise<void> {
  const node = input.ctx.node();
  if (!node || node.root.state === 'stopped' || node.root.state === 'stopping') return;
  let here: boolean;
  try {
    here = node.whichChildren(input.parentPath).some((c) => c.id === input.spec.id);
  } catch {
    return; // its supervisor is gone already
  }
  if (!here) return;
  input.ctx.logger.info({ path, mode: input.mode }, `${path} leaves this node`);
  await node.removeChild(input.parentPath, input.spec.id);
  const { unfences } = stateOf(input.ctx);
  unfences.get(path)?.();
  unfences.delete(path);
}

async function nodeOf(ctx: PlacementContext): Promise<Node> {
  // Guards start while Node.start() is still running: wait for the node to be handed over.
  for (let i = 0; i < 1000; i++) {
    const node = ctx.node();
    if (node) return node;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the node did not finish starting');
}
