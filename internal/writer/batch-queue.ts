import type { Point } from '../model/point.js';
import { LineBytes } from './line-bytes.js';
import type { LineProtocolOptions } from './line-protocol.js';
import type { SpoolEntry } from './spool.js';
import type { WriteTarget } from './transport.js';

/** One request body on its way: sealed from memory, or handed out by the spool. */
export interface Batch {
  readonly target: WriteTarget;
  /** The lines, newline-separated (decoded from {@link bytes} on first use when the batch has them). */
  readonly body: string;
  /** The body as UTF-8, when the queue built it as bytes: a transport or the spool takes these as they are. */
  readonly bytes?: Buffer | undefined;
  /** `body.length` (UTF-16 code units), when known without decoding the bytes. */
  readonly units?: number | undefined;
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
  /** Cap on one batch body, in UTF-8 bytes (the line that reaches it is the batch's last). */
  maxBatchBytes: number;
}

interface OpenBatch {
  lines: LineBytes;
  walGroup: number | undefined;
}

/**
 * The memory queue: one open batch per target, filled line by line and sealed by count, bytes
 * or flush, then sealed batches in order. Knows nothing of requests or the spool.
 */
export class BatchQueue {
  readonly #o: BatchQueueOptions;
  #open: Record<WriteTarget, OpenBatch> = { primary: openBatch(0), health: openBatch(0) };
  #ready: Batch[] = [];
  #points = 0;
  #seq = 0;
  #last: LineBytes = this.#open.primary.lines;

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

  /**
   * The Buffer holding the line added last, for the write-ahead log: its bytes from
   * {@link lastStart} to {@link lastEnd} (no newline) never change, whatever is added or sealed after.
   */
  get lastBuffer(): Buffer {
    return this.#last.lastBuffer;
  }

  /** Byte offset of the line added last in {@link lastBuffer}. */
  get lastStart(): number {
    return this.#last.lastStart;
  }

  /** Byte offset just past the line added last in {@link lastBuffer}. */
  get lastEnd(): number {
    return this.#last.lastEnd;
  }

  /** Adds a line (of write-ahead log group `walGroup`) to the target's open batch; true when that filled and sealed it. */
  add(target: WriteTarget, line: string, walGroup?: number): boolean {
    const b = this.#open[target];
    if (b.lines.count === 0) b.walGroup = walGroup;
    b.lines.appendLine(line);
    return this.#added(target, b);
  }

  /**
   * Adds the line of `point` (rendered as toLineProtocol does) to the target's open batch; true
   * when that filled and sealed it, undefined when the point has no line (nothing added).
   */
  addPoint(target: WriteTarget, point: Point, opts: LineProtocolOptions, walGroup?: number): boolean | undefined {
    const b = this.#open[target];
    const empty = b.lines.count === 0;
    if (b.lines.appendPoint(point, opts) < 0) return undefined;
    if (empty) b.walGroup = walGroup;
    return this.#added(target, b);
  }

  #added(target: WriteTarget, b: OpenBatch): boolean {
    this.#points++;
    this.#last = b.lines;
    // Bytes as sent (newlines included), not characters: a multi-byte tag counts what it weighs.
    if (b.lines.count < this.#o.batchSize && b.lines.byteLength < this.#o.maxBatchBytes) return false;
    return this.seal(target);
  }

  /** Seals the target's open batch; false when it was empty. */
  seal(target: WriteTarget): boolean {
    const b = this.#open[target];
    if (b.lines.count === 0) return false;
    // The next batch's buffer starts at this one's size: one allocation per batch in steady state.
    this.#open[target] = openBatch(b.lines.byteLength);
    const part = { bytes: b.lines.bytes(), units: b.lines.units };
    this.#ready.push(bytesBatch({ target, seq: this.#seq++, points: b.lines.count, walGroup: b.walGroup }, [part]));
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
   * while the body stays within `maxBytes` (UTF-8 bytes): a backlog leaves in one request
   * instead of one round trip per batch. Seq and write-ahead log group are the oldest's.
   */
  shiftCoalesced(maxBytes: number): Batch | undefined {
    const first = this.shift();
    if (!first) return undefined;
    const parts = [first];
    let bytes = bodyBytes(first);
    let points = first.points;
    let walGroup = first.walGroup;
    for (let next = this.#ready[0]; next !== undefined; next = this.#ready[0]) {
      if (next.target !== first.target || bytes + 1 + bodyBytes(next) > maxBytes) break;
      this.shift();
      parts.push(next);
      bytes += 1 + bodyBytes(next);
      points += next.points;
      if (next.walGroup !== undefined && (walGroup === undefined || next.walGroup < walGroup)) walGroup = next.walGroup;
    }
    if (parts.length === 1) return first;
    const merged = { target: first.target, seq: first.seq, points, walGroup, probe: first.probe };
    if (parts.every((p) => p.bytes !== undefined))
      return bytesBatch(
        merged,
        parts.map((p) => ({ bytes: p.bytes!, units: bodyUnits(p) })),
      );
    return { ...merged, entry: first.entry, body: parts.map((p) => p.body).join('\n') };
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
      if (dropped >= n || b.lines.count === 0) continue;
      const k = Math.min(n - dropped, b.lines.count);
      b.lines.shed(k);
      this.#points -= k;
      dropped += k;
    }
    return dropped;
  }

  /** The oldest write-ahead log group of the batches held (open and sealed), or undefined. */
  oldestWalGroup(): number | undefined {
    const open = [this.#open.primary, this.#open.health].filter((b) => b.lines.count > 0);
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

/** The UTF-8 bytes of `batch.body`, without encoding it when the batch has its bytes. */
function bodyBytes(batch: Batch): number {
  return batch.bytes?.length ?? Buffer.byteLength(batch.body, 'utf8');
}

/** `batch.body.length`, without decoding its bytes when it has them. */
function bodyUnits(batch: Batch): number {
  return batch.units ?? batch.body.length;
}

interface BytesPart {
  readonly bytes: Buffer;
  readonly units: number;
}
const NEWLINE = Buffer.from('\n');

/**
 * A memory batch whose body is the `parts`' bytes, newline-separated: the body string is only
 * decoded when something asks for it (a transport without `sendBytes`, a split).
 */
function bytesBatch(
  fields: Pick<Batch, 'target' | 'seq' | 'points' | 'walGroup' | 'probe'>,
  parts: readonly BytesPart[],
): Batch {
  let bytes = parts[0]!.bytes;
  let units = parts[0]!.units;
  if (parts.length > 1) {
    const list = [bytes];
    for (const p of parts.slice(1)) {
      list.push(NEWLINE, p.bytes);
      units += 1 + p.units;
    }
    bytes = Buffer.concat(list);
  }
  let body: string | undefined;
  return {
    ...fields,
    entry: undefined,
    bytes,
    units,
    get body(): string {
      body ??= bytes.toString('utf8');
      return body;
    },
  };
}

function openBatch(sizeHintBytes: number): OpenBatch {
  return { lines: new LineBytes(sizeHintBytes), walGroup: undefined };
}

/** The smallest `walGroup` among `batches`, or undefined when none has one. */
export function oldestWalGroup(batches: Iterable<{ readonly walGroup?: number | undefined }>): number | undefined {
  let oldest: number | undefined;
  for (const b of batches)
    if (b.walGroup !== undefined && (oldest === undefined || b.walGroup < oldest)) oldest = b.walGroup;
  return oldest;
}
