/**
 * Priority mailbox: one FIFO per priority (0..9), highest non-empty taken first.
 * FIFO within a priority gives per-pair FIFO for free. A bitmask finds the top
 * priority without scanning. Each FIFO is a ring buffer that doubles when full: a
 * mailbox that never empties under steady load neither copies nor reallocates.
 * Rings are made on first use, so 100k idle actors carry no empty arrays.
 */
class Ring<T> {
  private items: (T | undefined)[] = new Array(16);
  private head = 0;
  size = 0;

  push(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size--;
    return item;
  }

  private grow(): void {
    const old = this.items;
    const items = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.size; i++) items[i] = old[(this.head + i) & (old.length - 1)];
    this.items = items;
    this.head = 0;
  }
}

export class Mailbox<T extends { priority: number }> {
  private rings: (Ring<T> | undefined)[] | undefined;
  private mask = 0;
  size = 0;

  push(message: T): void {
    const p = message.priority;
    const rings = (this.rings ??= new Array<Ring<T> | undefined>(10));
    (rings[p] ??= new Ring<T>()).push(message);
    this.mask |= 1 << p;
    this.size++;
  }

  shift(): T | undefined {
    if (this.mask === 0) return undefined;
    const p = 31 - Math.clz32(this.mask);
    const ring = this.rings![p]!;
    const message = ring.shift();
    if (ring.size === 0) this.mask &= ~(1 << p);
    this.size--;
    return message;
  }

  /** Removes everything, highest priority first, FIFO within a priority. */
  drain(): T[] {
    const out: T[] = [];
    for (let m = this.shift(); m !== undefined; m = this.shift()) out.push(m);
    return out;
  }
}
