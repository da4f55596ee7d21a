import { open, readFile, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { NetscanError } from '../errors/errors.js';
import type { BreakerState, Device, SnmpInfo } from '../model/device.js';
import { parseIpv4 } from '../model/ipv4.js';
import { canonicalIp } from '../net/ipv6.js';

/**
 * The state file: one JSON document, written one device per line so it can be produced in
 * chunks without holding the event loop, and read back with a single JSON.parse (any valid JSON
 * with the same shape is accepted, so a file pretty-printed by jq still loads).
 *
 *     {"format":"netscan-state","version":1,"saved_at_ms":1700000000000,"devices":[
 *     {"ip":"127.0.0.1","hostname":"sw1","first_seen_ms":...,"last_seen_ms":...,...},
 *     ...
 *     ],"count":2}
 *
 * `count` sits after the device list on purpose: a file cut anywhere is invalid JSON, and a
 * count that disagrees with the list is treated as corrupt too.
 */

/** Value of the `format` field. */
export const STATE_FILE_FORMAT = 'netscan-state';
/** Current (and only readable) value of the `version` field. */
export const STATE_FILE_VERSION = 1;

/** An open file being written. */
export interface StateFileHandle {
  /** Appends `text` (UTF-8) at the current position, writing all of it. */
  write(text: string): Promise<void>;
  /** fsync(2): data and metadata reach the disk. */
  sync(): Promise<void>;
  /** Closes the handle. */
  close(): Promise<void>;
}

/** The file operations persistence needs. The real one wraps node:fs/promises; tests inject faults. */
export interface StateFs {
  /** Whole file as UTF-8; rejects with an error whose `code` is `ENOENT` when missing. */
  readFile(path: string): Promise<string>;
  /** Creates or truncates `path` for writing. */
  openForWrite(path: string): Promise<StateFileHandle>;
  /** rename(2): atomically replaces `toPath`. */
  rename(fromPath: string, toPath: string): Promise<void>;
  /** Deletes a file; rejects with `ENOENT` when missing. */
  unlink(path: string): Promise<void>;
  /** mkdir -p. */
  mkdirp(dirPath: string): Promise<void>;
  /** fsync(2) on a directory so a rename inside it is durable; best effort. */
  syncDir(dirPath: string): Promise<void>;
}

/** StateFs on the local filesystem. */
export const nodeStateFs: StateFs = {
  readFile: (path) => readFile(path, 'utf8'),
  async openForWrite(path) {
    const fh = await open(path, 'w', 0o600);
    return {
      async write(text) {
        const buf = Buffer.from(text, 'utf8');
        // write(2) may be partial; loop until the whole buffer is down.
        for (let off = 0; off < buf.length;) {
          const { bytesWritten } = await fh.write(buf, off, buf.length - off);
          off += bytesWritten;
        }
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  },
  rename: (fromPath, toPath) => rename(fromPath, toPath),
  unlink: (path) => unlink(path),
  mkdirp: async (dirPath) => {
    await mkdir(dirPath, { recursive: true });
  },
  async syncDir(dirPath) {
    let fh;
    try {
      fh = await open(dirPath, 'r');
      await fh.sync();
    } catch {
      // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
    } finally {
      await fh?.close().catch(() => undefined);
    }
  },
};

/** Why a state file could not be used. */
export type StateFileProblem = 'missing' | 'truncated' | 'corrupt' | 'unsupported_version';

/** A state file that exists but cannot be loaded, or does not exist (code ERR_STATE). */
export class StateFileError extends NetscanError {
  /** What is wrong with the file. */
  readonly problem: StateFileProblem;
  constructor(problem: StateFileProblem, message: string, cause?: unknown) {
    super('ERR_STATE', message, { stage: 'state', cause });
    this.name = 'StateFileError';
    this.problem = problem;
  }
}

/** What a state file holds. */
export interface StateSnapshot {
  /** When the snapshot was started, ms since the epoch. */
  savedAtMs: number;
  /** Devices in file order. */
  devices: Device[];
  /** Device entries left out: unusable ones, repeats of an ip (the most recently seen is kept), non-IPv4 keys. */
  skipped: number;
  /** Why the first skipped entry was left out, for the log. */
  firstSkipReason: string | undefined;
}

/** Options for {@link writeStateFile}. */
export interface WriteStateFileOptions {
  /** File system to write through. */
  fs: StateFs;
  /** Final path; the data is written to `${path}.tmp` first and renamed over it. */
  path: string;
  /** Stamped into the header, ms since the epoch. */
  savedAtMs: number;
  /** Devices to write; iterated lazily between chunk writes, so it may be a live view. */
  devices: Iterable<Device>;
  /** Devices serialised per write call (bounds the time the event loop is held). */
  chunkDevices: number;
}

/** Result of {@link writeStateFile}. */
export interface WriteStateFileResult {
  /** Devices written. */
  count: number;
  /** Bytes written (UTF-8). */
  bytes: number;
}

/**
 * Writes a snapshot atomically: temp file, chunked writes with a turn of the event loop between
 * chunks, fsync, rename over the old file, fsync of the directory. On any failure the
 * temp file is removed and the previous snapshot is untouched.
 */
export async function writeStateFile(opts: WriteStateFileOptions): Promise<WriteStateFileResult> {
  const dir = dirname(opts.path);
  const tmpPath = `${opts.path}.tmp`;
  await opts.fs.mkdirp(dir);
  const fh = await opts.fs.openForWrite(tmpPath);
  let count = 0;
  let bytes = 0;
  try {
    const header = `{"format":${JSON.stringify(STATE_FILE_FORMAT)},"version":${STATE_FILE_VERSION},"saved_at_ms":${opts.savedAtMs},"devices":[\n`;
    let chunk = header;
    let inChunk = 0;
    // The store changes between chunks: a device evicted and seen again moves to the end of the
    // iteration and would be met twice. The first copy written stands.
    const written = new Set<string>();
    for (const d of opts.devices) {
      if (written.has(d.ip)) continue;
      written.add(d.ip);
      chunk += (count === 0 ? '' : ',\n') + JSON.stringify(encodeDevice(d));
      count++;
      if (++inChunk >= opts.chunkDevices) {
        bytes += Buffer.byteLength(chunk);
        await fh.write(chunk);
        // Let timers and I/O run even when the write completed without reaching the event loop.
        await yieldToLoop();
        chunk = '';
        inChunk = 0;
      }
    }
    chunk += `${count === 0 ? '' : '\n'}],"count":${count}}\n`;
    bytes += Buffer.byteLength(chunk);
    await fh.write(chunk);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await opts.fs.unlink(tmpPath).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await opts.fs.rename(tmpPath, opts.path);
  await opts.fs.syncDir(dir);
  return { count, bytes };
}

/**
 * Reads and validates a snapshot. Rejects with {@link StateFileError} (missing, truncated,
 * corrupt, unsupported_version); other I/O errors (EACCES, EISDIR...) are rejected as they are.
 * Validation yields to the event loop every `yieldEvery` devices.
 */
export async function readStateFile(fs: StateFs, path: string, yieldEvery = 5000): Promise<StateSnapshot> {
  let text: string;
  try {
    text = await fs.readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new StateFileError('missing', `state file ${path} does not exist`, err);
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // A file we wrote that was cut short still starts with our header.
    const prefix = `{"format":"${STATE_FILE_FORMAT}"`;
    const looksTruncated =
      prefix.startsWith(text) || (text.startsWith(prefix) && !/\],"count":\d+\}\s*$/.test(text.slice(-64)));
    throw new StateFileError(
      looksTruncated ? 'truncated' : 'corrupt',
      `state file ${path} is ${looksTruncated ? 'truncated' : 'not valid JSON'}`,
      err,
    );
  }
  const corrupt = (why: string): StateFileError =>
    new StateFileError('corrupt', `state file ${path} is corrupt: ${why}`);
  if (!isObject(doc) || doc['format'] !== STATE_FILE_FORMAT) throw corrupt(`"format" is not "${STATE_FILE_FORMAT}"`);
  if (doc['version'] !== STATE_FILE_VERSION) {
    throw new StateFileError(
      'unsupported_version',
      `state file ${path} has version ${JSON.stringify(doc['version'])}; this netscan reads version ${STATE_FILE_VERSION}`,
    );
  }
  const savedAtMs = doc['saved_at_ms'];
  if (!isTime(savedAtMs)) throw corrupt('"saved_at_ms" is not a timestamp');
  const list = doc['devices'];
  if (!Array.isArray(list)) throw corrupt('"devices" is not a list');
  if (doc['count'] !== list.length)
    throw corrupt(`"count" is ${JSON.stringify(doc['count'])} but ${list.length} devices are listed`);
  // One bad entry costs that entry, not the whole fleet: it is skipped and counted.
  const byIp = new Map<string, Device>();
  let skipped = 0;
  let firstSkipReason: string | undefined;
  const skip = (why: string): void => {
    skipped++;
    firstSkipReason ??= why;
  };
  for (let i = 0; i < list.length; i++) {
    const d = decodeDevice(list[i], savedAtMs);
    if (typeof d === 'string') {
      skip(`device #${i}: ${d}`);
    } else {
      const prev = byIp.get(d.ip);
      if (prev !== undefined) skip(`device #${i}: duplicate ip ${d.ip}`);
      if (prev === undefined || d.lastSeenMs > prev.lastSeenMs) byIp.set(d.ip, d);
    }
    if ((i + 1) % yieldEvery === 0) await yieldToLoop();
  }
  return { savedAtMs, devices: [...byIp.values()], skipped, firstSkipReason };
}

interface EncodedSnmp {
  sys_name: string;
  sys_descr: string;
  sys_object_id: string;
  sys_location: string;
  sys_contact: string;
  sys_uptime_s: number | null;
  credential_id: string;
}

// Zero breaker fields and absent SNMP data are omitted to keep 100k-device files small.
function encodeDevice(d: Device): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ip: d.ip,
    hostname: d.hostname,
    first_seen_ms: d.firstSeenMs,
    last_seen_ms: d.lastSeenMs,
  };
  if (d.lastSnmpMs !== 0) out['last_snmp_ms'] = d.lastSnmpMs;
  if (d.ping.consecutiveFails !== 0) out['ping_fails'] = d.ping.consecutiveFails;
  if (d.ping.suspendedUntilMs !== 0) out['ping_suspended_until_ms'] = d.ping.suspendedUntilMs;
  if (d.snmpBreaker.consecutiveFails !== 0) out['snmp_fails'] = d.snmpBreaker.consecutiveFails;
  if (d.snmpBreaker.suspendedUntilMs !== 0) out['snmp_suspended_until_ms'] = d.snmpBreaker.suspendedUntilMs;
  if (d.snmp !== undefined) {
    const s: EncodedSnmp = {
      sys_name: d.snmp.sysName,
      sys_descr: d.snmp.sysDescr,
      sys_object_id: d.snmp.sysObjectId,
      sys_location: d.snmp.sysLocation,
      sys_contact: d.snmp.sysContact,
      sys_uptime_s: d.snmp.sysUptimeS ?? null,
      credential_id: d.snmp.credentialId,
    };
    out['snmp'] = s;
  }
  return out;
}

