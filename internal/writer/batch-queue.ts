import type { SpoolEntry } from './spool.js';
import type { WriteTarget } from './transport.js';

/** One request body on its way: sealed from memory, or handed out by the spool. */
export interface Batch {
  readonly target: WriteTarget;
  readonly body: string;
  readonly points: number;
  /** Sealing order, to put a retried batch back in its place (-1 for spool batches). */
  readonly seq: number;
  /** Set when the batch came from the spool (it is acknowledged there). */
  readonly entry: SpoolEntry | undefined;
  /** The probe ticket when this is the one request allowed while the output fails. */
  probe?: number | undefined;
  /** Given up by close() after the deadline: a late outcome of its request changes nothing. */
  abandoned?: boolean;
  /** The oldest write-ahead log group among its lines (undefined without a log, and for spool batches). */
  walGroup?: number | undefined;
}

/** Options for {@link BatchQueue}. */
export interface BatchQueueOptions {
  /** Lines per batch. */
  batchSize: number;
  /** Cap on one batch body, in UTF-16 code units. */
  maxBatchBytes: number;
}

interface OpenBatch {
  lines: string[];
  bytes: number;
  walGroup: number | undefined;
}

/**
 * The memory queue: one open batch per target, filled line by line and sealed by count, bytes
 * or flush, then sealed batches in order. Knows nothing of requests or the spool.
 */
export class BatchQueue {
  readonly #o: BatchQueueOptions;
  #open: Record<WriteTarget, OpenBatch> = { primary: openBatch(), health: openBatch() };
  #ready: Batch[] = [];
  #points = 0;
  #seq = 0;

  constructor(opts: BatchQueueOptions) {
    this.#o = opts;
  }

  /** Points held (open and sealed). */
  get points(): number {
    return this.#points;
  }

  /** Sealed batches waiting. */
  get sealed(): number {
    return this.#ready.length;
  }

  /** Adds a line (of write-ahead log group `walGroup`) to the target's open batch; true when that filled and sealed it. */
  add(target: WriteTarget, line: string, walGroup?: number): boolean {
    const b = this.#open[target];
    if (b.lines.length === 0) b.walGroup = walGroup;
    b.lines.push(line);
    b.bytes += line.length + 1;
    this.#points++;
    if (b.lines.length < this.#o.batchSize && b.bytes < this.#o.maxBatchBytes) return false;
    return this.seal(target);
  }

  /** Seals the target's open batch; false when it was empty. */
  seal(target: WriteTarget): boolean {
    const b = this.#open[target];
    if (b.lines.length === 0) return false;
    this.#open[target] = openBatch();
    this.#ready.push({
      target,
      body: b.lines.join('\n'),
      points: b.lines.length,
      seq: this.#seq++,
      entry: undefined,
      walGroup: b.walGroup,
    });
    return true;
  }

  /** Takes the oldest sealed batch. */
  shift(): Batch | undefined {
    const b = this.#ready.shift();
    if (b) this.#points -= b.points;
    return b;
  }

  /**
   * Takes the oldest sealed batch merged with the sealed batches after it of the same target
   * while the body stays within `maxBytes` (UTF-16 code units): a backlog leaves in one request
   * instead of one round trip per batch. Seq and write-ahead log group are the oldest's.
   */
  shiftCoalesced(maxBytes: number): Batch | undefined {
    const first = this.shift();
    if (!first) return undefined;
    const bodies = [first.body];
    let bytes = first.body.length;
    let points = first.points;
    let walGroup = first.walGroup;
    for (let next = this.#ready[0]; next !== undefined; next = this.#ready[0]) {
      if (next.target !== first.target || bytes + 1 + next.body.length > maxBytes) break;
      this.shift();
      bodies.push(next.body);
      bytes += 1 + next.body.length;
      points += next.points;
      if (next.walGroup !== undefined && (walGroup === undefined || next.walGroup < walGroup)) walGroup = next.walGroup;
    }
    if (bodies.length === 1) return first;
    return { ...first, body: bodies.join('\n'), points, walGroup };
  }

  /** Puts batches back at the front (the halves of a split batch, a batch the spool refused). */
  unshift(...batches: Batch[]): void {
    this.#ready.unshift(...batches);
    for (const b of batches) this.#points += b.points;
  }

  /** Puts a batch back in sealing order, so a retried outage keeps the points in the order they were written. */
  putBack(batch: Batch): void {
    let i = 0;
    while (i < this.#ready.length && this.#ready[i]!.seq <= batch.seq) i++;
    this.#ready.splice(i, 0, batch);
    this.#points += batch.points;
  }

  /** Adds a batch after the sealed ones. */
  push(batch: Batch): void {
    this.#ready.push(batch);
    this.#points += batch.points;
  }

  /** Removes at least `n` of the oldest points if held (whole sealed batches first, then the oldest open lines); returns how many. */
  shed(n: number): number {
    let dropped = 0;
    while (dropped < n && this.#ready.length > 0) dropped += this.shift()!.points;
    for (const target of ['primary', 'health'] as const) {
      const b = this.#open[target];
      if (dropped >= n || b.lines.length === 0) continue;
      const k = Math.min(n - dropped, b.lines.length);
      const gone = b.lines.splice(0, k);
      for (const l of gone) b.bytes -= l.length + 1;
      this.#points -= k;
      dropped += k;
    }
    return dropped;
  }

  /** The oldest write-ahead log group of the batches held (open and sealed), or undefined. */
  oldestWalGroup(): number | undefined {
    const open = [this.#open.primary, this.#open.health].filter((b) => b.lines.length > 0);
    return oldestWalGroup([...open, ...this.#ready]);
  }

  /** Empties the sealed batches; returns the points they held. */
  clearSealed(): number {
    let n = 0;
    for (const b of this.#ready) n += b.points;
    this.#ready = [];
    this.#points -= n;
    return n;
  }
}

function openBatch(): OpenBatch {
  return { lines: [], bytes: 0, walGroup: undefined };
}

/** The smallest `walGroup` among `batches`, or undefined when none has one. */
export function oldestWalGroup(batches: Iterable<{ readonly walGroup?: number | undefined }>): number | undefined {
  let oldest: number | undefined;
  for (const b of batches)
    if (b.walGroup !== undefined && (oldest === undefined || b.walGroup < oldest)) oldest = b.walGroup;
  return oldest;
}
