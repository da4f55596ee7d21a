/**
 * The spool's segment files on disk: their names, the `.ack` progress sidecar, and the record
 * framing (a CRC-checked header before each batch's lines) written by append and read back by
 * take and by recovery.
 */
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { crc32 } from './crc32.js';
import type { WriteTarget } from './transport.js';

// Record framing, little-endian: magic | payload length | points | target (1 byte + 3 pad) | crc32(payload) | payload.
const MAGIC = 0x3150534e; // 'NSP1'
const HEADER_BYTES = 20;
const SEGMENT_RE = /^spool-(\d{16})\.seg$/;

/** The sequence number of a segment file name, or undefined when the name is not a segment's. */
export function segmentSeq(name: string): number | undefined {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The file name of segment `seq`. */
export function segmentFileName(seq: number): string {
  return `spool-${String(seq).padStart(16, '0')}.seg`;
}

/** The segment file name an `.ack` sidecar belongs to, or undefined when the name is not a sidecar's. */
export function segmentOfAck(name: string): string | undefined {
  return name.endsWith('.ack') ? name.replace(/\.ack$/, '.seg') : undefined;
}

/** Path of a segment's `.ack` sidecar. */
export const ackPath = (seg: Segment): string => seg.path.replace(/\.seg$/, '.ack');

/** One record of a segment file, as the spool tracks it. */
export interface RecordMeta {
  /** The segment holding it. */
  seg: Segment;
  /** Byte offset of its header in the segment file. */
  offset: number;
  /** Bytes of header and payload. */
  length: number;
  /** Points (lines) in the payload. */
  points: number;
  /** Destination bucket/database. */
  target: WriteTarget;
  /** Waiting to be handed out, in a request, or acknowledged (or dropped). */
  state: 'unread' | 'inflight' | 'done';
}

/** One segment file and what the spool knows of its records. */
export interface Segment {
  /** Sequence number in the file name; segments replay in this order. */
  seq: number;
  /** Path of the `.seg` file. */
  path: string;
  /** Bytes of complete records in the file. */
  size: number;
  /** Records not yet acknowledged. */
  live: number;
  /** Points in those records. */
  livePoints: number;
  /** The segment appends go to. */
  active: boolean;
  /** Deleted (acknowledged, or dropped for space). */
  deleted: boolean;
  /** Read handle, opened on the first take. */
  reader: Promise<FileHandle> | undefined;
  /** Records in file order, for the acknowledged-prefix watermark. */
  records: RecordMeta[];
  /** Index of the first record not yet acknowledged. */
  ackedPrefix: number;
  /** Byte offset persisted in the `.ack` sidecar (records before it are not replayed after a restart). */
  savedWatermark: number;
  /** A sidecar write is running. */
  saving: boolean;
  /** Another sidecar write is wanted after the running one. */
  saveAgain: boolean;
}

/** A segment with no records yet. */
export function newSegment(seq: number, path: string, active: boolean): Segment {
  return {
    seq,
    path,
    size: 0,
    live: 0,
    livePoints: 0,
    active,
    deleted: false,
    reader: undefined,
    records: [],
    ackedPrefix: 0,
    savedWatermark: 0,
    saving: false,
    saveAgain: false,
  };
}

/** Reads a segment's `.ack` sidecar: the byte offset below which every record was acknowledged (0 when absent or unreadable). */
export async function readWatermark(seg: Segment): Promise<number> {
  try {
    const n = Number((await readFile(ackPath(seg), 'utf8')).trim());
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/** Closes the segment's read handle, if one was opened. */
export async function closeReader(seg: Segment): Promise<void> {
  const reader = seg.reader;
  seg.reader = undefined;
  if (reader) await reader.then((fh) => fh.close()).catch(() => undefined);
}

/** The header written before a record's payload. */
export function encodeRecordHeader(target: WriteTarget, payload: Uint8Array, points: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(payload.length, 4);
  header.writeUInt32LE(points, 8);
  header.writeUInt8(target === 'health' ? 1 : 0, 12);
  header.writeUInt32LE(crc32(payload), 16);
  return header;
}

/** Reads one record's payload (the batch's lines). */
export async function readRecordBody(reader: FileHandle, meta: RecordMeta): Promise<string> {
  const buf = Buffer.allocUnsafe(meta.length - HEADER_BYTES);
  await reader.read(buf, 0, buf.length, meta.offset + HEADER_BYTES);
  return buf.toString('utf8');
}

/**
 * Reads a segment file's records up to the first torn or corrupt one (bad magic, short payload,
 * CRC mismatch): what lies past `validBytes` was never acknowledged as spooled.
 */
export async function scanSegment(
  seg: Segment,
): Promise<{ validBytes: number; fileBytes: number; records: RecordMeta[] }> {
  const fileBytes = (await stat(seg.path)).size;
  const fh = await open(seg.path, 'r');
  const records: RecordMeta[] = [];
  let offset = 0;
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    while (offset + HEADER_BYTES <= fileBytes) {
      await fh.read(header, 0, HEADER_BYTES, offset);
      if (header.readUInt32LE(0) !== MAGIC) break;
      const len = header.readUInt32LE(4);
      if (offset + HEADER_BYTES + len > fileBytes) break;
      const payload = Buffer.allocUnsafe(len);
      await fh.read(payload, 0, len, offset + HEADER_BYTES);
      if (crc32(payload) !== header.readUInt32LE(16)) break;
      records.push({
        seg,
        offset,
        length: HEADER_BYTES + len,
        points: header.readUInt32LE(8),
        target: header.readUInt8(12) === 1 ? 'health' : 'primary',
        state: 'unread',
      });
      offset += HEADER_BYTES + len;
    }
  } finally {
    await fh.close();
  }
  return { validBytes: offset, fileBytes, records };
}
