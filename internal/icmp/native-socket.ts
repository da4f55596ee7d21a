/**
 * The real {@link IcmpSocket}: netscan's own Node-API addon (internal/icmp/native/, built by
 * scripts/build-native.mjs) around one raw or datagram ICMP socket of either family.
 *
 * Every array of the batches lives in ArrayBuffers the addon created once per socket: queue()
 * writes into the send batch, and flush() / read() / readErrors() are one native call per batch
 * (sendmmsg / recvmmsg), so nothing is allocated per packet on either side.
 *
 * Readiness comes from a libuv poll on the socket (level-triggered): the onReadable callback
 * runs while datagrams or error-queue entries wait, so it must read them (read() and readErrors()
 * until they return less than batchSize), or it runs again on the next loop iteration.
 */
import { OptionChecks } from '../errors/option-checks.js';
import { writeIpv6 } from '../net/ipv6.js';
import type {
  IcmpErrorBatch,
  IcmpFamily,
  IcmpReadBatch,
  IcmpSocket,
  IcmpSocketFactory,
  IcmpSocketMode,
  OpenIcmpSocketOptions,
} from './icmp-socket.js';
import { IcmpSocketError, checkOpenIcmpSocketOptions } from './icmp-socket.js';
import { parseIpv4 } from './ipv4.js';
import {
  STATE_LAST_ERRNO,
  STATE_MALFORMED,
  STATE_STALE_ERRORS,
  STATE_TX_FROM_RING,
  STATE_TX_NO_COPY,
  WANT_READABLE,
  WANT_WRITABLE,
  errnoName,
  loadAddon,
  openFailure,
  toSocketError,
  type NativeAddon,
  type NativeHandle,
} from './native-addon.js';

export { errnoName, nativeAddonPath } from './native-addon.js';

/** Datagrams per batch (sendmmsg / recvmmsg vector length). */
export const NATIVE_BATCH_SIZE = 64;
/** Bytes per datagram slot: the largest echo request the engine sends (8 + 1472) fits, and errors quoting up to 2 KiB. */
export const NATIVE_SLOT_BYTES = 2048;

/** Counters of things the addon handled on its own (diagnostics; not part of IcmpSocket). */
export interface NativeIcmpSocketStats {
  /** Datagrams read() dropped because their IPv4 header was inconsistent (raw IPv4). */
  malformed: number;
  /** Transmit stamps whose copy of the datagram came from the addon's ring (OPT_TSONLY mode). */
  txFromRing: number;
  /** Transmit stamps delivered with no copy of the datagram (length 0). */
  txNoCopy: number;
  /** Pending socket errors (datagram mode, left by ICMP errors) cleared before a send or absorbed by a retry. */
  staleErrors: number;
}

/** Options beyond {@link OpenIcmpSocketOptions}, for tests and benchmarks. */
export interface NativeSocketTuning {
  /** Datagrams per batch (default {@link NATIVE_BATCH_SIZE}). */
  batchSize?: number;
  /** Bytes per slot (default {@link NATIVE_SLOT_BYTES}). */
  slotBytes?: number;
  /** Ask for transmit stamps without the datagram (SOF_TIMESTAMPING_OPT_TSONLY), as when net.core.tstamp_allow_data is 0. */
  tsOnly?: boolean;
  /** Leave SO_SELECT_ERR_QUEUE off: error-queue readiness is then a bare POLLERR, which libuv reports as UV_EBADF (the addon re-arms). */
  noSelectErrQueue?: boolean;
  /** SO_SNDBUF to request (SO_SNDBUFFORCE when allowed); 0 or undefined keeps the default. */
  sndbufBytes?: number;
  /** No kernel stamps at all (kernelStamps false): benchmarks, to see what the stamps cost. */
  noStamps?: boolean;
}

/** The addon-backed socket. Beyond {@link IcmpSocket} it offers stats(), nowNs() and fd for diagnostics and tests. */
export class NativeIcmpSocket implements IcmpSocket {
  readonly family: IcmpFamily;
  readonly mode: IcmpSocketMode;
  readonly rcvbufBytes: number;
  readonly identifier: number | undefined;
  readonly kernelStamps: boolean;
  readonly batchSize: number;
  readonly readBatch: IcmpReadBatch;
  readonly errorBatch: IcmpErrorBatch;
  /** File descriptor (diagnostics). */
  readonly fd: number;
  /** True when transmit stamps come without the datagram and the addon's ring supplies the copy. */
  readonly tsOnly: boolean;

  readonly #native: NativeAddon;
  readonly #h: NativeHandle;
  readonly #slot: number;
  readonly #v6: boolean;
  readonly #sendData: Buffer;
  readonly #sendLength: Int32Array;
  readonly #sendAddress: Uint8Array;
  readonly #sendScope: Uint32Array;
  readonly #state: Int32Array;
  readonly #zones = new Map<string, number>();
  #queued = 0;
  #lastSendError: string | undefined;
  #mask = 0;
  #closed = false;
  #readable: (() => void) | undefined;
  #writable: (() => void) | undefined;
  #onError: ((err: Error) => void) | undefined;