// Returns the device or a one-line reason it is invalid. Seen times after the save are clamped to it.
function decodeDevice(v: unknown, savedAtMs: number): Device | string {
  if (!isObject(v)) return 'not an object';
  const ip = v['ip'];
  if (typeof ip !== 'string' || ip === '') return '"ip" is not a non-empty string';
  // IPv6 devices are kept in RFC 5952 form: any other spelling would be a second key for the same address.
  if (parseIpv4(ip) === undefined && (!ip.includes(':') || canonicalIp(ip) !== ip)) {
    return `"ip" ${JSON.stringify(ip.slice(0, 40))} is not a dotted IPv4 address or a canonical (RFC 5952) IPv6 address`;
  }
  const hostname = v['hostname'];
  if (typeof hostname !== 'string') return '"hostname" is not a string';
  const firstSeenMs = v['first_seen_ms'];
  const lastSeenMs = v['last_seen_ms'];
  if (!isTime(firstSeenMs)) return '"first_seen_ms" is not a timestamp';
  if (!isTime(lastSeenMs)) return '"last_seen_ms" is not a timestamp';
  const lastSnmpMs = v['last_snmp_ms'] ?? 0;
  if (!isTime(lastSnmpMs)) return '"last_snmp_ms" is not a timestamp';
  const ping = decodeBreaker(v['ping_fails'], v['ping_suspended_until_ms']);
  if (typeof ping === 'string') return `ping ${ping}`;
  const snmpBreaker = decodeBreaker(v['snmp_fails'], v['snmp_suspended_until_ms']);
  if (typeof snmpBreaker === 'string') return `snmp ${snmpBreaker}`;
  let snmp: SnmpInfo | undefined;
  if (v['snmp'] !== undefined) {
    const s = v['snmp'];
    if (!isObject(s)) return '"snmp" is not an object';
    const str = (k: string): string | undefined => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
    const uptime = s['sys_uptime_s'];
    const fields = [
      str('sys_name'),
      str('sys_descr'),
      str('sys_object_id'),
      str('sys_location'),
      str('sys_contact'),
      str('credential_id'),
    ];
    if (fields.some((f) => f === undefined)) return '"snmp" misses a string field';
    if (uptime !== null && !(typeof uptime === 'number' && Number.isFinite(uptime) && uptime >= 0))
      return '"snmp.sys_uptime_s" is not a number or null';
    const [sysName, sysDescr, sysObjectId, sysLocation, sysContact, credentialId] = fields as string[];
    snmp = Object.freeze({
      sysName: sysName!,
      sysDescr: sysDescr!,
      sysObjectId: sysObjectId!,
      sysLocation: sysLocation!,
      sysContact: sysContact!,
      sysUptimeS: uptime === null ? undefined : uptime,
      credentialId: credentialId!,
    });
  }
  // A device cannot have been seen after the snapshot was taken: future times (a clock that was
  // wrong, a hand-edited file) would otherwise win every eviction contest.
  return {
    ip,
    hostname,
    snmp,
    firstSeenMs: Math.min(firstSeenMs, savedAtMs),
    lastSeenMs: Math.min(lastSeenMs, savedAtMs),
    lastSnmpMs: Math.min(lastSnmpMs as number, savedAtMs),
    ping,
    snmpBreaker,
  };
}

function decodeBreaker(fails: unknown, untilMs: unknown): BreakerState | string {
  const f = fails ?? 0;
  const u = untilMs ?? 0;
  if (!(typeof f === 'number' && Number.isSafeInteger(f) && f >= 0)) return 'fails is not a count';
  if (!isTime(u)) return 'suspended_until_ms is not a timestamp';
  return { consecutiveFails: f, suspendedUntilMs: u };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
