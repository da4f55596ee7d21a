import type { Clock } from '../clock/clock.js';
import type { PingOutcome } from '../model/ping.js';
import { formatIpv6 } from '../net/ipv6.js';
import type { IcmpEngineStats } from './engine-options.js';
import { IcmpErrorKind, type IcmpFamily } from './icmp-socket.js';
import { formatIpv4 } from './ipv4.js';
import {
  ECHO_HEADER_BYTES,
  EchoKind,
  PROBE_STAMP_BYTES,
  icmpErrorDetail,
  newEchoView,
  parseIcmpV4,
  probeTag,
} from './packet.js';
import { foldIpv6, icmp6ErrorDetail, parseIcmpV6 } from './packet6.js';
import { SlotHistory, State, type Probe, type ProbeSlots, type SocketRef } from './probe.js';

/** Most datagrams (and error-queue entries) read per readable event, so a flood cannot starve the event loop. */
export const MAX_READ_PER_EVENT = 4096;
const STAMP_END = ECHO_HEADER_BYTES + PROBE_STAMP_BYTES;
/** Padding up to this size is compared in JavaScript; larger, with Buffer#compare (memcmp). */
const SMALL_PADDING_BYTES = 256;

/** Options for {@link EchoReader}. */
export interface EchoReaderOptions {
  /** Address family of the engine. */
  family: IcmpFamily;
  /** Echo payload size in bytes (what every genuine reply carries). */
  payloadBytes: number;
  /** Clock for the user-space receive time. */
  clock: Clock;
  /** The engine's counters, updated in place. */
  stats: IcmpEngineStats;
  /** The engine's probes by sequence number. */
  table: ProbeSlots;
  /** Settles a matched probe (the engine releases its slot and resolves it). */
  settle: (p: Probe, outcome: PingOutcome, history: SlotHistory) => void;
}

/** The engine's secrets, fixed at start: what makes a reply ours. */
export interface EchoKeys {
  /** High 32 bits of the engine nonce. */
  nonceHi: number;
  /** Low 32 bits of the engine nonce. */
  nonceLo: number;
  /** Secret of the probe tag. */
  secret: number;
  /** A request as the engine sends it: its padding is every genuine reply's. */
  template: Buffer;
}

/**
 * The receive half of the ICMP engine: reads a socket's datagrams and error queue in batches and
 * matches them to probes. A reply settles its probe only when it passes every check: nonce,
 * identifier, sequence, serial, keyed tag, source address, checksum (raw IPv4) and the whole
 * echoed payload. RTT is the kernel receive stamp minus the kernel transmit stamp; a reply whose
 * pair is incomplete is timed in user space instead (both ends), and each kind is counted.
 */
export class EchoReader {
  readonly #v6: boolean;
  readonly #payloadBytes: number;
  readonly #clock: Clock;
  readonly #stats: IcmpEngineStats;
  readonly #table: ProbeSlots;
  readonly #settle: EchoReaderOptions['settle'];
  readonly #view = newEchoView();
  #inRead = false;
  #stampsRead = false;
  #nonceHi = 0;
  #nonceLo = 0;
  #secret = 0;
  #template: Buffer = Buffer.alloc(0);

  constructor(opts: EchoReaderOptions) {
    this.#v6 = opts.family === 'ipv6';
    this.#payloadBytes = opts.payloadBytes;
    this.#clock = opts.clock;
    this.#stats = opts.stats;
    this.#table = opts.table;
    this.#settle = opts.settle;
  }

  /** True while a read is walking a batch (a socket must not be closed under it). */
  get reading(): boolean {
    return this.#inRead;
  }

  /** Sets the keys of the engine's current run. */
  keys(k: EchoKeys): void {
    this.#nonceHi = k.nonceHi;
    this.#nonceLo = k.nonceLo;
    this.#secret = k.secret;
    this.#template = k.template;
  }

