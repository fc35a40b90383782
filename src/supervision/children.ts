import type { Child } from './child.js';

/**
 * A supervisor's children: in start order, and by id (start_child and friends must not
 * scan 100k children). A dynamic supervisor's have no order, so one leaves in O(1): the
 * last takes its place.
 */
export class ChildList {
  /** Start order (a dynamic supervisor's: no particular order). */
  items: Child[] = [];
  private byId = new Map<string, Child>();

  constructor(private readonly dynamic: boolean) {}

  get size(): number {
    return this.items.length;
  }

  get(id: string): Child | undefined {
    return this.byId.get(id);
  }

  /** Still this very child (not one removed, nor another with its id since). */
  has(child: Child): boolean {
    return this.byId.get(child.spec.id) === child;
  }

  add(child: Child): void {
    child.index = this.items.push(child) - 1;
    this.byId.set(child.spec.id, child);
  }

  remove(child: Child): void {
    if (!this.has(child)) return;
    this.byId.delete(child.spec.id);
    child.restarting = false;
    if (this.dynamic) {
      const last = this.items.pop()!;
      if (last !== child) {
        this.items[child.index] = last;
        last.index = child.index;
      }
    } else {
      const i = this.items.indexOf(child);
      if (i >= 0) this.items.splice(i, 1);
    }
  }

  /** rest_for_one: this child and the ones started after it. */
  from(child: Child): Child[] {
    return this.items.slice(this.items.indexOf(child));
  }

  /** Empties the list; returns what it held, by id. */
  clear(): Map<string, Child> {
    const old = this.byId;
    this.items = [];
    this.byId = new Map();
    return old;
  }
}

/**
 * Restarts waiting for their turn: after one turn of the event loop (OTP's
 * try_again_restart, a message the supervisor casts to itself) or a backoff delay.
 */
export class PendingRestarts {
  private readonly cancels = new Set<() => void>();

  get size(): number {
    return this.cancels.size;
  }

  schedule(delay: number, fire: () => void): void {
    let cancel: () => void;
    const go = () => {
      this.cancels.delete(cancel);
      fire();
    };
    if (delay > 0) {
      const timer = setTimeout(go, delay);
      cancel = () => clearTimeout(timer);
    } else {
      // setImmediate, not a microtask: timers, I/O and mail get their turn first.
      const immediate = setImmediate(go);
      cancel = () => clearImmediate(immediate);
    }
    this.cancels.add(cancel);
  }

  cancelAll(): void {
    for (const cancel of this.cancels) cancel();
    this.cancels.clear();
  }
}
