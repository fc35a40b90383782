/**
 * The newest `capacity` items of an append-only stream, each with its sequence number
 * (1, 2, 3...), so a reader can ask for "everything after n" without copying the lot.
 */
export class SeqLog<T> {
  private readonly items: (T | undefined)[];
  /** Items ever pushed: also the seq of the newest. */
  total = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  push(item: T): number {
    this.items[this.total % this.capacity] = item;
    return ++this.total;
  }

  /** Items with seq > `seq` still held, oldest first. */
  since(seq: number, limit = this.capacity): { seq: number; item: T }[] {
    const first = Math.max(seq + 1, this.total - this.capacity + 1, this.total - limit + 1, 1);
    const out: { seq: number; item: T }[] = [];
    for (let s = first; s <= this.total; s++) out.push({ seq: s, item: this.items[(s - 1) % this.capacity]! });
    return out;
  }

  last(): T | undefined {
    return this.total === 0 ? undefined : this.items[(this.total - 1) % this.capacity];
  }
}