  /**
   * Reads up to MAX_READ_PER_EVENT waiting datagrams (and the error queue); returns how many. Not
   * re-entrant: a send made while a read settles probes may ask for another read, and a nested
   * read would overwrite the batch the outer one is still walking.
   */
  drain(ref: SocketRef): number {
    if (this.#inRead || ref.closed) return 0;
    this.#inRead = true;
    let total = 0;
    try {
      this.readErrors(ref);
      while (total < MAX_READ_PER_EVENT && !ref.closed) {
        const n = ref.socket.read();
        if (n === 0) break;
        this.#stampsRead = false;
        this.#onBatch(ref, n);
        total += n;
        // A short batch emptied the socket; what arrives later raises readable again (the poll is
        // level-triggered), so the empty recvmmsg(2) that would confirm it is saved.
        if (n < ref.socket.batchSize) break;
      }
    } finally {
      this.#inRead = false;
    }
    return total;
  }

  #onBatch(ref: SocketRef, n: number): void {
    const b = ref.socket.readBatch;
    const v = this.#view;
    const verify = !this.#v6 && ref.socket.mode === 'raw';
    const rxUserNs = this.#clock.monoNs();
    for (let i = 0; i < n; i++) {
      const off = i * b.slotBytes;
      const len = b.length[i]!;
      const kind = this.#v6 ? parseIcmpV6(b.data, off, len, v) : parseIcmpV4(b.data, off, len, v, verify);
      if (kind === EchoKind.Other) {
        this.#stats.foreign++;
        continue;
      }
      const quotesNonce = v.stampBytes >= 8;
      const ours =
        quotesNonce &&
        b.data.readUInt32BE(v.stampOffset) === this.#nonceHi &&
        b.data.readUInt32BE(v.stampOffset + 4) === this.#nonceLo;
      // Errors from routers that quote only 8 bytes of the request (RFC 792's minimum) carry no
      // nonce; they are matched on identifier, sequence and destination alone.
      if (kind === EchoKind.Reply ? !ours : quotesNonce && !ours) {
        this.#stats.foreign++;
        continue;
      }
      if (kind === EchoKind.Reply) this.#onReply(ref, i, off, len, rxUserNs);
      else this.#onRawError(ref, i);
    }
  }

  /** The tag `p`'s request carried. */
  #tagOf(p: Probe): number {
    return probeTag(this.#secret, p.serial, p.addrKey, ((p.id << 16) | p.seq) >>> 0);
  }

