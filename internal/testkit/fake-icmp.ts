/**
 * Fakes for the ICMP seam: FakeIcmpSocket stands in for the socket (IcmpSocket v2) under the real
 * IcmpEngine (tests inject datagrams, error-queue entries, kernel stamps and send errors),
 * TargetPinger stands in for the whole engine in front of the sweep and the schedulers (alive
 * hosts answer after a set RTT on the clock).
 */
import type { Clock } from '../clock/clock.js';
import type { PingFailureReason, PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import {
  IcmpErrorKind,
  type IcmpErrorBatch,
  type IcmpFamily,
  type IcmpReadBatch,
  type IcmpSocket,
  type IcmpSocketFactory,
  type IcmpSocketMode,
  type OpenIcmpSocketOptions,
} from '../icmp/icmp-socket.js';
import { internetChecksum } from '../icmp/packet.js';
import { ipBytes } from '../net/ipv6.js';
import { echoReplyMessage, unreachable6Message, unreachableMessage, type ReplyTweaks } from './icmp-packets.js';

/** One packet the engine sent through the fake socket. */
export interface SentPacket {
  /** Destination address. */
  readonly ip: string;
  /** Copy of the ICMP message as it left (in datagram mode, with the socket's identifier). */
  readonly icmp: Buffer;
}

/** Options for {@link FakeIcmpSocket}. */
export interface FakeIcmpSocketOptions {
  /** Address family. */
  family: IcmpFamily;
  /** Raw or datagram: datagram rewrites the identifier and reports ICMP errors through the error queue. */
  mode: IcmpSocketMode;
  /** Datagram mode: the identifier the "kernel" writes into every request. */
  identifier: number;
  /** Receive buffer the socket reports, in bytes. */
  rcvbufBytes: number;
  /** Most datagrams per flush() and per read(). */
  batchSize: number;
  /** Clock of the kernel stamps; without one the socket stamps nothing (kernelStamps false). */
  stampClock: Clock | undefined;
  /** What happens to transmit stamps: queued at once, held until {@link FakeIcmpSocket.releaseTxStamps}, or lost. */
  txStamps: 'queue' | 'hold' | 'drop';
}

const SLOT_BYTES = 2048;

interface Inbound {
  readonly data: Buffer;
  readonly source: string;
  readonly rxNs: number;
}

interface ErrorEntry {
  readonly kind: IcmpErrorKind;
  readonly data: Buffer;
  readonly destination: string;
  readonly offender: string | undefined;
  readonly icmpType: number;
  readonly icmpCode: number;
  readonly txNs: number;
}

/** A scripted ICMP socket: records flushed sends, delivers injected datagrams and error-queue entries on `deliver()`. */
export class FakeIcmpSocket implements IcmpSocket {
  readonly family: IcmpFamily;
  readonly mode: IcmpSocketMode;
  readonly rcvbufBytes: number;
  readonly identifier: number | undefined;
  readonly kernelStamps: boolean;
  readonly batchSize: number;
  readonly readBatch: IcmpReadBatch;
  readonly errorBatch: IcmpErrorBatch;
  /** Options the factory was called with (undefined when built directly). */
  openedWith: OpenIcmpSocketOptions | undefined;
  /** Every packet sent, in order. */
  readonly sent: SentPacket[] = [];
  /** Returns an errno name to make the send to `ip` fail with it, or undefined to succeed. */
  sendError: (ip: string) => string | undefined = () => undefined;
  /** True after close(). */
  closed = false;
  /** Number of flush() calls that sent at least one datagram. */
  flushes = 0;
  /** Runs at the start of every read() (to make something arrive between two reads). */
  beforeRead: (() => void) | undefined;
  /** Transmit stamps held back (txStamps 'hold'). */
  readonly heldTxStamps: ErrorEntry[] = [];
  lastSendError: string | undefined;
  readonly #opts: FakeIcmpSocketOptions;
  readonly #stampBaseNs: bigint;
  #pending: SentPacket[] = [];
  #inbox: Inbound[] = [];
  #errors: ErrorEntry[] = [];
  #readable: (() => void) | undefined;
  #writable: (() => void) | undefined;
  #error: ((err: Error) => void) | undefined;

  constructor(opts: Partial<FakeIcmpSocketOptions> | number = {}) {
    const o: FakeIcmpSocketOptions = {
      family: 'ipv4',
      mode: 'raw',
      identifier: 0x5000,
      rcvbufBytes: 16 << 20,
      batchSize: 64,
      stampClock: undefined,
      txStamps: 'queue',
      ...(typeof opts === 'number' ? { rcvbufBytes: opts } : opts),
    };
    this.#opts = o;
    this.family = o.family;
    this.mode = o.mode;
    this.rcvbufBytes = o.rcvbufBytes;
    this.identifier = o.mode === 'dgram' ? o.identifier : undefined;
    this.kernelStamps = o.stampClock !== undefined;
    this.#stampBaseNs = o.stampClock?.monoNs() ?? 0n;
    this.batchSize = o.batchSize;
    const n = o.batchSize;
    this.readBatch = {
      data: Buffer.alloc(n * SLOT_BYTES),
      slotBytes: SLOT_BYTES,
      length: new Int32Array(n),
      source: new Uint8Array(n * 16),
      rxNs: new Float64Array(n),
    };
    this.errorBatch = {
      kind: new Uint8Array(n),
      data: Buffer.alloc(n * SLOT_BYTES),
      slotBytes: SLOT_BYTES,
      length: new Int32Array(n),
      destination: new Uint8Array(n * 16),
      offender: new Uint8Array(n * 16),
      icmpType: new Uint8Array(n),
      icmpCode: new Uint8Array(n),
      txNs: new Float64Array(n),
    };
  }

  /** A factory handing out this socket. */
  factory(): IcmpSocketFactory {
    return (opts) => {
      this.openedWith = opts;
      return this;
    };
  }

  /** Kernel stamp now, in ns since the socket opened (NaN without a stamp clock). */
  stampNow(): number {
    const c = this.#opts.stampClock;
    return c === undefined ? NaN : Number(c.monoNs() - this.#stampBaseNs);
  }

  get queued(): number {
    return this.#pending.length;
  }

  queue(packet: Buffer, length: number, ip: string): number {
    if (this.#pending.length >= this.batchSize) throw new Error('queue() on a full batch');
    const icmp = Buffer.from(packet.subarray(0, length));
    if (this.mode === 'dgram') {
      icmp.writeUInt16BE(this.identifier!, 4);
      if (this.family === 'ipv4') {
        icmp.writeUInt16BE(0, 2);
        icmp.writeUInt16BE(internetChecksum(icmp, 0, icmp.length), 2);
      }
    }
    this.#pending.push({ ip, icmp });
    return this.#pending.length - 1;
  }

  flush(): number {
    let n = 0;
    this.lastSendError = undefined;
    while (n < this.#pending.length) {
      const p = this.#pending[n]!;
      const code = this.sendError(p.ip);
      if (code !== undefined) {
        this.lastSendError = code;
        break;
      }
      this.sent.push(p);
      if (this.kernelStamps && this.#opts.txStamps !== 'drop') {
        const entry: ErrorEntry = {
          kind: IcmpErrorKind.TxStamp,
          data: p.icmp,
          destination: p.ip,
          offender: undefined,
          icmpType: 0,
          icmpCode: 0,
          txNs: this.stampNow(),
        };
        if (this.#opts.txStamps === 'hold') this.heldTxStamps.push(entry);
        else this.#errors.push(entry);
      }
      n++;
    }
    this.#pending = this.#pending.slice(n);
    if (n > 0) this.flushes++;
    return n;
  }

  discardFirst(): void {
    this.#pending.shift();
  }

  read(): number {
    this.beforeRead?.();
    const b = this.readBatch;
    let n = 0;
    while (n < this.batchSize && this.#inbox.length > 0) {
      const d = this.#inbox.shift()!;
      const len = Math.min(d.data.length, SLOT_BYTES);
      d.data.copy(b.data, n * SLOT_BYTES, 0, len);
      b.length[n] = len;
      b.source.fill(0, n * 16, n * 16 + 16);
      ipBytes(d.source, b.source, n * 16);
      b.rxNs[n] = d.rxNs;
      n++;
    }
    return n;
  }

  readErrors(): number {
    const e = this.errorBatch;
    let n = 0;
    while (n < this.batchSize && this.#errors.length > 0) {
      const d = this.#errors.shift()!;
      e.kind[n] = d.kind;
      const len = Math.min(d.data.length, SLOT_BYTES);
      d.data.copy(e.data, n * SLOT_BYTES, 0, len);
      e.length[n] = len;
      e.destination.fill(0, n * 16, n * 16 + 16);
      ipBytes(d.destination, e.destination, n * 16);
      e.offender.fill(0, n * 16, n * 16 + 16);
      if (d.offender !== undefined) ipBytes(d.offender, e.offender, n * 16);
      e.icmpType[n] = d.icmpType;
      e.icmpCode[n] = d.icmpCode;
      e.txNs[n] = d.txNs;
      n++;
    }
    return n;
  }

  onReadable(fn: () => void): void {
    this.#readable = fn;
  }

  onceWritable(fn: () => void): void {
    this.#writable = fn;
  }

  onError(fn: (err: Error) => void): void {
    this.#error = fn;
  }

  close(): void {
    this.closed = true;
  }

  /** Queues an ICMP message (no IP header) as if it arrived from `source` (not yet read), stamped now unless `rxStamp` is false. */
  inject(icmp: Buffer, source: string, rxStamp = true): void {
    this.#inbox.push({ data: icmp, source, rxNs: rxStamp ? this.stampNow() : NaN });
  }

  /** Queues the echo reply to sent packet `index` from `source` (default: its destination), optionally forged or without a receive stamp. */
  reply(index: number, opts: { source?: string; tweaks?: ReplyTweaks; rxStamp?: boolean } = {}): void {
    const req = this.sent[index]!;
    this.inject(echoReplyMessage(req.icmp, opts.tweaks), opts.source ?? req.ip, opts.rxStamp ?? true);
  }

  /**
   * Queues an ICMP error from `router` about sent packet `index`: raw sockets read the error message
   * (quoting the IP header and `quoteBytes` of the request); datagram sockets find it on the error queue.
   */
  unreachable(
    index: number,
    opts: { router?: string; type?: number; code?: number; quoteBytes?: number; corrupt?: boolean } = {},
  ): void {
    const req = this.sent[index]!;
    const v6 = this.family === 'ipv6';
    const router = opts.router ?? (v6 ? '::1' : '127.0.0.254');
    if (this.mode === 'dgram') {
      this.#errors.push({
        kind: IcmpErrorKind.IcmpError,
        data: req.icmp,
        destination: req.ip,
        offender: router,
        icmpType: opts.type ?? (v6 ? 1 : 3),
        icmpCode: opts.code ?? (v6 ? 3 : 1),
        txNs: NaN,
      });
      return;
    }
    const msg = v6
      ? unreachable6Message({
          request: req.icmp,
          origSrc: '::1',
          origDst: req.ip,
          type: opts.type,
          code: opts.code,
          quoteBytes: opts.quoteBytes,
        })
      : unreachableMessage({
          request: req.icmp,
          origSrc: '127.0.0.1',
          origDst: req.ip,
          code: opts.code,
          quoteBytes: opts.quoteBytes,
        });
    if (opts.corrupt) msg[4] = (msg[4]! ^ 0xff) & 0xff; // damaged in transit: the checksum no longer matches
    this.inject(msg, router);
  }

  /** Queues an error-queue entry of another kind (neither a stamp nor an ICMP error). */
  injectOtherError(): void {
    this.#errors.push({
      kind: IcmpErrorKind.Other,
      data: Buffer.alloc(0),
      destination: this.family === 'ipv6' ? '::' : '0.0.0.0',
      offender: undefined,
      icmpType: 0,
      icmpCode: 0,
      txNs: NaN,
    });
  }

  /** Moves held transmit stamps to the error queue (they arrive late). */
  releaseTxStamps(): void {
    this.#errors.push(...this.heldTxStamps.splice(0));
  }

  /** Makes queued datagrams readable: runs the engine's readable callback once. */
  deliver(): void {
    this.#readable?.();
  }

  /** Signals that the socket accepts sends again (after an EAGAIN). */
  makeWritable(): void {
    const fn = this.#writable;
    this.#writable = undefined;
    fn?.();
  }

  /** True when the engine is waiting for the socket to become writable. */
  get waitingForWritable(): boolean {
    return this.#writable !== undefined;
  }

  /** Simulates an asynchronous socket failure. */
  fail(err: Error): void {
    this.closed = true;
    this.#error?.(err);
  }
}

