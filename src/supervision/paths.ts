/**
 * The paths of a tree written in code, as types: `/app/counter` -> the kind of the actor
 * there. A node started with such a tree checks every typed reference against it: a path
 * typo, or a kind that is not the one at that path, does not compile. A tree read from a
 * file is not known to the compiler: every path is allowed, with the kind one names.
 */
import type { AnyKind } from '../actors/kind.js';
import type { SupervisorSpec, WorkerSpec } from './spec.js';

/** Path -> kind of every worker of a tree. */
export type PathMap = Record<string, AnyKind>;

// Depth is bounded (trees deeper than 8 levels type their deeper paths as any path), and a
// supervisor whose id is not a literal stops the walk: both keep the compiler finite.
type Depth = [never, 0, 1, 2, 3, 4, 5, 6, 7];

type Entry<S, Prefix extends string, D extends number = 8> = [D] extends [never]
  ? never
  : S extends { entities: unknown }
    ? never // entities are addressed by kind and key: node.entity(Cart, key)
    : S extends SupervisorSpec<infer Id, infer Children>
    ? string extends Id
      ? never
      : Entry<Children[number], `${Prefix}/${Id}`, Depth[D]>
    : S extends WorkerSpec<infer _Machine, infer Id, infer K>
      ? { path: `${Prefix}/${Id}`; kind: K }
      : never;

/** The paths of a tree (a supervisor spec) and the kinds at them. */
export type PathsOf<T extends SupervisorSpec> = string extends T['id']
  ? PathMap
  : { [E in Entry<T, ''> as E['path']]: E['kind'] };

/**
 * The path P checked for a reference of kind K: a path the tree does not know (children
 * started at run time, supervisors, other trees) passes; a known one only where an actor
 * of that kind lives (else `never`, and the call does not compile).
 */
export type PathFor<TPaths extends PathMap, K extends AnyKind, P extends string> = 0 extends 1 & TPaths
  ? P
  : P extends keyof TPaths
  ? SameKind<TPaths[P], K> extends true
    ? P
    : never
  : P;

/** Named kinds match by name; a bare machine's kind by its machine type. */
type SameKind<A extends AnyKind, B extends AnyKind> = string extends A['name']
  ? [A['machine']] extends [B['machine']]
    ? true
    : false
  : A['name'] extends B['name']
    ? true
    : false;
