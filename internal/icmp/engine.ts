import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { monoMs, systemClock, type Clock, type TimerHandle } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { PingFailureReason, PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import { parseIpv4 } from './ipv4.js';
import {
  ICMP_ECHO_REPLY,
  MIN_PAYLOAD_BYTES,
  icmpErrorDetail,
  newIcmpV4View,
  parseIcmpV4,
  probeTag,
  writeEchoRequest,
} from './packet.js';
import { openRawIcmpSocket, type IcmpSocket, type IcmpSocketError, type IcmpSocketFactory } from './socket.js';

/** Options for {@link IcmpEngine}. */
export interface IcmpEngineOptions {
  /** Address family served by this engine; only `ipv4` is implemented. */
  family: 'ipv4';
  /** Most echo requests outstanding at once; further pings wait in FIFO order (1..60000). */
  maxInFlight: number;
  /** ICMP payload size in bytes, including netscan's 16-byte stamp (16..1472; 56 like ping(8)). */
  payloadBytes: number;
  /** Socket receive buffer to request, in bytes (the kernel reports twice the granted request). */
  rcvbufBytes: number;
  /** Time source for timeouts and timestamps; RTT comes from its monoNs(). */
  clock: Clock;
  /** Logger for lifecycle and socket problems (never per packet above debug). */
  logger: Logger | undefined;
  /** Opens the socket; tests inject a fake. */
  openSocket: IcmpSocketFactory;
  /** Randomness for the identifier, the sequence start, the nonce and the tag secret. */
  randomBytes: (n: number) => Buffer;
}

/** Defaults for {@link IcmpEngineOptions}. */
export const defaultIcmpEngineOptions: IcmpEngineOptions = {
  family: 'ipv4',
  maxInFlight: 8192,
  payloadBytes: 56,
  rcvbufBytes: 8 * 1024 * 1024,
  clock: systemClock,
  logger: undefined,
  openSocket: openRawIcmpSocket,
  randomBytes: cryptoRandomBytes,
};

/** Counters since the engine started. */
export interface IcmpEngineStats {
  /** Echo requests handed to the kernel. */
  sent: number;
  /** Matched echo replies (successful pings). */
  replies: number;
  /** Pings that got no matching reply within their timeout. */
  timeouts: number;
  /** Pings answered by an ICMP destination-unreachable / time-exceeded, or refused with ENETUNREACH/EHOSTUNREACH. */
  unreachable: number;
  /** Pings whose sendto failed (EPERM from a firewall, EINVAL, ...). */
  sendErrors: number;
  /** Pings aborted by the caller's signal. */
  aborted: number;
  /** Genuine replies of this engine that arrived after their ping had timed out or been aborted. */
  late: number;
  /** Genuine replies to a ping that had already been answered. */
  duplicates: number;
  /** ICMP packets for someone else (other processes' pings, errors about other traffic). */
  foreign: number;
  /** Replies carrying this engine's nonce that failed a check (identifier, source, tag, checksum). */
  invalid: number;
  /** Times the identifier changed (once per 65,536 sequence numbers). */
  identifierRotations: number;
  /** Asynchronous socket failures survived: each rejected the pings in flight, then the socket was reopened. */
  socketFailures: number;
  /** Pings currently holding a sequence number (sent or about to be sent). */
  inFlight: number;
  /** Pings waiting for the in-flight cap. */
  queued: number;
  /** Receive buffer granted by the kernel, in bytes. */
  rcvbufBytes: number;
  /** In-flight cap in force: maxInFlight, lowered if the receive buffer could not hold that many replies. */
  maxInFlight: number;
}

const enum State {
  Queued,
  Backlog,
  InFlight,
  Done,
}

const enum SlotHistory {
  None,
  Answered,
  Expired,
}

interface Probe {
  readonly ip: string;
  readonly ipU32: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (o: PingOutcome) => void;
  readonly reject: (e: unknown) => void;
  state: State;
  id: number;
  seq: number;
  serial: number;
  sentNs: bigint;
  sentAtMs: number;
  deadlineMs: number;
  fifo: DeadlineFifo | undefined;
  fifoPos: number;
}

/** Pings sharing one AbortSignal: one listener per signal, not per ping (EventTarget's add is O(listeners)). */
interface SignalGroup {
  readonly probes: Set<Probe>;
  readonly onAbort: () => void;
}

/**
 * FIFO of probes sharing one timeout value: deadlines are non-decreasing, so expiry is O(1).
 * A probe that settles early leaves a hole, so the answered majority dies young instead of
 * being held (and promoted to the old generation) until its deadline.
 */
class DeadlineFifo {
  #items: Array<Probe | undefined> = [];
  #head = 0;
  /** Absolute position of #items[0]. */
  #base = 0;
  push(p: Probe): void {
    p.fifo = this;
    p.fifoPos = this.#base + this.#items.length;
    this.#items.push(p);
  }
  /** Empties the slot of a probe that settled before its deadline. */
  clear(p: Probe): void {
    const i = p.fifoPos - this.#base;
    if (i >= this.#head && this.#items[i] === p) this.#items[i] = undefined;
    p.fifo = undefined;
  }
  /** First live probe, skipping holes. */
  peek(): Probe | undefined {
    while (this.#head < this.#items.length && this.#items[this.#head] === undefined) this.#head++;
    this.#compact();
    return this.#items[this.#head];
  }
  shift(): void {
    const p = this.#items[this.#head];
    if (p) p.fifo = undefined;
    this.#items[this.#head++] = undefined;
    this.#compact();
  }
  #compact(): void {
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#base += this.#head;
      this.#head = 0;
    }
  }
}

// Kernel memory charged per queued echo reply beyond its payload: skb truesize measured on
// Linux 6.x loopback as ~830 bytes for a 56-byte payload, rounded up.
const REPLY_TRUESIZE_BYTES = 968;
// The cap never goes below this, however small the buffer.
const MIN_IN_FLIGHT = 64;
// Most datagrams read per readable event, so a flood cannot starve the event loop.
/** Sends between two reads of the socket inside one burst of sends. */
const DRAIN_EVERY_SENDS = 16;
const MAX_DRAIN_PER_EVENT = 4096;
/** A socket failure this long after the previous one is reopened at once. */
const REOPEN_CALM_MS = 60_000;
/** Reopen delays double from 1 s up to 30 s while failures repeat. */
const nextReopenDelay = (prevMs: number): number => Math.min(30_000, Math.max(1000, prevMs * 2));
// Engines hold themselves here while running: a running engine is never garbage-collected
// with pings pending (net-ping sessions could be; docs/design.md, "ICMP engine").
const liveEngines = new Set<IcmpEngine>();

/**
 * The process's ICMP echo engine for one address family, shared by the sweep and the monitoring
 * schedulers. One raw socket; replies are matched on identifier, sequence, source address and a
 * payload stamp (engine nonce, per-probe serial, keyed tag), so stray, late, foreign and forged
 * replies never count. RTT is measured with the clock's monoNs() taken immediately before sendto.
 * Timeouts share one timer. See MANUAL.md, "The ICMP engine (design note)", for the design and figures.
 *
 * `ping()` never rejects for network conditions (those are outcomes); it rejects with the
 * signal's reason when the caller aborts, and with ERR_ICMP_SOCKET when the engine is not
 * running or stops with the ping pending.
 */
export class IcmpEngine implements Pinger {
  readonly #opts: IcmpEngineOptions;
  readonly #clock: Clock;
  #socket: IcmpSocket | undefined;
  #running = false;
  #failure: NetscanError | undefined;
  readonly #slots: Array<Probe | undefined> = new Array<Probe | undefined>(65536).fill(undefined);
  readonly #lastSerial = new Uint32Array(65536);
  readonly #lastHistory = new Uint8Array(65536);
  #waiting: Probe[] = [];
  #waitingHead = 0;
  #backlog: Probe[] = [];
  #backlogHead = 0;
  #backlogArmed = false;
  #inFlight = 0;
  #pumping = false;
  readonly #deadlines = new Map<number, DeadlineFifo>();
  readonly #signalGroups = new Map<AbortSignal, SignalGroup>();
  #timer: TimerHandle | undefined;
  #timerDueMs = Infinity;
  #id = 0;
  #nextSeq = 0;
  #serial = 0;
  #sentAny = false;
  #nonceHi = 0;
  #nonceLo = 0;
  #secret = 0;
  #packet: Buffer = Buffer.alloc(0);
  readonly #view = newIcmpV4View();
  readonly #stats: IcmpEngineStats = {
    sent: 0, replies: 0, timeouts: 0, unreachable: 0, sendErrors: 0, aborted: 0, late: 0, duplicates: 0,
    foreign: 0, invalid: 0, identifierRotations: 0, socketFailures: 0, inFlight: 0, queued: 0, rcvbufBytes: 0, maxInFlight: 0,
  };
  #reopenTimer: TimerHandle | undefined;
  #reopenDelayMs = 0;
  #lastSocketFailureMs = -Infinity;
  #maxInFlight = 0;

  constructor(opts: Partial<IcmpEngineOptions> = {}) {
    this.#opts = { ...defaultIcmpEngineOptions, ...opts };
    this.#clock = this.#opts.clock;
  }

  /** True between a successful start() and stop(). */
  get running(): boolean {
    return this.#running;
  }

  /** Current identifier (changes every 65,536 sequence numbers). */
  get identifier(): number {
    return this.#id;
  }

  /** A copy of the counters. */
  stats(): IcmpEngineStats {
    return { ...this.#stats, inFlight: this.#inFlight, queued: this.#waiting.length - this.#waitingHead };
  }

  /**
   * Opens the socket; idempotent. Rejects with NetscanError ERR_ICMP_PERMISSION (with advice)
   * without CAP_NET_RAW, or ERR_ICMP_SOCKET for other socket failures.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    const o = this.#opts;
    if (o.family !== 'ipv4') throw new NetscanError('ERR_ICMP_SOCKET', `address family ${String(o.family)} is not supported`, { stage: 'icmp' });
    if (!(o.maxInFlight >= 1 && o.maxInFlight <= 60000)) throw new RangeError(`maxInFlight must be 1..60000, got ${o.maxInFlight}`);
    if (!(o.payloadBytes >= MIN_PAYLOAD_BYTES && o.payloadBytes <= 1472)) throw new RangeError(`payloadBytes must be ${MIN_PAYLOAD_BYTES}..1472, got ${o.payloadBytes}`);
    const socket = o.openSocket({ family: o.family, rcvbufBytes: o.rcvbufBytes });
    const rnd = o.randomBytes(16);
    // A random identifier and sequence start per engine (blackbox_exporter does the same) keep
    // two netscan processes, and stateful firewalls that remember IDs (blackbox#591), apart.
    this.#id = rnd.readUInt16BE(0);
    this.#nextSeq = rnd.readUInt16BE(2);
    this.#nonceHi = rnd.readUInt32BE(4);
    this.#nonceLo = rnd.readUInt32BE(8);
    this.#secret = rnd.readUInt32BE(12);
    this.#sentAny = false;
    this.#packet = Buffer.alloc(8 + o.payloadBytes);
    this.#socket = socket;
    this.#failure = undefined;
    this.#stats.rcvbufBytes = socket.rcvbufBytes;
    // Every reply of the in-flight probes may arrive while the loop is stalled (GC, a long task);
    // they must all fit in the socket buffer or the kernel drops them silently (false loss).
    const replyBytes = REPLY_TRUESIZE_BYTES + o.payloadBytes;
    const fits = socket.rcvbufBytes > 0 ? Math.max(MIN_IN_FLIGHT, Math.floor(socket.rcvbufBytes / replyBytes)) : o.maxInFlight;
    this.#maxInFlight = Math.min(o.maxInFlight, fits);
    this.#stats.maxInFlight = this.#maxInFlight;
    this.#wire(socket);
    this.#running = true;
    for (const other of liveEngines) {
      if (other.#opts.family === o.family) {
        o.logger?.warn({ stage: 'icmp' }, 'a second ICMP engine is running in this process; each raw socket receives every ICMP packet, share one engine instead');
        break;
      }
    }
    liveEngines.add(this);
    o.logger?.info({ stage: 'icmp', identifier: this.#id, rcvbuf_bytes: socket.rcvbufBytes, max_in_flight: this.#maxInFlight }, 'ICMP engine started');
    if (this.#maxInFlight < o.maxInFlight) {
      o.logger?.warn(
        { stage: 'icmp', requested_bytes: o.rcvbufBytes, granted_bytes: socket.rcvbufBytes, max_in_flight: this.#maxInFlight },
        'ICMP receive buffer too small for the in-flight cap; cap lowered. Raise net.core.rmem_max (or grant CAP_NET_ADMIN) for full speed',
      );
    }
  }

  #wire(socket: IcmpSocket): void {
    socket.onReadable(() => {
      if (this.#socket === socket) this.#drain();
    });
    socket.onError((err) => {
      if (this.#socket === socket) this.#onSocketError(err);
    });
  }

  /** Closes the socket and rejects pending pings with ERR_ICMP_SOCKET; idempotent, safe before start(). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#shutDown(new NetscanError('ERR_ICMP_SOCKET', 'ICMP engine stopped', { stage: 'icmp' }));
    const st = this.stats();
    this.#opts.logger?.info(
      { stage: 'icmp', sent: st.sent, replies: st.replies, timeouts: st.timeouts, unreachable: st.unreachable, send_errors: st.sendErrors, late: st.late, duplicates: st.duplicates, foreign: st.foreign, invalid: st.invalid },
      'ICMP engine stopped',
    );
  }

  /** Sends one echo request to `ip` (dotted IPv4) and resolves with the outcome. */
  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    if (!this.#running || this.#socket === undefined) {
      return Promise.reject(this.#failure ?? new NetscanError('ERR_ICMP_SOCKET', 'ICMP engine is not running', { stage: 'icmp', ip }));
    }
    const ipU32 = parseIpv4(ip);
    if (ipU32 === undefined) return Promise.reject(new TypeError(`not an IPv4 address: ${JSON.stringify(ip)}`));
    const timeoutMs = opts.timeoutMs;
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) return Promise.reject(new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<PingOutcome>((resolve, reject) => {
      const p: Probe = {
        ip, ipU32, timeoutMs, signal, resolve, reject,
        state: State.Queued, id: 0, seq: -1, serial: 0, sentNs: 0n, sentAtMs: 0, deadlineMs: 0, fifo: undefined, fifoPos: 0,
      };
      if (signal) this.#watchSignal(signal, p);
      if (this.#inFlight < this.#maxInFlight && this.#waitingHead >= this.#waiting.length) this.#transmit(p);
      else this.#waiting.push(p);
    });
  }

  #transmit(p: Probe): void {
    p.seq = this.#allocSeq();
    p.id = this.#id;
    this.#serial = (this.#serial + 1) >>> 0;
    p.serial = this.#serial;
    this.#slots[p.seq] = p;
    this.#inFlight++;
    // Probes that ended while held (timed out, aborted) no longer hold the queue.
    while (this.#backlogHead < this.#backlog.length && this.#backlog[this.#backlogHead]!.state !== State.Backlog) this.#backlogHead++;
    if (this.#backlogHead > 0 && this.#backlogHead >= this.#backlog.length) {
      this.#backlog = [];
      this.#backlogHead = 0;
    }
    if (this.#backlogHead < this.#backlog.length) {
      this.#toBacklog(p);
      return;
    }
    if (!this.#sendNow(p)) {
      this.#toBacklog(p);
      this.#armBacklog();
    }
  }

  /**
   * Holds a probe the socket would not take yet (EAGAIN/ENOBUFS). Its timeout runs from now: if the
   * socket stays full that long, it ends as agent_error (never sent; says nothing about the host).
   */
  #toBacklog(p: Probe): void {
    p.state = State.Backlog;
    p.sentAtMs = this.#clock.now();
    p.deadlineMs = monoMs(this.#clock) + p.timeoutMs;
    this.#backlog.push(p);
    if (p.deadlineMs < this.#timerDueMs) this.#armTimer(p.deadlineMs);
  }

  /** Writes and sends the packet; returns false when the socket is full (EAGAIN/ENOBUFS). */
  #sendNow(p: Probe): boolean {
    const socket = this.#socket!;
    const idSeq = ((p.id << 16) | p.seq) >>> 0;
    const length = writeEchoRequest(
      this.#packet,
      { id: p.id, seq: p.seq, nonceHi: this.#nonceHi, nonceLo: this.#nonceLo, serial: p.serial, tag: probeTag(this.#secret, p.serial, p.ipU32, idSeq) },
      this.#opts.payloadBytes,
    );
    p.sentAtMs = this.#clock.now();
    // The send timestamp is taken after the packet is built, immediately before sendto(2).
    p.sentNs = this.#clock.monoNs();
    try {
      socket.send(this.#packet, length, p.ip);
    } catch (err) {
      const code = (err as IcmpSocketError).code;
      if (code === 'EAGAIN' || code === 'ENOBUFS') return false;
      if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || code === 'EHOSTDOWN') {
        this.#stats.unreachable++;
        this.#finish(p, this.#failed(p, 'unreachable', (err as Error).message), SlotHistory.Expired);
      } else {
        this.#stats.sendErrors++;
        this.#finish(p, this.#failed(p, 'send_error', (err as Error).message), SlotHistory.Expired);
      }
      return true;
    }
    this.#stats.sent++;
    // Read replies right after this burst of sends (a microtask runs once the caller's synchronous
    // work ends, before the event loop turns): on a fast network they are already waiting, and
    // reading them now instead of after the loop's other phases keeps the measured RTT close to
    // the wire's (loopback median 0.33 -> see MANUAL, Benchmarks).
    if (!this.#drainQueued) {
      this.#drainQueued = true;
      queueMicrotask(this.#burstDrain);
    }
    p.state = State.InFlight;
    p.deadlineMs = Number(p.sentNs) / 1e6 + p.timeoutMs;
    let fifo = this.#deadlines.get(p.timeoutMs);
    if (!fifo) {
      fifo = new DeadlineFifo();
      this.#deadlines.set(p.timeoutMs, fifo);
    }
    fifo.push(p);
    if (p.deadlineMs < this.#timerDueMs) this.#armTimer(p.deadlineMs);
    // Within a long burst, read every few sends too, so early probes of the burst are not timed
    // by the burst's length. The probe is fully recorded above; a drain that settles probes may
    // send queued ones (nested sends do not drain again).
    if (++this.#sendsSinceDrain >= DRAIN_EVERY_SENDS && !this.#inSendDrain) {
      this.#sendsSinceDrain = 0;
      this.#inSendDrain = true;
      try {
        this.#drain();
      } finally {
        this.#inSendDrain = false;
      }
    }
    return true;
  }

  #armBacklog(): void {
    const socket = this.#socket;
    if (this.#backlogArmed || !socket) return;
    this.#backlogArmed = true;
    socket.onceWritable(() => {
      if (this.#socket !== socket) return;
      this.#backlogArmed = false;
      this.#flushBacklog();
    });
  }

  #flushBacklog(): void {
    if (!this.#running) return;
    while (this.#backlogHead < this.#backlog.length) {
      const p = this.#backlog[this.#backlogHead]!;
      if (p.state === State.Backlog && !this.#sendNow(p)) {
        this.#armBacklog();
        return;
      }
      this.#backlog[this.#backlogHead++] = undefined as never;
    }
    this.#backlog = [];
    this.#backlogHead = 0;
  }

  #allocSeq(): number {
    // The cap keeps in-flight probes far below 65,536, so a free sequence number is always near.
    for (;;) {
      const seq = this.#nextSeq;
      this.#nextSeq = (seq + 1) & 0xffff;
      if (seq === 0 && this.#sentAny) this.#rotateIdentifier();
      this.#sentAny = true;
      if (this.#slots[seq] === undefined) return seq;
    }
  }

  #rotateIdentifier(): void {
    // Probes still in flight keep the identifier they were sent with (checked per slot).
    let id = this.#id;
    while (id === this.#id) id = this.#opts.randomBytes(2).readUInt16BE(0);
    this.#id = id;
    this.#stats.identifierRotations++;
  }

  #drainQueued = false;
  #sendsSinceDrain = 0;
  #inSendDrain = false;

  readonly #burstDrain = (): void => {
    this.#drainQueued = false;
    this.#drain();
  };

  #inDrain = false;

  /**
   * Reads up to MAX_DRAIN_PER_EVENT waiting datagrams; returns how many. Not re-entrant: a send
   * made while a read settles probes may ask for another read, and a nested read would end the
   * socket's read callback under the outer one (whose remaining datagrams would then be lost).
   */
  #drain(): number {
    const socket = this.#socket;
    if (!socket || this.#inDrain) return 0;
    this.#inDrain = true;
    try {
      return socket.drain(this.#onPacket, MAX_DRAIN_PER_EVENT);
    } finally {
      this.#inDrain = false;
    }
  }

  readonly #onPacket = (buf: Buffer, length: number, source: string): void => {
    const v = this.#view;
    if (!parseIcmpV4(buf, length, v)) {
      this.#stats.foreign++;
      return;
    }
    const off = v.stampOffset;
    const quotesNonce = v.stampBytes >= 8;
    const ours = quotesNonce && buf.readUInt32BE(off) === this.#nonceHi && buf.readUInt32BE(off + 4) === this.#nonceLo;
    // Errors from routers that quote only 8 bytes of the request (RFC 792's minimum) carry no
    // nonce; they are matched on identifier, sequence and destination alone.
    if (v.type === ICMP_ECHO_REPLY ? !ours : quotesNonce && !ours) {
      this.#stats.foreign++;
      return;
    }
    if (v.type === ICMP_ECHO_REPLY) this.#onReply(buf, v.id, v.seq, source, v.checksumOk && v.stampBytes >= 16);
    else this.#onError(buf, source);
  };

  #onReply(buf: Buffer, id: number, seq: number, source: string, wellFormed: boolean): void {
    if (!wellFormed) {
      this.#stats.invalid++;
      return;
    }
    const off = this.#view.stampOffset;
    const serial = buf.readUInt32BE(off + 8);
    const tag = buf.readUInt32BE(off + 12);
    const idSeq = ((id << 16) | seq) >>> 0;
    const p = this.#slots[seq];
    if (p === undefined || p.serial !== serial || p.state !== State.InFlight) {
      const sourceU32 = parseIpv4(source);
      if (sourceU32 === undefined || tag !== probeTag(this.#secret, serial, sourceU32, idSeq)) {
        this.#stats.invalid++;
      } else if (this.#lastSerial[seq] === serial && this.#lastHistory[seq] === SlotHistory.Answered) {
        this.#stats.duplicates++;
      } else {
        this.#stats.late++;
      }
      return;
    }
    if (p.id !== id || source !== p.ip || tag !== probeTag(this.#secret, serial, p.ipU32, idSeq)) {
      this.#stats.invalid++;
      return;
    }
    const rttMs = Number(this.#clock.monoNs() - p.sentNs) / 1e6;
    this.#stats.replies++;
    this.#finish(p, { ok: true, ip: p.ip, rttMs, sentAtMs: p.sentAtMs }, SlotHistory.Answered);
  }

  #onError(buf: Buffer, source: string): void {
    const v = this.#view;
    // A damaged error message must not mark a host unreachable (that feeds its breaker).
    if (!v.checksumOk) {
      this.#stats.invalid++;
      return;
    }
    const p = this.#slots[v.seq];
    // The quoted request must be one of ours in flight: identifier, destination and, when
    // quoted far enough (Linux quotes up to 576 bytes), the serial.
    if (p === undefined || p.state !== State.InFlight || p.id !== v.id || p.ipU32 !== v.originalDst
      || (v.stampBytes >= 12 && buf.readUInt32BE(v.stampOffset + 8) !== p.serial)) {
      this.#stats.foreign++;
      return;
    }
    this.#stats.unreachable++;
    this.#finish(p, this.#failed(p, 'unreachable', `${icmpErrorDetail(v.type, v.code)} (from ${source})`), SlotHistory.Expired);
  }

  #failed(p: Probe, reason: PingFailureReason, detail?: string): PingOutcome {
    return detail === undefined
      ? { ok: false, ip: p.ip, reason, sentAtMs: p.sentAtMs }
      : { ok: false, ip: p.ip, reason, sentAtMs: p.sentAtMs, detail };
  }

  #armTimer(dueMs: number): void {
    this.#timer?.cancel();
    this.#timerDueMs = dueMs;
    const nowMs = monoMs(this.#clock);
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, Math.ceil(dueMs - nowMs)));
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#timerDueMs = Infinity;
    if (!this.#running) return;
    // Read what already arrived before declaring anything lost: if the event loop stalled, the
    // replies are waiting in the socket buffer, and the timers phase runs before the poll phase.
    // Read all of them (more than one read's worth may wait after a long stall), within a bound
    // so another process's ICMP flood cannot hold the loop.
    for (let round = Math.ceil(this.#maxInFlight / MAX_DRAIN_PER_EVENT) + 1; round > 0 && this.#drain() === MAX_DRAIN_PER_EVENT; round--);
    const nowMs = monoMs(this.#clock);
    let nextMs = Infinity;
    for (const [timeoutMs, fifo] of this.#deadlines) {
      for (let p = fifo.peek(); p !== undefined; p = fifo.peek()) {
        if (p.state !== State.InFlight) {
          fifo.shift();
          continue;
        }
        if (p.deadlineMs > nowMs) break;
        fifo.shift();
        this.#stats.timeouts++;
        this.#finish(p, this.#failed(p, 'timeout'), SlotHistory.Expired);
      }
      const head = fifo.peek();
      if (head === undefined) this.#deadlines.delete(timeoutMs);
      else nextMs = Math.min(nextMs, head.deadlineMs);
    }
    // Probes the socket never took (it stayed full): rare and few, so a scan is fine.
    for (let i = this.#backlogHead; i < this.#backlog.length; i++) {
      const p = this.#backlog[i]!;
      if (p.state !== State.Backlog) continue;
      if (p.deadlineMs <= nowMs) {
        this.#stats.sendErrors++;
        this.#finish(p, this.#failed(p, 'agent_error', 'never sent: the socket stayed full (EAGAIN/ENOBUFS)'), SlotHistory.Expired);
      } else {
        nextMs = Math.min(nextMs, p.deadlineMs);
      }
    }
    if (nextMs < this.#timerDueMs) this.#armTimer(nextMs);
  };

  #finish(p: Probe, outcome: PingOutcome, history: SlotHistory): void {
    if (p.state === State.Done) return;
    this.#release(p, history);
    p.resolve(outcome);
    this.#pump();
  }

  #release(p: Probe, history: SlotHistory): void {
    if (p.seq >= 0 && this.#slots[p.seq] === p) {
      this.#slots[p.seq] = undefined;
      this.#lastSerial[p.seq] = p.serial;
      this.#lastHistory[p.seq] = history;
      this.#inFlight--;
    }
    p.state = State.Done;
    p.fifo?.clear(p);
    if (p.signal) {
      const group = this.#signalGroups.get(p.signal);
      if (group && group.probes.delete(p) && group.probes.size === 0) {
        p.signal.removeEventListener('abort', group.onAbort);
        this.#signalGroups.delete(p.signal);
      }
    }
  }

  #watchSignal(signal: AbortSignal, p: Probe): void {
    let group = this.#signalGroups.get(signal);
    if (!group) {
      const probes = new Set<Probe>();
      const onAbort = (): void => {
        this.#signalGroups.delete(signal);
        for (const q of probes) this.#abort(q);
      };
      group = { probes, onAbort };
      this.#signalGroups.set(signal, group);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    group.probes.add(p);
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running && this.#inFlight < this.#maxInFlight && this.#waitingHead < this.#waiting.length) {
        const p = this.#waiting[this.#waitingHead]!;
        this.#waiting[this.#waitingHead++] = undefined as never;
        if (p.state !== State.Queued) continue;
        if (p.signal?.aborted) this.#abort(p);
        else this.#transmit(p);
      }
      if (this.#waitingHead >= this.#waiting.length) {
        this.#waiting = [];
        this.#waitingHead = 0;
      } else if (this.#waitingHead >= 1024 && this.#waitingHead * 2 >= this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#waitingHead);
        this.#waitingHead = 0;
      }
    } finally {
      this.#pumping = false;
    }
  }

  #abort(p: Probe): void {
    if (p.state === State.Done) return;
    this.#stats.aborted++;
    this.#release(p, SlotHistory.Expired);
    p.reject(p.signal!.reason);
    this.#pump();
  }

  /**
   * An asynchronous socket failure: the pings in flight are rejected with ERR_ICMP_SOCKET (their
   * replies may be lost: an agent fault, not a host's), pings are refused while the socket is
   * down, and a new socket is opened: at once after a first failure, then with a delay doubling
   * from 1 s to 30 s while failures repeat within a minute or reopening fails.
   */
  #onSocketError(err: Error): void {
    if (!this.#running || this.#socket === undefined) return;
    this.#stats.socketFailures++;
    const now = this.#clock.now();
    this.#reopenDelayMs = now - this.#lastSocketFailureMs > REOPEN_CALM_MS ? 0 : nextReopenDelay(this.#reopenDelayMs);
    this.#lastSocketFailureMs = now;
    this.#opts.logger?.error(
      { stage: 'icmp', err, failures: this.#stats.socketFailures, reopen_in_ms: this.#reopenDelayMs },
      'ICMP socket failed; pings in flight rejected, reopening the socket',
    );
    this.#failure = new NetscanError('ERR_ICMP_SOCKET', `ICMP socket failed: ${err.message}`, { stage: 'icmp', cause: err });
    this.#closeSocket(this.#failure);
    this.#reopenTimer = this.#clock.setTimeout(() => this.#reopen(), this.#reopenDelayMs);
  }

  #reopen(): void {
    this.#reopenTimer = undefined;
    if (!this.#running) return;
    const o = this.#opts;
    try {
      const socket = o.openSocket({ family: o.family, rcvbufBytes: o.rcvbufBytes });
      this.#socket = socket;
      this.#failure = undefined;
      this.#stats.rcvbufBytes = socket.rcvbufBytes;
      this.#wire(socket);
      o.logger?.info({ stage: 'icmp', failures: this.#stats.socketFailures }, 'ICMP socket reopened; pinging resumed');
    } catch (err) {
      this.#reopenDelayMs = nextReopenDelay(this.#reopenDelayMs);
      o.logger?.error({ stage: 'icmp', err, reopen_in_ms: this.#reopenDelayMs }, 'ICMP socket could not be reopened; retrying');
      this.#reopenTimer = this.#clock.setTimeout(() => this.#reopen(), this.#reopenDelayMs);
    }
  }

  /** Stops the engine: timers, the socket, and every pending ping rejected with `err`. */
  #shutDown(err: NetscanError): void {
    this.#running = false;
    liveEngines.delete(this);
    this.#reopenTimer?.cancel();
    this.#reopenTimer = undefined;
    this.#closeSocket(err);
  }

  #closeSocket(err: NetscanError): void {
    this.#backlogArmed = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerDueMs = Infinity;
    this.#socket?.close();
    this.#socket = undefined;
    this.#failAll(err);
  }

  #failAll(err: NetscanError): void {
    const pending: Probe[] = [];
    for (let seq = 0; seq < 65536; seq++) {
      const p = this.#slots[seq];
      if (p) pending.push(p);
    }
    for (let i = this.#waitingHead; i < this.#waiting.length; i++) pending.push(this.#waiting[i]!);
    this.#waiting = [];
    this.#waitingHead = 0;
    this.#backlog = [];
    this.#backlogHead = 0;
    this.#deadlines.clear();
    for (const p of pending) {
      if (p.state === State.Done) continue;
      this.#release(p, SlotHistory.Expired);
      p.reject(err);
    }
  }
}
