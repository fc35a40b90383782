/**
 * The node's supervisors as a service for machines (service name 'tree'): OTP's
 * start_child / which_children, so that a council decision really changes the tree.
 * The service exists before the node does (services are handed to Node.start), so it
 * is bound once the node is up; calls made earlier wait for that.
 */
import type { ChildInfo } from '../../supervision/machine.js';
import type { Node } from '../../supervision/node.js';
import type { ChildSpec } from '../../supervision/spec.js';

export const TREE_SERVICE = 'tree';

export interface TreeControl {
  whichChildren(supervisorPath: string): Promise<ChildInfo[]>;
  startChild(supervisorPath: string, spec: ChildSpec): Promise<ChildInfo>;
  /** Stops and forgets a child (terminate_child + delete_child). */
  removeChild(supervisorPath: string, id: string): Promise<void>;
}

export class NodeTreeControl implements TreeControl {
  private node: Node | undefined;
  private bound!: (node: Node) => void;
  private readonly ready = new Promise<Node>((resolve) => (this.bound = resolve));

  bind(node: Node): void {
    this.node = node;
    this.bound(node);
  }

  private async get(): Promise<Node> {
    return this.node ?? this.ready;
  }

  async whichChildren(supervisorPath: string): Promise<ChildInfo[]> {
    return (await this.get()).whichChildren(supervisorPath);
  }

  async startChild(supervisorPath: string, spec: ChildSpec): Promise<ChildInfo> {
    return (await this.get()).startChild(supervisorPath, spec);
  }

  async removeChild(supervisorPath: string, id: string): Promise<void> {
    return (await this.get()).removeChild(supervisorPath, id);
  }
}
