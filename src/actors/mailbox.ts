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
import { DEFAULT_PRIORITY } from './envelope.js';

const STRIDE = 6;
// Small: an entity that took one message keeps its ring while it idles.
const FIRST_RECORDS = 2;

/** What makes a local tell's fields into a message object (dead letters, `current`, drain). */
export interface LocalMaker<T> {
  made(type: string, fields: LocalFields): T;
}

/** A local tell's fields besides its type. */
export interface LocalFields {
  payload: Record<string, unknown>;
  source: string;
  seq: number;
  n: number;
  t: number;
  priority: number;
}

/**
 * The fields of the local tell that `shift` returned last: one shared record, read at
 * once by whoever shifted (JS runs one shift at a time), so no mailbox carries six
 * more fields for it.
 */
export const shifted: LocalFields = { payload: {}, source: '', seq: 0, n: 0, t: 0, priority: 0 };

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

export class Mailbox<T extends { priority: number }> {
  /**
   * The default priority's ring, where nearly all mail goes, in a field of its own: an
   * idle actor then carries no array of ten ring slots (a region's idle entities are
   * hundreds of thousands of mailboxes).
   */
  private normal: Ring | undefined;
  /** The other priorities' rings, made on the first message of any of them. */
  private rings: (Ring | undefined)[] | undefined;
  private mask = 0;
  size = 0;

  push(message: T): void {
    this.ring(message.priority).push(message, undefined, undefined, undefined, undefined, undefined);
  }

  /** A local tell, kept as fields; `shift` returns its type. */
  pushLocal(priority: number, type: string, payload: Record<string, unknown>, source: string, seq: number, n: number, t: number): void {
    this.ring(priority).push(type, payload, source, seq, n, t);
  }

  private ring(p: number): Ring {
    const ring = p === DEFAULT_PRIORITY ? (this.normal ??= new Ring()) : ((this.rings ??= new Array<Ring | undefined>(10))[p] ??= new Ring());
    this.mask |= 1 << p;
    this.size++;
    return ring;
  }

  /** The next message, or a local tell's type (its other fields are then in `shifted`). */
  shift(): T | string | undefined {
    if (this.mask === 0) return undefined;
    const p = 31 - Math.clz32(this.mask);
    const ring = p === DEFAULT_PRIORITY ? this.normal! : this.rings![p]!;
    const item = ring.shift(shifted) as T | string;
    if (ring.size === 0) this.mask &= ~(1 << p);
    this.size--;
    if (typeof item === 'string') shifted.priority = p;
    return item;
  }

  /**
   * Removes everything, highest priority first, FIFO within a priority; local tells are
   * made into messages by `maker`.
   */
  drain(maker: LocalMaker<T>): T[] {
    const out: T[] = [];
    for (let m = this.shift(); m !== undefined; m = this.shift()) out.push(typeof m === 'string' ? maker.made(m, shifted) : m);
    return out;
  }
}