  /** @internal Use {@link openNativeIcmpSocket}. */
  constructor(native: NativeAddon, opts: OpenIcmpSocketOptions, tuning: NativeSocketTuning) {
    this.family = opts.family;
    this.mode = opts.mode;
    this.#v6 = opts.family === 'ipv6';
    this.#native = native;
    this.#h = native.open(
      {
        family: this.#v6 ? 6 : 4,
        raw: opts.mode === 'raw',
        rcvbuf: opts.rcvbufBytes,
        tos: opts.tos,
        ttl: opts.ttl,
        source: opts.sourceAddress,
        ifname: opts.interfaceName,
        batch: tuning.batchSize ?? NATIVE_BATCH_SIZE,
        slot: tuning.slotBytes ?? NATIVE_SLOT_BYTES,
        tsOnly: tuning.tsOnly ?? false,
        noSelectErrQueue: tuning.noSelectErrQueue ?? false,
        sndbuf: tuning.sndbufBytes ?? 0,
        noStamps: tuning.noStamps ?? false,
      },
      this.#dispatch,
    );
    const h = this.#h;
    this.fd = h.fd;
    this.rcvbufBytes = h.rcvbufBytes;
    this.identifier = opts.mode === 'dgram' ? h.identifier : undefined;
    this.kernelStamps = h.kernelStamps === 1;
    this.tsOnly = h.tsOnly === 1;
    this.batchSize = h.batchSize;
    this.#slot = h.slotBytes;
    this.#sendData = Buffer.from(h.sendData);
    this.#sendLength = new Int32Array(h.sendLength);
    this.#sendAddress = new Uint8Array(h.sendAddress);
    this.#sendScope = new Uint32Array(h.sendScope);
    this.#state = new Int32Array(h.state);
    this.readBatch = {
      data: Buffer.from(h.readData),
      slotBytes: h.slotBytes,
      length: new Int32Array(h.readLength),
      source: new Uint8Array(h.readSource),
      rxNs: new Float64Array(h.readRxNs),
    };
    this.errorBatch = {
      kind: new Uint8Array(h.errKind),
      data: Buffer.from(h.errData),
      slotBytes: h.slotBytes,
      length: new Int32Array(h.errLength),
      destination: new Uint8Array(h.errDestination),
      offender: new Uint8Array(h.errOffender),
      icmpType: new Uint8Array(h.errType),
      icmpCode: new Uint8Array(h.errCode),
      txNs: new Float64Array(h.errTxNs),
    };
  }

  get queued(): number {
    return this.#queued;
  }

  get lastSendError(): string | undefined {
    return this.#lastSendError;
  }

  queue(packet: Buffer, length: number, ip: string): number {
    if (this.#closed) throw new IcmpSocketError('EBADF', 'queue() on a closed ICMP socket');
    const i = this.#queued;
    if (i >= this.batchSize)
      throw new RangeError(`ICMP send batch is full (${this.batchSize} datagrams queued): flush() first`);
    if (!Number.isInteger(length) || length < 0 || length > packet.length || length > this.#slot) {
      throw new RangeError(`datagram length ${length} out of range (0..${Math.min(packet.length, this.#slot)})`);
    }
    if (!this.#writeAddress(ip, i)) {
      throw new IcmpSocketError('EINVAL', `not an ${this.#v6 ? 'IPv6' : 'IPv4'} address: ${JSON.stringify(ip)}`);
    }
    packet.copy(this.#sendData, i * this.#slot, 0, length);
    this.#sendLength[i] = length;
    this.#queued = i + 1;
    return i;
  }

  #writeAddress(ip: string, i: number): boolean {
    const off = i * 16;
    if (!this.#v6) {
      const v = parseIpv4(ip);
      if (v === undefined) return false;
      const a = this.#sendAddress;
      a[off] = v >>> 24;
      a[off + 1] = (v >>> 16) & 0xff;
      a[off + 2] = (v >>> 8) & 0xff;
      a[off + 3] = v & 0xff;
      return true;
    }
    const pct = ip.indexOf('%');
    const end = pct < 0 ? ip.length : pct;
    if (!writeIpv6(ip, end, this.#sendAddress, off)) return false;
    let scope = 0;
    if (pct >= 0) {
      const zone = ip.slice(pct + 1);
      if (zone === '') return false;
      scope = /^[0-9]+$/.test(zone) ? Number(zone) : this.#zoneIndex(zone);
      if (!(scope > 0 && scope <= 0xffffffff)) return false;
    }
    this.#sendScope[i] = scope;
    return true;
  }

  #zoneIndex(name: string): number {
    let index = this.#zones.get(name);
    if (index === undefined) {
      index = this.#native.ifIndex(name);
      if (this.#zones.size < 64) this.#zones.set(name, index);
    }
    return index;
  }

  flush(): number {
    const n = this.#queued;
    if (n === 0) {
      this.#lastSendError = undefined;
      return 0;
    }
    const sent = this.#h.flush(n);
    this.#queued = n - sent;
    const errno = this.#state[STATE_LAST_ERRNO]!;
    this.#lastSendError = errno === 0 ? undefined : errnoName(errno);
    return sent;
  }

  discardFirst(): void {
    if (this.#queued === 0) return;
    this.#h.discard(this.#queued);
    this.#queued--;
  }

  read(): number {
    if (this.#closed) return 0;
    try {
      return this.#h.read();
    } catch (err) {
      this.#fail(toSocketError(err));
      return 0;
    }
  }

  readErrors(): number {
    if (this.#closed) return 0;
    try {
      return this.#h.readErrors();
    } catch (err) {
      this.#fail(toSocketError(err));
      return 0;
    }
  }

  onReadable(fn: () => void): void {
    if (this.#closed) return;
    this.#readable = fn;
    this.#setMask(this.#mask | WANT_READABLE);
  }

  onceWritable(fn: () => void): void {
    if (this.#closed) return;
    this.#writable = fn;
    this.#setMask(this.#mask | WANT_WRITABLE);
  }

  onError(fn: (err: Error) => void): void {
    this.#onError = fn;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queued = 0;
    this.#mask = 0;
    this.#h.close();
    this.#readable = undefined;
    this.#writable = undefined;
    this.#onError = undefined;
  }

  /** True after close() or an asynchronous failure. */
  get closed(): boolean {
    return this.#closed;
  }

  acceptNonce(nonceHi: number, nonceLo: number): void {
    if (this.#closed || this.mode !== 'raw') return;
    this.#h.acceptNonce(nonceHi, nonceLo);
  }

  /** The current time on this socket's stamp scale (CLOCK_REALTIME ns since the socket opened). */
  nowNs(): number {
    return this.#h.now();
  }

  /** Counters of what the addon handled by itself. */
  stats(): NativeIcmpSocketStats {
    const s = this.#state;
    return {
      malformed: s[STATE_MALFORMED]!,
      txFromRing: s[STATE_TX_FROM_RING]!,
      txNoCopy: s[STATE_TX_NO_COPY]!,
      staleErrors: s[STATE_STALE_ERRORS]!,
    };
  }

  #setMask(mask: number): void {
    if (mask === this.#mask || this.#closed) return;
    try {
      this.#h.poll(mask);
      this.#mask = mask;
    } catch (err) {
      this.#fail(toSocketError(err));
    }
  }

  // Called by the addon from the libuv poll: errno > 0 is an asynchronous failure.
  readonly #dispatch = (errno: number, events: number): void => {
    if (this.#closed) return;
    if (errno !== 0) {
      this.#fail(new IcmpSocketError(errnoName(errno), `ICMP socket poll failed: ${errnoName(errno)}`));
      return;
    }
    if (events & WANT_WRITABLE) {
      const fn = this.#writable;
      this.#writable = undefined;
      this.#setMask(this.#mask & ~WANT_WRITABLE);
      fn?.();
      if (this.#closed) return;
    }
    if (events & WANT_READABLE) {
      if (this.#readable) {
        this.#readable();
      } else {
        // Polled for writability only: an error-queue entry (a transmit stamp nobody reads)
        // polls as an error, level-triggered, and would spin the loop. Nobody wants it: drop it.
        while (this.readErrors() === this.batchSize);
      }
    }
  };

  #fail(err: IcmpSocketError): void {
    if (this.#closed) return;
    const report = this.#onError;
    this.close();
    report?.(err);
  }
}

/**
 * Opens an ICMP socket through the addon. Throws ConfigError (ERR_CONFIG) naming every option out
 * of range, NetscanError ERR_ICMP_PERMISSION (cause: an IcmpSocketError with the errno, EPERM or
 * EACCES) when socket(2) is refused, ERR_ICMP_SOCKET for any other failure, including an addon
 * that is not built.
 */
export const openNativeIcmpSocket: IcmpSocketFactory = (opts) => openNativeIcmpSocketWith(opts);

/** {@link openNativeIcmpSocket} with {@link NativeSocketTuning} (tests, benchmarks). */
export function openNativeIcmpSocketWith(
  opts: OpenIcmpSocketOptions,
  tuning: NativeSocketTuning = {},
): NativeIcmpSocket {
  checkOpenIcmpSocketOptions(new OptionChecks('icmp'), opts).throwIfAny();
  const native = loadAddon();
  try {
    return new NativeIcmpSocket(native, opts, tuning);
  } catch (err) {
    if (err instanceof RangeError || err instanceof TypeError) throw err;
    throw openFailure(err, opts);
  }
}