  #invalid(which: 'invalidChecksum' | 'invalidIdentity' | 'invalidSource' | 'invalidPayload'): void {
    this.#stats.invalid++;
    this.#stats[which]++;
  }

  #sameAddress(p: Probe, buf: Buffer, off: number): boolean {
    if (buf.readUInt32BE(off) !== p.w0) return false;
    return (
      !this.#v6 ||
      (buf.readUInt32BE(off + 4) === p.w1 && buf.readUInt32BE(off + 8) === p.w2 && buf.readUInt32BE(off + 12) === p.w3)
    );
  }

  #addressKey(buf: Buffer, off: number): number {
    const w0 = buf.readUInt32BE(off);
    return this.#v6
      ? foldIpv6(w0, buf.readUInt32BE(off + 4), buf.readUInt32BE(off + 8), buf.readUInt32BE(off + 12))
      : w0;
  }

  #onReply(ref: SocketRef, i: number, off: number, len: number, rxUserNs: bigint): void {
    const v = this.#view;
    const b = ref.socket.readBatch;
    if (!v.checksumOk) return this.#invalid('invalidChecksum');
    if (v.stampBytes < 16) return this.#invalid('invalidPayload');
    const serial = b.data.readUInt32BE(v.stampOffset + 8);
    const tag = b.data.readUInt32BE(v.stampOffset + 12);
    const idSeq = ((v.id << 16) | v.seq) >>> 0;
    const p = this.#table.probes[v.seq];
    if (p === undefined || p.serial !== serial || p.state !== State.InFlight) {
      if (tag !== probeTag(this.#secret, serial, this.#addressKey(ref.source, i * 16), idSeq))
        this.#invalid('invalidIdentity');
      else if (this.#table.lastSerial[v.seq] === serial && this.#table.lastHistory[v.seq] === SlotHistory.Answered)
        this.#stats.duplicates++;
      else this.#stats.late++;
      return;
    }
    if (p.id !== v.id || p.ref !== ref || tag !== probeTag(this.#secret, serial, p.addrKey, idSeq))
      return this.#invalid('invalidIdentity');
    if (!this.#sameAddress(p, ref.source, i * 16)) return this.#invalid('invalidSource');
    // The whole payload must come back as sent: the padding is the same in every request, so
    // the request buffer serves as the reference (RFC 792: the data is returned unaltered).
    const payloadEnd = ECHO_HEADER_BYTES + this.#payloadBytes;
    if (len !== payloadEnd || !this.#samePadding(b.data, off)) return this.#invalid('invalidPayload');
    let rttMs = NaN;
    const rxNs = b.rxNs[i]!;
    if (ref.socket.kernelStamps && rxNs === rxNs) {
      // The transmit stamp may still sit in the error queue, behind this reply.
      if (p.txNs !== p.txNs && !this.#stampsRead) {
        this.#stampsRead = true;
        this.readErrors(ref);
        if (p.state !== State.InFlight) return;
      }
      if (p.txNs === p.txNs && rxNs >= p.txNs) rttMs = (rxNs - p.txNs) / 1e6;
    }
    if (rttMs === rttMs) {
      this.#stats.rttKernel++;
    } else {
      rttMs = Number(rxUserNs - p.sentNs) / 1e6;
      this.#stats.rttUserspace++;
    }
    this.#stats.replies++;
    this.#settle(p, { ok: true, ip: p.ip, rttMs, sentAtMs: p.sentAtMs }, SlotHistory.Answered);
  }

  /** True when the reply at `off` carries the request's padding unaltered. */
  #samePadding(data: Buffer, off: number): boolean {
    const t = this.#template;
    const end = ECHO_HEADER_BYTES + this.#payloadBytes;
    // A byte loop beats Buffer#compare's argument checks and native call for the usual 40 bytes.
    if (end - STAMP_END > SMALL_PADDING_BYTES) return data.compare(t, STAMP_END, end, off + STAMP_END, off + end) === 0;
    for (let k = STAMP_END; k < end; k++) if (data[off + k] !== t[k]) return false;
    return true;
  }

  /** An ICMP error read from a raw socket, quoting one of our requests. */
  #onRawError(ref: SocketRef, i: number): void {
    const v = this.#view;
    const data = ref.socket.readBatch.data;
    // A damaged error message must not mark a host unreachable (that feeds its breaker).
    if (!v.checksumOk) return this.#invalid('invalidChecksum');
    const p = this.#table.probes[v.seq];
    // The quoted request must be one of ours in flight: identifier, destination and, when
    // quoted far enough (Linux quotes up to 576 bytes), the serial.
    if (
      p === undefined ||
      p.state !== State.InFlight ||
      p.ref !== ref ||
      p.id !== v.id ||
      !this.#sameAddress(p, data, v.dstOffset) ||
      (v.stampBytes >= 12 && data.readUInt32BE(v.stampOffset + 8) !== p.serial) ||
      (v.stampBytes >= 16 && data.readUInt32BE(v.stampOffset + 12) !== this.#tagOf(p))
    ) {
      this.#stats.foreign++;
      return;
    }
    this.#unreachable(p, v.type, v.code, this.#formatAddress(ref.source, i * 16));
  }

  #unreachable(p: Probe, type: number, code: number, from: string | undefined): void {
    const name = this.#v6 ? icmp6ErrorDetail(type, code) : icmpErrorDetail(type, code);
    this.#stats.unreachable++;
    const detail = from === undefined ? name : `${name} (from ${from})`;
    this.#settle(p, { ok: false, ip: p.ip, reason: 'unreachable', sentAtMs: p.sentAtMs, detail }, SlotHistory.Expired);
  }

  #formatAddress(buf: Buffer, off: number): string | undefined {
    if (this.#v6) {
      for (let k = 0; k < 16; k++) if (buf[off + k] !== 0) return formatIpv6(buf, off);
      return undefined;
    }
    const v4 = buf.readUInt32BE(off);
    return v4 === 0 ? undefined : formatIpv4(v4);
  }

  /** Reads the error queue: transmit stamps, and in datagram mode the ICMP errors about our requests. */
  readErrors(ref: SocketRef): void {
    const e = ref.socket.errorBatch;
    for (let total = 0; total < MAX_READ_PER_EVENT && !ref.closed;) {
      const n = ref.socket.readErrors();
      if (n === 0) return;
      total += n;
      for (let i = 0; i < n; i++) {
        const kind = e.kind[i];
        const off = i * e.slotBytes;
        const len = e.length[i]!;
        // The copy of our request: sequence at 6, nonce at 8, serial at 16.
        const ours =
          len >= STAMP_END &&
          e.data.readUInt32BE(off + 8) === this.#nonceHi &&
          e.data.readUInt32BE(off + 12) === this.#nonceLo;
        const p = ours ? this.#table.probes[e.data.readUInt16BE(off + 6)] : undefined;
        const match =
          p !== undefined && p.ref === ref && p.state === State.InFlight && p.serial === e.data.readUInt32BE(off + 16);
        if (kind === IcmpErrorKind.TxStamp) {
          if (match && p.txNs !== p.txNs) p.txNs = e.txNs[i]!;
          else this.#stats.txStampsUnpaired++;
        } else if (kind === IcmpErrorKind.IcmpError) {
          if (
            match &&
            this.#sameAddress(p, ref.destination, i * 16) &&
            e.data.readUInt32BE(off + 20) === this.#tagOf(p)
          )
            this.#unreachable(p, e.icmpType[i]!, e.icmpCode[i]!, this.#formatAddress(ref.offender, i * 16));
          else this.#stats.foreign++;
        } else {
          this.#stats.errorQueueOther++;
        }
      }
      if (n < ref.socket.batchSize) return;
    }
  }
}