/** A factory opening a new FakeIcmpSocket per call (datagram identifiers counting up from `identifier`), and the sockets it opened. */
export function fakeSocketSeries(opts: Partial<FakeIcmpSocketOptions> = {}): {
  factory: IcmpSocketFactory;
  sockets: FakeIcmpSocket[];
} {
  const sockets: FakeIcmpSocket[] = [];
  const factory: IcmpSocketFactory = (o) => {
    const s = new FakeIcmpSocket({
      family: o.family,
      ...opts,
      identifier: (opts.identifier ?? 0x5000) + sockets.length,
    });
    s.openedWith = o;
    sockets.push(s);
    return s;
  };
  return { factory, sockets };
}

/** How a TargetPinger target behaves. */
export type FakeTarget = { readonly rttMs: number } | { readonly reason: PingFailureReason; readonly afterMs?: number };

/**
 * A Pinger for sweep tests (the scheduler tests use FakePinger in fake-pinger.ts): targets in `targets` answer after their RTT (or fail with a reason);
 * unknown addresses time out after the probe's timeout. Honours abort signals and records calls.
 */
export class TargetPinger implements Pinger {
  /** Behaviour per address; change it between pings to script flapping. */
  readonly targets = new Map<string, FakeTarget | ((attempt: number) => FakeTarget)>();
  /** Every address pinged, in call order. */
  readonly calls: string[] = [];
  /** Pings currently outstanding. */
  inFlight = 0;
  /** Highest value `inFlight` reached. */
  maxInFlight = 0;
  readonly #clock: Clock;
  readonly #attempts = new Map<string, number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    this.calls.push(ip);
    const attempt = this.#attempts.get(ip) ?? 0;
    this.#attempts.set(ip, attempt + 1);
    const entry = this.targets.get(ip);
    const target = typeof entry === 'function' ? entry(attempt) : entry;
    const sentAtMs = this.#clock.now();
    let delayMs: number;
    let outcome: PingOutcome;
    if (target && 'rttMs' in target && target.rttMs < opts.timeoutMs) {
      delayMs = target.rttMs;
      outcome = { ok: true, ip, rttMs: target.rttMs, sentAtMs };
    } else if (target && 'reason' in target) {
      delayMs = Math.min(target.afterMs ?? 0, opts.timeoutMs);
      outcome = { ok: false, ip, reason: target.reason, sentAtMs };
    } else {
      delayMs = opts.timeoutMs;
      outcome = { ok: false, ip, reason: 'timeout', sentAtMs };
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<PingOutcome>((resolve, reject) => {
      const onAbort = (): void => {
        timer.cancel();
        this.inFlight--;
        reject(opts.signal?.reason);
      };
      const timer = this.#clock.setTimeout(() => {
        opts.signal?.removeEventListener('abort', onAbort);
        this.inFlight--;
        resolve(outcome);
      }, delayMs);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
