import { mkdir, open, readdir, rm, truncate, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/log.js';
import {
  ackPath,
  closeReader,
  encodeRecordHeader,
  newSegment,
  readRecordBody,
  readWatermark,
  scanSegment,
  segmentFileName,
  segmentOfAck,
  segmentSeq,
  type RecordMeta,
  type Segment,
} from './spool-segment.js';
import type { WriteTarget } from './transport.js';
import { syncDir } from './wal.js';

/** Options for {@link Spool}. */
export interface SpoolOptions {
  /** Directory holding the segment files (created if missing; one writer per directory). */
  dir: string;
  /** Upper bound on the bytes of all segment files; the oldest segments are dropped past it. */
  maxBytes: number;
  /** A segment is closed and a new one started when it would grow past this many bytes. */
  segmentBytes: number;
  /** Logger for recovery and drops. */
  logger: Logger;
  /** fdatasync(2) every append before it resolves (the write-ahead log trims what the spool took). */
  sync?: boolean;
}

/** Default segment size in bytes (capped at a quarter of the spool so dropping stays fine-grained). */
export const defaultSpoolSegmentBytes = 4 * 1024 * 1024;

/** One spooled batch handed out by {@link Spool.take}. */
export interface SpoolEntry {
  /** Destination bucket/database. */
  readonly target: WriteTarget;
  /** Lines, newline-separated. */
  readonly body: string;
  /** Number of lines (points). */
  readonly points: number;
  /** Internal record identity. */
  readonly record: unknown;
}

/** What {@link Spool.open} found on disk. */
export interface SpoolRecovery {
  /** Complete records found (batches to replay). */
  records: number;
  /** Points in those records. */
  points: number;
  /** Bytes cut from segment tails that held a partial or corrupt record (a crash mid-append). */
  truncatedBytes: number;
}

/**
 * A durable FIFO of write batches on disk: append-only segment files of CRC-framed records.
 * Batches are appended while the server is unreachable (or the memory queue is too deep),
 * handed out oldest-first for replay, and a segment file is deleted once every record in it
 * was acknowledged. After a crash (kill -9) {@link open} rescans the directory, cuts a torn
 * last record (it was never acknowledged as spooled) and replays everything else. When the
 * spool would exceed `maxBytes`, whole oldest segments are dropped and their points counted.
 * Progress is persisted per segment in a small `.ack` sidecar (the acknowledged prefix), so a
 * restart replays only what was not acknowledged. Delivery is still at-least-once: a batch the
 * server acknowledged in the instant before a crash is sent again after the restart; InfluxDB
 * and VictoriaMetrics keep one value per series and timestamp, so counts are unaffected.
 */
export class Spool {
  readonly #opts: SpoolOptions;
  readonly #log: Logger;
  /** The segment size asked for, before the bounds. */
  readonly #asked: number;
  #segments: Segment[] = [];
  #active: Segment | undefined;
  #writer: FileHandle | undefined;
  #nextSeq = 0;
  #unread: RecordMeta[] = [];
  #unreadHead = 0;
  #bytes = 0;
  #pendingPoints = 0;
  #unreadPoints = 0;
  #chain: Promise<unknown> = Promise.resolve();
  #opened = false;
  #saves = new Set<Promise<void>>();

  constructor(opts: SpoolOptions) {
    this.#opts = {
      ...opts,
      segmentBytes: Math.max(64 * 1024, Math.min(opts.segmentBytes, Math.floor(opts.maxBytes / 4))),
    };
    this.#log = opts.logger;
    this.#asked = opts.segmentBytes;
  }

  /** Bytes on disk across all segments. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Points not yet acknowledged (unread plus handed out). */
  get pendingPoints(): number {
    return this.#pendingPoints;
  }

  /** Points waiting to be handed out. */
  get unreadPoints(): number {
    return this.#unreadPoints;
  }

  /** Scans the directory, cuts torn tails and queues every complete record for replay. */
  async open(): Promise<SpoolRecovery> {
    const rec: SpoolRecovery = { records: 0, points: 0, truncatedBytes: 0 };
    if (this.#opened) return rec;
    this.#opened = true;
    if (this.#opts.segmentBytes !== this.#asked)
      this.#log.info(
        { segment_bytes: this.#opts.segmentBytes, asked_bytes: this.#asked, max_bytes: this.#opts.maxBytes },
        'spool segment size bounded to 64 KiB..a quarter of the spool',
      );
    await mkdir(this.#opts.dir, { recursive: true });
    const all = await readdir(this.#opts.dir);
    const names = all.filter((n) => segmentSeq(n) !== undefined).sort();
    // An .ack without its segment (a crash between the two deletions) would hand its watermark to
    // a new segment of the same name and hide that segment's records from the next replay.
    const present = new Set(names);
    for (const n of all) {
      const seg = segmentOfAck(n);
      if (seg !== undefined && !present.has(seg)) await rm(join(this.#opts.dir, n), { force: true });
    }
    for (const name of names) {
      const seq = segmentSeq(name)!;
      this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
      const seg = newSegment(seq, join(this.#opts.dir, name), false);
      const { validBytes, fileBytes, records: all } = await scanSegment(seg);
      seg.savedWatermark = await readWatermark(seg);
      // Records acknowledged before the restart (below the persisted watermark) are not replayed.
      const records = all.filter((r) => r.offset >= seg.savedWatermark);
      if (validBytes < fileBytes) {
        await truncate(seg.path, validBytes);
        rec.truncatedBytes += fileBytes - validBytes;
      }
      seg.size = validBytes;
      if (records.length === 0) {
        await rm(ackPath(seg), { force: true });
        await rm(seg.path, { force: true });
        continue;
      }
      this.#segments.push(seg);
      this.#bytes += seg.size;
      for (const r of records) this.#enqueue(r);
      rec.records += records.length;
      rec.points += records.reduce((n, r) => n + r.points, 0);
    }
    if (rec.truncatedBytes > 0)
      this.#log.warn(
        { stage: 'writer', spool_dir: this.#opts.dir, truncated_bytes: rec.truncatedBytes },
        'Spool had a partial record from an interrupted write; cut it off',
      );
    return rec;
  }

  /**
   * Appends one batch durably (against process crashes: the data is in the kernel once this
   * resolves; with `sync`, against power cuts too: it is on the disk). `body` is the lines as text or as their UTF-8
   * bytes. Resolves with the number of already spooled points dropped to make room.
   */
  append(target: WriteTarget, body: string | Buffer, points: number): Promise<number> {
    const run = this.#chain.then(() => this.#append(target, body, points));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Hands out the oldest unread batch, or undefined when none. */
  async take(): Promise<SpoolEntry | undefined> {
    for (;;) {
      const meta = this.#shiftUnread();
      if (!meta) return undefined;
      const seg = meta.seg;
      if (seg.deleted) continue;
      meta.state = 'inflight';
      try {
        seg.reader ??= open(seg.path, 'r');
        let reader: FileHandle;
        try {
          reader = await seg.reader;
        } catch (err) {
          seg.reader = undefined; // a failed open (EMFILE, ...) is retried by the next take
          throw err;
        }
        const body = await readRecordBody(reader, meta);
        return { target: meta.target, body, points: meta.points, record: meta };
      } catch (err) {
        // The segment vanished (dropped for space while we read): its points were counted then.
        if (seg.deleted) continue;
        meta.state = 'unread';
        this.#unshiftUnread(meta);
        throw err;
      }
    }
  }

  /** Returns a batch that failed to send to the front of the queue; resolves with points lost if its segment was dropped meanwhile. */
  release(entry: SpoolEntry): number {
    const meta = entry.record as RecordMeta;
    if (meta.state !== 'inflight') return 0;
    if (meta.seg.deleted) {
      meta.state = 'done';
      this.#pendingPoints -= meta.points;
      return meta.points;
    }
    meta.state = 'unread';
    this.#unshiftUnread(meta);
    return 0;
  }

  /** Marks a batch as delivered (or deliberately dropped); deletes its segment when nothing in it is pending. */
  ack(entry: SpoolEntry): void {
    const meta = entry.record as RecordMeta;
    if (meta.state === 'done') return;
    const wasUnread = meta.state === 'unread';
    meta.state = 'done';
    if (meta.seg.deleted) {
      if (!wasUnread) this.#pendingPoints -= meta.points; // in flight when its segment was dropped
      return;
    }
    if (wasUnread) this.#unreadPoints -= meta.points;
    this.#pendingPoints -= meta.points;
    meta.seg.live--;
    meta.seg.livePoints -= meta.points;
    this.#advanceWatermark(meta.seg);
    if (meta.seg.live === 0) {
      const seg = meta.seg;
      this.#chain = this.#chain
        .then(() => this.#retireIfEmpty(seg))
        .catch((err: unknown) => {
          this.#log.warn({ stage: 'writer', err, path: seg.path }, 'Could not delete an acknowledged spool segment');
        });
    }
  }

  /** Waits for pending appends and deletions, then closes files; idempotent. Data stays on disk. */
  async close(): Promise<void> {
    await this.#chain;
    while (this.#saves.size > 0) await Promise.all(this.#saves);
    await this.#closeWriter();
    for (const seg of this.#segments) {
      await closeReader(seg);
    }
  }

  async #append(target: WriteTarget, body: string | Buffer, points: number): Promise<number> {
    const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const header = encodeRecordHeader(target, payload, points);
    const length = header.length + payload.length;
    if (this.#active && this.#active.size > 0 && this.#active.size + length > this.#opts.segmentBytes)
      await this.#closeWriter();
    // A batch larger than the whole spool cannot be kept: refuse it before dropping anything for it.
    if (length > this.#opts.maxBytes) return points;
    let dropped = 0;
    while (this.#bytes + length > this.#opts.maxBytes && this.#segments.length > 0) {
      const oldest = this.#segments[0]!;
      if (oldest === this.#active) await this.#closeWriter();
      dropped += await this.#dropSegment(oldest);
    }
    if (!this.#active) await this.#openWriter();
    const seg = this.#active!;
    const { bytesWritten } = await this.#writer!.writev([header, payload]);
    if (bytesWritten !== length) {
      // Disk or file-size limit: cut the torn record off so offsets stay true, and report failure.
      await this.#closeWriter().catch(() => undefined);
      await truncate(seg.path, seg.size).catch(() => undefined);
      throw new Error(`short write to the spool (${bytesWritten} of ${length} bytes): disk full?`);
    }
    if (this.#opts.sync) await this.#writer!.datasync();
    const meta: RecordMeta = { seg, offset: seg.size, length, points, target, state: 'unread' };
    seg.size += length;
    this.#bytes += length;
    this.#enqueue(meta);
    return dropped;
  }

  #enqueue(meta: RecordMeta): void {
    meta.seg.records.push(meta);
    meta.seg.live++;
    meta.seg.livePoints += meta.points;
    this.#pendingPoints += meta.points;
    this.#unreadPoints += meta.points;
    this.#unread.push(meta);
  }

  #shiftUnread(): RecordMeta | undefined {
    while (this.#unreadHead < this.#unread.length) {
      const meta = this.#unread[this.#unreadHead++]!;
      if (this.#unreadHead > 1024 && this.#unreadHead * 2 > this.#unread.length) {
        this.#unread = this.#unread.slice(this.#unreadHead);
        this.#unreadHead = 0;
      }
      if (meta.state !== 'unread') continue;
      if (!meta.seg.deleted) this.#unreadPoints -= meta.points;
      return meta;
    }
    return undefined;
  }

  #unshiftUnread(meta: RecordMeta): void {
    this.#unreadPoints += meta.points;
    if (this.#unreadHead > 0) this.#unread[--this.#unreadHead] = meta;
    else this.#unread.unshift(meta);
  }

  async #openWriter(): Promise<void> {
    const seq = this.#nextSeq++;
    const seg = newSegment(seq, join(this.#opts.dir, segmentFileName(seq)), true);
    this.#writer = await open(seg.path, 'a');
    this.#active = seg;
    this.#segments.push(seg);
    if (this.#opts.sync) await syncDir(this.#opts.dir);
  }

  async #closeWriter(): Promise<void> {
    const seg = this.#active;
    const fh = this.#writer;
    this.#active = undefined;
    this.#writer = undefined;
    await fh?.close();
    if (seg) {
      seg.active = false;
      await this.#retireIfEmpty(seg);
    }
  }

  async #retireIfEmpty(seg: Segment): Promise<void> {
    if (seg.live > 0 || seg.deleted) return;
    if (seg.active) {
      // The writer is idle on an empty segment: retire it so the directory empties out.
      if (seg === this.#active) await this.#closeWriter();
      return;
    }
    await this.#remove(seg);
  }

  /** Deletes a segment with unacknowledged data; returns how many points were lost (in-flight ones are counted on release). */
  async #dropSegment(seg: Segment): Promise<number> {
    let lost = 0;
    for (let i = this.#unreadHead; i < this.#unread.length; i++) {
      const m = this.#unread[i]!;
      if (m.seg === seg && m.state === 'unread') {
        lost += m.points;
        this.#unreadPoints -= m.points;
        m.state = 'done';
      }
    }
    // Records in flight stay pending until their request ends (release counts them lost, ack written).
    let inflight = 0;
    for (const m of seg.records) if (m.state === 'inflight') inflight += m.points;
    this.#pendingPoints -= seg.livePoints - inflight;
    await this.#remove(seg);
    if (lost > 0)
      this.#log.error(
        { stage: 'writer', spool_dir: this.#opts.dir, count: lost },
        'Spool full: dropped the oldest spooled points',
      );
    return lost;
  }

  async #remove(seg: Segment): Promise<void> {
    if (seg.deleted) return;
    seg.deleted = true;
    this.#segments = this.#segments.filter((s) => s !== seg);
    this.#bytes -= seg.size;
    await closeReader(seg);
    // The .ack first: a crash in between leaves a segment replayed twice, never a stale watermark.
    await rm(ackPath(seg), { force: true });
    await rm(seg.path, { force: true });
  }

  /**
   * Persists how far the segment is acknowledged from its start, so a restart does not replay
   * what the server already has. Out-of-order acks (concurrent requests) wait for the prefix.
   * Writes are coalesced: one at a time, the latest value wins.
   */
  #advanceWatermark(seg: Segment): void {
    while (seg.ackedPrefix < seg.records.length && seg.records[seg.ackedPrefix]!.state === 'done') seg.ackedPrefix++;
    if (seg.live === 0) return; // the whole segment is about to be deleted
    if (seg.saving) {
      seg.saveAgain = true;
      return;
    }
    const save = async (): Promise<void> => {
      do {
        seg.saveAgain = false;
        const mark = seg.ackedPrefix < seg.records.length ? seg.records[seg.ackedPrefix]!.offset : seg.size;
        if (mark <= seg.savedWatermark || seg.deleted) continue;
        await writeFile(ackPath(seg), String(mark));
        seg.savedWatermark = mark;
      } while (seg.saveAgain && !seg.deleted);
    };
    seg.saving = true;
    const saving = save()
      .catch((err: unknown) => {
        this.#log.warn(
          { stage: 'writer', err, path: ackPath(seg) },
          'Could not record spool progress; some batches may be replayed twice after a restart',
        );
      })
      .finally(() => {
        seg.saving = false;
        this.#saves.delete(saving);
        if (seg.saveAgain && !seg.deleted) this.#advanceWatermark(seg);
      });
    this.#saves.add(saving);
  }
}
