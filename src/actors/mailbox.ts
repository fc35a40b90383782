/**
 * Priority mailbox: one FIFO per priority (0..9), highest non-empty taken first.
 * FIFO within a priority gives per-pair FIFO for free. A bitmask finds the top
 * priority without scanning. Each FIFO is a ring buffer that doubles when full: a
 * mailbox that never empties under steady load neither copies nor reallocates.
 * Rings are made on first use, so 100k idle actors carry no empty arrays.
 *
 * An entry is either a message object, or a local tell kept as its fields in the ring's
 * own slots (type, payload, sender, seq, id number, clock): a tell between actors of one node
 * then allocates nothing that waits in the mailbox, so a deep mailbox is not thousands of
 * young objects for every garbage collection to copy and promote.
 */
const STRIDE = 6;
// Small: an entity that took one message keeps its ring while it idles.
const FIRST_RECORDS = 2;

/** A local tell's fields, made into a message object (dead letters, `current`, drain). */
export type Materialize<T> = (type: string, payload: Record<string, unknown>, source: string, seq: number, n: number, t: number, priority: number) => T;

class Ring {
  private slots: unknown[] = new Array(FIRST_RECORDS * STRIDE);
  private records = FIRST_RECORDS;
  private head = 0;
  size = 0;

  push(item: unknown, payload: unknown, source: unknown, seq: unknown, n: unknown, t: unknown): void {
    if (this.size === this.records) this.grow();
    const i = ((this.head + this.size) & (this.records - 1)) * STRIDE;
    const slots = this.slots;
    slots[i] = item;
    slots[i + 1] = payload;
    slots[i + 2] = source;
    slots[i + 3] = seq;
    slots[i + 4] = n;
    slots[i + 5] = t;
    this.size++;
  }

  /** The head's item; a local tell's other fields go to `out`. */
  shift(out: LocalFields): unknown {
    const i = this.head * STRIDE;
    const slots = this.slots;
    const item = slots[i];
    if (typeof item === 'string') {
      out.payload = slots[i + 1] as Record<string, unknown>;
      out.source = slots[i + 2] as string;
      out.seq = slots[i + 3] as number;
      out.n = slots[i + 4] as number;
      out.t = slots[i + 5] as number;
      slots[i + 1] = undefined;
      slots[i + 2] = undefined;
    }
    slots[i] = undefined;
    this.head = (this.head + 1) & (this.records - 1);
    this.size--;
    return item;
  }

  private grow(): void {
    const old = this.slots;
    const records = this.records * 2;
    const slots = new Array<unknown>(records * STRIDE);
    for (let r = 0; r < this.size; r++) {
      const from = ((this.head + r) & (this.records - 1)) * STRIDE;
      for (let k = 0; k < STRIDE; k++) slots[r * STRIDE + k] = old[from + k];
    }
    this.slots = slots;
    this.records = records;
    this.head = 0;
  }
}

interface LocalFields {
  payload: Record<string, unknown>;
  source: string;
  seq: number;
  n: number;
  t: number;
  priority: number;
}

export class Mailbox<T extends { priority: number }> implements LocalFields {
  private rings: (Ring | undefined)[] | undefined;
  private mask = 0;
  size = 0;
  /** The fields of the local tell `shift` returned last (its type was the return value). */
  payload: Record<string, unknown> = {};
  source = '';
  seq = 0;
  n = 0;
  t = 0;
  priority = 0;

  constructor(private readonly materialize?: Materialize<T>) {}

  push(message: T): void {
    this.ring(message.priority).push(message, undefined, undefined, undefined, undefined, undefined);
  }

  /** A local tell, kept as fields; `shift` returns its type. */
  pushLocal(priority: number, type: string, payload: Record<string, unknown>, source: string, seq: number, n: number, t: number): void {
    this.ring(priority).push(type, payload, source, seq, n, t);
  }

  private ring(p: number): Ring {
    const rings = (this.rings ??= new Array<Ring | undefined>(10));
    const ring = (rings[p] ??= new Ring());
    this.mask |= 1 << p;
    this.size++;
    return ring;
  }

  /** The next message, or a local tell's type (its fields are then on this mailbox). */
  shift(): T | string | undefined {
    if (this.mask === 0) return undefined;
    const p = 31 - Math.clz32(this.mask);
    const ring = this.rings![p]!;
    const item = ring.shift(this) as T | string;
    if (ring.size === 0) this.mask &= ~(1 << p);
    this.size--;
    if (typeof item === 'string') this.priority = p;
    return item;
  }

  /** Removes everything, highest priority first, FIFO within a priority; local tells made into messages. */
  drain(): T[] {
    const out: T[] = [];
    for (let m = this.shift(); m !== undefined; m = this.shift()) out.push(typeof m === 'string' ? this.made(m) : m);
    return out;
  }

  /** The local tell `shift` just returned, as a message object. */
  made(type: string): T {
    if (this.materialize === undefined) throw new Error('this mailbox holds local tells but cannot make messages of them');
    return this.materialize(type, this.payload, this.source, this.seq, this.n, this.t, this.priority);
  }
}
