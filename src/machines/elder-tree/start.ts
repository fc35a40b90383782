/**
 * One node running the Elder Tree on the embedded transport, wired: role checks on
 * every message, the services the elders use (task locks, snapshots, the tree), and
 * the event bridge to the incident and task sages. For tests, tools and the runtime.
 */
import { MemorySnapshotStore, type SnapshotStore } from '../../cluster/snapshots.js';
import { MemoryTaskLocks } from '../../cluster/task-locks.js';
import { createAuthorizer } from '../../security/roles.js';
import { Node, type NodeOptions } from '../../supervision/node.js';
import { attachElderTree, type Bridge, type BridgeOptions } from './bridge.js';
import { NodeTreeControl, TREE_SERVICE } from './tree-control.js';
import { elderTree, type ElderTreeOptions, type ElderTreePaths } from './tree.js';

export interface StartElderTreeOptions extends ElderTreeOptions {
  /** Node options (nodeId, logger, onEvent, askTimeout, ...); tree, authorize and services are set here. */
  node?: Omit<NodeOptions, 'tree'>;
  /** Snapshot store (default in memory; the runtime passes a file store). */
  snapshots?: SnapshotStore;
  bridge?: Omit<BridgeOptions, 'control'>;
  /** false runs without role checks (default: checked). */
  authorize?: boolean;
}

export interface ElderTreeNode {
  /** Typed by the tree: `node.ref('/grand-elder/claude-elder/task-sage')` is a reference to the task sage. */
  node: Node<ElderTreePaths>;
  bridge: Bridge;
  stop(): Promise<unknown>;
}

/** The services the Elder Tree needs on a node, for Node.start or ClusterNode.start. */
export function elderTreeServices(extra: { locks?: unknown; snapshots?: unknown } = {}): { services: Record<string, unknown>; control: NodeTreeControl } {
  const control = new NodeTreeControl();
  const services: Record<string, unknown> = { [TREE_SERVICE]: control };
  if (extra.locks !== undefined) services.locks = extra.locks;
  if (extra.snapshots !== undefined) services.snapshots = extra.snapshots;
  return { services, control };
}

export async function startElderTree(options: StartElderTreeOptions = {}): Promise<ElderTreeNode> {
  const { node: nodeOptions, snapshots, bridge: bridgeOptions, authorize, ...treeOptions } = options;
  const { services, control } = elderTreeServices({ locks: new MemoryTaskLocks(), snapshots: snapshots ?? new MemorySnapshotStore() });
  const node = await Node.start({
    ...nodeOptions,
    tree: elderTree(treeOptions),
    ...(authorize === false ? {} : { authorize: createAuthorizer() }),
    services: { ...nodeOptions?.services, ...services },
  });
  const bridge = attachElderTree(node, { ...bridgeOptions, control });
  return {
    node,
    bridge,
    async stop() {
      bridge.detach();
      return node.stop();
    },
  };
}
