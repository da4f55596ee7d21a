import { open, readdir, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/log.js';
import { crc32 } from './crc32.js';
import type { WriteTarget } from './transport.js';

/** Options for {@link Wal}. */
export interface WalOptions {
  /** Directory of the log files (the spool's; created by the spool). */
  dir: string;
  /** A log file is closed and a new one started past this many bytes. */
  segmentBytes: number;
  /** Logger for recovery and write failures. */
  logger: Logger;
}

/** One batch of lines found in the log by {@link Wal.recover}. */
export interface WalRecord {
  /** Destination bucket/database. */
  readonly target: WriteTarget;
  /** Lines, newline-separated. */
  readonly body: string;
  /** Number of lines (points). */
  readonly points: number;
}

/** What the log wrote since the writer started, for stats and benchmarks. */
export interface WalStats {
  /** Bytes appended to log files. */
  bytes: number;
  /** Group commits (one write and one fdatasync each). */
  commits: number;
  /** Points appended. */
  points: number;
}

// Record framing, little-endian: magic | payload length | points | target (1 byte + 3 pad) | group | crc32(payload) | payload.
const MAGIC = 0x3157534e; // 'NSW1'
const HEADER_BYTES = 24;
const FILE_RE = /^wal-(\d{16})\.log$/;
const MARK_FILE = 'wal.mark';
/** Lines buffered as strings before they are encoded into one chunk of the next record. */
export const WAL_CHUNK_LINES = 1000;
const NEWLINE = Buffer.from('\n');

/**
 * The lines of one target waiting for the next commit: encoded chunks, then the newest lines as
 * strings. At 100k points/s a second of lines held as strings outlives the young generation and
 * is promoted, so the garbage collector copies and later marks them; encoded every
 * {@link WAL_CHUNK_LINES} lines, the strings die young and the bytes wait outside the heap. Lines
 * the writer already holds as bytes ({@link addBytes}) are kept as views of those bytes, a run
 * of adjacent lines as one view, and copied once, at the commit.
 */
export class PendingLines {
  #chunks: Buffer[] = [];
  #lines: string[] = [];
  #count = 0;
  /** The run of adjacent byte lines being extended: `#span` from `#spanStart` to `#spanEnd`. */
  #span: Buffer | undefined;
  #spanStart = 0;
  #spanEnd = 0;

  /** Lines held (encoded or not). */
  get count(): number {
    return this.#count;
  }

  /** Lines held as strings, not yet encoded (fewer than one chunk). */
  get unencoded(): number {
    return this.#lines.length;
  }

  /** Adds one line; every `chunkLines` lines are encoded. */
  add(line: string, chunkLines = WAL_CHUNK_LINES): void {
    this.#endSpan();
    this.#lines.push(line);
    this.#count++;
    if (this.#lines.length >= chunkLines) this.#encode();
  }

  /**
   * Adds one line given as its UTF-8 bytes, `buffer` from `start` to `end` (no newline). The
   * bytes must not change until the next {@link payload}: they are kept as a view, not copied.
   */
  addBytes(buffer: Buffer, start: number, end: number): void {
    this.#count++;
    // The next line of the same buffer, one newline after the previous: the run grows.
    if (buffer === this.#span && start === this.#spanEnd + 1 && buffer[this.#spanEnd] === 0x0a) {
      this.#spanEnd = end;
      return;
    }
    this.#encode();
    this.#endSpan();
    this.#span = buffer;
    this.#spanStart = start;
    this.#spanEnd = end;
  }

  /** The lines, newline-separated, UTF-8: a record's payload. */
  payload(): Buffer {
    this.#encode();
    this.#endSpan();
    if (this.#chunks.length === 1) return this.#chunks[0]!;
    const parts: Buffer[] = [];
    for (const c of this.#chunks) {
      if (parts.length > 0) parts.push(NEWLINE);
      parts.push(c);
    }
    return Buffer.concat(parts);
  }

  #endSpan(): void {
    if (this.#span === undefined) return;
    this.#chunks.push(this.#span.subarray(this.#spanStart, this.#spanEnd));
    this.#span = undefined;
  }

  #encode(): void {
    if (this.#lines.length === 0) return;
    this.#chunks.push(Buffer.from(this.#lines.join('\n'), 'utf8'));
    this.#lines = [];
  }
}

interface LogFile {
  path: string;
  size: number;
  /** Newest group in the file (-1 while empty). */
  maxGroup: number;
}

/**
 * The write-ahead log: every point the writer accepts is appended here, in group commits (one
 * write and one fdatasync(2) per commit, the writer calls {@link commit} about once a second),
 * so a kill -9 or a power cut loses at most the points of the commit that had not finished.
 * Each commit is one numbered group; the writer knows the oldest group it still holds in
 * memory or in a request, and every group older than that is trimmed (whole files deleted, and
 * a small `wal.mark` file names the oldest group still needed, so a restart skips the rest).
 * {@link recover} hands the unacknowledged tail to the writer at start, which moves it to the
 * spool and calls {@link clear}. Delivery stays at-least-once: a batch acknowledged in the
 * second before a crash is sent again, which InfluxDB and VictoriaMetrics store once (same
 * series and timestamp).
 */
export class Wal {
  readonly #o: WalOptions;
  #lines: Record<WriteTarget, PendingLines> = { primary: new PendingLines(), health: new PendingLines() };
  #group = 0;
  #files: LogFile[] = [];
  #writer: FileHandle | undefined;
  #nextFile = 0;
  #savedMark = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #stats: WalStats = { bytes: 0, commits: 0, points: 0 };

  constructor(opts: WalOptions) {
    this.#o = opts;
  }

  /** The group the next accepted line belongs to. */
  get group(): number {
    return this.#group;
  }

  /** A copy of the counters. */
  stats(): WalStats {
    return { ...this.#stats };
  }

  /** Buffers one accepted line for the next commit; returns its group. */
  add(target: WriteTarget, line: string): number {
    this.#lines[target].add(line);
    return this.#group;
  }

  /**
   * Buffers one accepted line given as its UTF-8 bytes (`buffer` from `start` to `end`, no
   * newline; they must not change until the next commit); returns its group.
   */
  addBytes(target: WriteTarget, buffer: Buffer, start: number, end: number): number {
    this.#lines[target].addBytes(buffer, start, end);
    return this.#group;
  }

  /**
   * Reads the log a previous run left: every complete record of a group not yet acknowledged,
   * oldest first (a torn or corrupt tail ends a file's scan). New groups are numbered after
   * every group seen, so the mark never hides them.
   */
  async recover(): Promise<WalRecord[]> {
    const names = (await readdir(this.#o.dir)).filter((n) => FILE_RE.test(n)).sort();
    const mark = await readFile(join(this.#o.dir, MARK_FILE), 'utf8').then(
      (s) => Number(s.trim()),
      () => 0,
    );
    const from = Number.isSafeInteger(mark) && mark > 0 ? mark : 0;
    const out: WalRecord[] = [];
    let maxGroup = from - 1;
    for (const name of names) {
      this.#nextFile = Math.max(this.#nextFile, Number(FILE_RE.exec(name)![1]) + 1);
      const buf = await readFile(join(this.#o.dir, name));
      for (let off = 0; off + HEADER_BYTES <= buf.length;) {
        if (buf.readUInt32LE(off) !== MAGIC) break;
        const len = buf.readUInt32LE(off + 4);
        if (off + HEADER_BYTES + len > buf.length) break;
        const payload = buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len);
        if (crc32(payload) !== buf.readUInt32LE(off + 20)) break;
        const group = buf.readUInt32LE(off + 16);
        maxGroup = Math.max(maxGroup, group);
        if (group >= from) {
          out.push({
            target: buf.readUInt8(off + 12) === 1 ? 'health' : 'primary',
            body: payload.toString('utf8'),
            points: buf.readUInt32LE(off + 8),
          });
        }
        off += HEADER_BYTES + len;
      }
    }
    this.#group = maxGroup + 1;
    this.#savedMark = from;
    return out;
  }

  /** Deletes every log file (the recovered tail is safe in the spool); the mark goes first, so a crash in between replays twice rather than hides a group. */
  async clear(): Promise<void> {
    await rm(join(this.#o.dir, MARK_FILE), { force: true });
    this.#savedMark = 0;
    for (const name of (await readdir(this.#o.dir)).filter((n) => FILE_RE.test(n)))
      await rm(join(this.#o.dir, name), { force: true });
  }

  /**
   * Writes the buffered lines as one group and fdatasyncs them, then trims every group older
   * than `oldestLiveGroup` (the oldest the writer still holds). Commits run one at a time.
   */
  commit(oldestLiveGroup: number): Promise<void> {
    const lines = this.#lines;
    const points = lines.primary.count + lines.health.count;
    const group = this.#group;
    if (points > 0) {
      this.#lines = { primary: new PendingLines(), health: new PendingLines() };
      this.#group++;
    }
    const run = this.#chain.then(async () => {
      if (points > 0) await this.#append(group, lines, points);
      await this.#trim(oldestLiveGroup);
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Waits for the running commit, then closes the file; what is not trimmed stays for the next start. */
  async close(): Promise<void> {
    await this.#chain;
    await this.#writer?.close();
    this.#writer = undefined;
  }

  async #append(group: number, lines: Record<WriteTarget, PendingLines>, points: number): Promise<void> {
    const parts: Buffer[] = [];
    for (const target of ['primary', 'health'] as const) {
      if (lines[target].count === 0) continue;
      const payload = lines[target].payload();
      const header = Buffer.alloc(HEADER_BYTES);
      header.writeUInt32LE(MAGIC, 0);
      header.writeUInt32LE(payload.length, 4);
      header.writeUInt32LE(lines[target].count, 8);
      header.writeUInt8(target === 'health' ? 1 : 0, 12);
      header.writeUInt32LE(group, 16);
      header.writeUInt32LE(crc32(payload), 20);
      parts.push(header, payload);
    }
    const bytes = parts.reduce((n, b) => n + b.length, 0);
    let file = this.#files.at(-1);
    if (!this.#writer || !file || file.size >= this.#o.segmentBytes) {
      await this.#writer?.close();
      this.#writer = undefined;
      file = {
        path: join(this.#o.dir, `wal-${String(this.#nextFile++).padStart(16, '0')}.log`),
        size: 0,
        maxGroup: -1,
      };
      this.#writer = await open(file.path, 'a');
      this.#files.push(file);
      await syncDir(this.#o.dir);
    }
    const { bytesWritten } = await this.#writer.writev(parts);
    file.size += bytesWritten;
    file.maxGroup = group;
    // A short write leaves a torn record; recovery's CRC check stops there.
    await this.#writer.datasync();
    this.#stats.bytes += bytesWritten;
    this.#stats.commits++;
    this.#stats.points += points;
    if (bytesWritten !== bytes)
      throw new Error(`short write to the write-ahead log (${bytesWritten} of ${bytes} bytes): disk full?`);
  }

  async #trim(oldestLiveGroup: number): Promise<void> {
    while (this.#files.length > 0 && this.#files[0]!.maxGroup < oldestLiveGroup) {
      const file = this.#files.shift()!;
      if (this.#files.length === 0) {
        await this.#writer?.close();
        this.#writer = undefined;
      }
      await rm(file.path, { force: true });
    }
    if (this.#files.length === 0) {
      // Nothing left to skip: a mark without files would only hide the groups of the next run.
      if (this.#savedMark > 0) await rm(join(this.#o.dir, MARK_FILE), { force: true });
      this.#savedMark = 0;
      return;
    }
    if (oldestLiveGroup > this.#savedMark) {
      // Not synced: a lost mark replays a few acknowledged batches again, nothing worse.
      await writeFile(join(this.#o.dir, MARK_FILE), String(oldestLiveGroup));
      this.#savedMark = oldestLiveGroup;
    }
  }
}

/** fsync(2) on the directory, so a new file's entry survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
