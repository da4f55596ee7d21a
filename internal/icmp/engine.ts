import { monoMs, type Clock, type TimerHandle } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import type { PingFailureReason, PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import { formatIpv6, parseIpv6 } from '../net/ipv6.js';
import {
  defaultIcmpEngineOptions,
  zeroIcmpEngineStats,
  type IcmpEngineOptions,
  type IcmpEngineStats,
} from './engine-options.js';
import { parseIpv4 } from './ipv4.js';
import { ECHO_HEADER_BYTES, MAX_PAYLOAD_BYTES_V4, MIN_PAYLOAD_BYTES, writePadding } from './packet.js';
import { MAX_PAYLOAD_BYTES_V6, foldIpv6 } from './packet6.js';
import { EchoReader, MAX_READ_PER_EVENT } from './echo-reader.js';
import { EchoSender } from './echo-sender.js';
import { Deadlines, ProbeSlots, SlotHistory, State, socketRef, type Probe, type SocketRef } from './probe.js';

export { defaultIcmpEngineOptions, type IcmpEngineOptions, type IcmpEngineStats } from './engine-options.js';

/** Where {@link capture} leaves the functions of the promise being built. */
const captured: { resolve: (o: PingOutcome) => void; reject: (e: unknown) => void } = {
  resolve: () => {},
  reject: () => {},
};
const capture = (resolve: (o: PingOutcome) => void, reject: (e: unknown) => void): void => {
  captured.resolve = resolve;
  captured.reject = reject;
};

/** Pings sharing one AbortSignal: one listener per signal, not per ping (EventTarget's add is O(listeners)). */
interface SignalGroup {
  readonly probes: Set<Probe>;
  readonly onAbort: () => void;
}

// Kernel memory charged per queued echo reply beyond its payload: skb truesize measured on
// Linux 6.x loopback as ~830 bytes for a 56-byte payload, rounded up.
const REPLY_TRUESIZE_BYTES = 968;
// The cap never goes below this, however small the buffer.
const MIN_IN_FLIGHT = 64;
/** A socket failure this long after the previous one is reopened at once. */
const REOPEN_CALM_MS = 60_000;
/** Reopen delays double from 1 s up to 30 s while failures repeat. */
const nextReopenDelay = (prevMs: number): number => Math.min(30_000, Math.max(1000, prevMs * 2));
// Engines hold themselves here while running: a running engine is never garbage-collected with
// pings pending (net-ping's sessions were, and their pings never settled).
const liveEngines = new Set<IcmpEngine>();

/**
 * The process's ICMP echo engine for one address family, shared by the sweep and the monitoring
 * schedulers (through {@link IcmpPinger}). One socket (raw or datagram, as the factory opens it);
 * requests are queued into the socket's send batch and flushed once per burst. Replies are matched
 * on identifier, sequence, source address, a payload stamp (engine nonce, per-probe serial, keyed
 * tag) and the whole echoed payload, so stray, late, foreign, forged and damaged replies never
 * count. RTT is kernel receive stamp minus kernel transmit stamp; without a pair, the clock's
 * monoNs() before the flush to monoNs() at the read. Timeouts share one timer. See MANUAL.md,
 * "The ICMP engine (design note)".
 *
 * `ping()` never rejects for network conditions (those are outcomes); it rejects with the
 * signal's reason when the caller aborts, and with ERR_ICMP_SOCKET when the engine is not
 * running or stops with the ping pending.
 */
export class IcmpEngine implements Pinger {
  readonly #opts: IcmpEngineOptions;
  readonly #clock: Clock;
  readonly #v6: boolean;
  #current: SocketRef | undefined;
  #retiring: SocketRef[] = [];
  #running = false;
  #failure: NetscanError | undefined;
  readonly #table = new ProbeSlots();
  readonly #reader: EchoReader;
  readonly #sender: EchoSender;
  #waiting: Probe[] = [];
  #waitingHead = 0;
  #rotatePending = false;
  #inFlight = 0;
  #pumping = false;
  readonly #deadlines = new Deadlines();
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
  readonly #addr = new Uint8Array(16);
  readonly #stats: IcmpEngineStats;
  #reopenTimer: TimerHandle | undefined;
  #reopenDelayMs = 0;
  #lastSocketFailureMs = -Infinity;
  #maxInFlight = 0;

  constructor(opts: Partial<IcmpEngineOptions> = {}) {
    this.#opts = { ...defaultIcmpEngineOptions, ...opts };
    this.#clock = this.#opts.clock;
    this.#v6 = this.#opts.family === 'ipv6';
    this.#stats = zeroIcmpEngineStats(this.#opts.family);
    this.#reader = new EchoReader({
      family: this.#opts.family,
      payloadBytes: this.#opts.payloadBytes,
      clock: this.#clock,
      stats: this.#stats,
      table: this.#table,
      settle: (p, outcome, history) => this.#finish(p, outcome, history),
    });
    this.#sender = new EchoSender({
      family: this.#opts.family,
      payloadBytes: this.#opts.payloadBytes,
      clock: this.#clock,
      identifier: (ref) => this.#identifierOf(ref),
      hooks: {
        sent: (p, sentNs, sentMonoMs, nowMs) => this.#sent(p, sentNs, sentMonoMs, nowMs),
        refused: (p, code) => this.#refused(p, code),
        held: (p) => {
          if (p.deadlineMs < this.#timerDueMs) this.#armTimer(p.deadlineMs);
        },
        read: (ref) => {
          if (this.#running) this.#drain(ref);
        },
      },
    });
  }

  /** True between a successful start() and stop(). */
  get running(): boolean {
    return this.#running;
  }

  /** Identifier of new requests (changes every 65,536 sequence numbers). */
  get identifier(): number {
    return this.#identifierOf(this.#current);
  }

  /** A copy of the counters. */
  stats(): IcmpEngineStats {
    const open = (this.#current ? 1 : 0) + this.#retiring.length;
    return {
      ...this.#stats,
      socketsOpen: open,
      inFlight: this.#inFlight,
      queued: this.#waiting.length - this.#waitingHead,
    };
  }

  /**
   * Opens the socket; idempotent. Rejects with NetscanError ERR_ICMP_PERMISSION (with advice)
   * when the process may not open it, or ERR_ICMP_SOCKET for other socket failures.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    const o = this.#opts;
    if (o.family !== 'ipv4' && o.family !== 'ipv6')
      throw new NetscanError('ERR_ICMP_SOCKET', `address family ${String(o.family)} is not supported`, {
        stage: 'icmp',
      });
    if (!(o.maxInFlight >= 1 && o.maxInFlight <= 60000))
      throw new RangeError(`maxInFlight must be 1..60000, got ${o.maxInFlight}`);
    const maxPayload = this.#v6 ? MAX_PAYLOAD_BYTES_V6 : MAX_PAYLOAD_BYTES_V4;
    if (!(o.payloadBytes >= MIN_PAYLOAD_BYTES && o.payloadBytes <= maxPayload)) {
      throw new RangeError(
        `payloadBytes must be ${MIN_PAYLOAD_BYTES}..${maxPayload} for ${o.family}, got ${o.payloadBytes}`,
      );
    }
    const ref = this.#open();
    const rnd = o.randomBytes(16);
    // A random identifier and sequence start per engine (blackbox_exporter does the same) keep
    // two netscan processes, and stateful firewalls that remember IDs (blackbox#591), apart.
    this.#id = rnd.readUInt16BE(0);
    this.#nextSeq = rnd.readUInt16BE(2);
    this.#nonceHi = rnd.readUInt32BE(4);
    this.#nonceLo = rnd.readUInt32BE(8);
    this.#secret = rnd.readUInt32BE(12);
    this.#sentAny = false;
    this.#packet = Buffer.alloc(ECHO_HEADER_BYTES + o.payloadBytes);
    writePadding(this.#packet, o.payloadBytes);
    this.#reader.keys({ nonceHi: this.#nonceHi, nonceLo: this.#nonceLo, secret: this.#secret, template: this.#packet });
    this.#sender.keys({ nonceHi: this.#nonceHi, nonceLo: this.#nonceLo, secret: this.#secret, packet: this.#packet });
    this.#use(ref);
    this.#failure = undefined;
    // Every reply of the in-flight probes may arrive while the loop is stalled (GC, a long task);
    // they must all fit in the socket buffer or the kernel drops them silently (false loss).
    const socket = ref.socket;
    const replyBytes = REPLY_TRUESIZE_BYTES + o.payloadBytes;
    const fits =
      socket.rcvbufBytes > 0 ? Math.max(MIN_IN_FLIGHT, Math.floor(socket.rcvbufBytes / replyBytes)) : o.maxInFlight;
    this.#maxInFlight = Math.min(o.maxInFlight, fits);
    this.#stats.maxInFlight = this.#maxInFlight;
    this.#running = true;
    if (socket.mode === 'raw') {
      for (const other of liveEngines) {
        if (other.#opts.family === o.family && other.#current?.socket.mode === 'raw') {
          o.logger?.warn(
            { stage: 'icmp', family: o.family },
            'a second raw ICMP engine is running in this process; each raw socket receives every ICMP packet, share one engine instead',
          );
          break;
        }
      }
    }
    liveEngines.add(this);
    o.logger?.info(
      {
        stage: 'icmp',
        family: o.family,
        mode: socket.mode,
        identifier: this.identifier,
        kernel_stamps: socket.kernelStamps,
        rcvbuf_bytes: socket.rcvbufBytes,
        max_in_flight: this.#maxInFlight,
      },
      'ICMP engine started',
    );
    if (this.#maxInFlight < o.maxInFlight) {
      o.logger?.warn(
        {
          stage: 'icmp',
          requested_bytes: o.rcvbufBytes,
          granted_bytes: socket.rcvbufBytes,
          max_in_flight: this.#maxInFlight,
        },
        'ICMP receive buffer too small for the in-flight cap; cap lowered. Raise net.core.rmem_max (or grant CAP_NET_ADMIN) for full speed',
      );
    }
  }

  /** Opens a socket with the engine's settings and wires its callbacks. */
  #open(): SocketRef {
    const o = this.#opts;
    const socket = o.openSocket({
      family: o.family,
      mode: o.mode,
      rcvbufBytes: o.rcvbufBytes,
      tos: o.tos,
      ttl: o.ttl,
      sourceAddress: o.sourceAddress,
      interfaceName: o.interfaceName,
    });
    if (socket.family !== o.family) {
      socket.close();
      throw new NetscanError(
        'ERR_ICMP_SOCKET',
        `the socket factory opened an ${socket.family} socket for an ${o.family} engine`,
        { stage: 'icmp' },
      );
    }
    const ref = socketRef(socket);
    socket.onReadable(() => {
      if (!ref.closed) this.#drain(ref);
    });
    socket.onError((err) => {
      if (!ref.closed) this.#onSocketError(err);
    });
    return ref;
  }

  #use(ref: SocketRef): void {
    this.#current = ref;
    this.#sender.use(ref);
    this.#stats.mode = ref.socket.mode;
    this.#stats.kernelStamps = ref.socket.kernelStamps;
    this.#stats.rcvbufBytes = ref.socket.rcvbufBytes;
  }

  #identifierOf(ref: SocketRef | undefined): number {
    return ref?.socket.mode === 'dgram' ? (ref.socket.identifier ?? 0) : this.#id;
  }

  /** Closes the socket and rejects pending pings with ERR_ICMP_SOCKET; idempotent, safe before start(). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#shutDown(new NetscanError('ERR_ICMP_SOCKET', 'ICMP engine stopped', { stage: 'icmp' }));
    const st = this.stats();
    this.#opts.logger?.info(
      {
        stage: 'icmp',
        family: st.family,
        sent: st.sent,
        replies: st.replies,
        rtt_kernel: st.rttKernel,
        rtt_userspace: st.rttUserspace,
        timeouts: st.timeouts,
        unreachable: st.unreachable,
        send_errors: st.sendErrors,
        late: st.late,
        duplicates: st.duplicates,
        foreign: st.foreign,
        invalid: st.invalid,
      },
      'ICMP engine stopped',
    );
  }

  /** Sends one echo request to `ip` (an address of the engine's family) and resolves with the outcome; the outcome's `ip` is the canonical text. */
  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    if (!this.#running || this.#current === undefined) {
      return Promise.reject(
        this.#failure ?? new NetscanError('ERR_ICMP_SOCKET', 'ICMP engine is not running', { stage: 'icmp', ip }),
      );
    }
    let w0: number,
      w1 = 0,
      w2 = 0,
      w3 = 0,
      key: number,
      text = ip;
    if (this.#v6) {
      const a = parseIpv6(ip, this.#addr);
      if (a === undefined) return Promise.reject(new TypeError(`not an IPv6 address: ${JSON.stringify(ip)}`));
      const b = Buffer.from(a.buffer, a.byteOffset, 16);
      w0 = b.readUInt32BE(0);
      w1 = b.readUInt32BE(4);
      w2 = b.readUInt32BE(8);
      w3 = b.readUInt32BE(12);
      key = foldIpv6(w0, w1, w2, w3);
      text = formatIpv6(a);
    } else {
      const v4 = parseIpv4(ip);
      if (v4 === undefined) return Promise.reject(new TypeError(`not an IPv4 address: ${JSON.stringify(ip)}`));
      w0 = key = v4;
    }
    const timeoutMs = opts.timeoutMs;
    if (!(timeoutMs > 0 && Number.isFinite(timeoutMs)))
      return Promise.reject(new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`));
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    // One shared executor instead of a closure per ping (it runs synchronously inside the constructor).
    const promise = new Promise<PingOutcome>(capture);
    const p: Probe = {
      ip: text,
      w0,
      w1,
      w2,
      w3,
      addrKey: key,
      timeoutMs,
      signal,
      resolve: captured.resolve,
      reject: captured.reject,
      state: State.Queued,
      ref: undefined,
      id: 0,
      seq: -1,
      serial: 0,
      sentNs: 0n,
      txNs: NaN,
      sentAtMs: 0,
      deadlineMs: 0,
      fifo: undefined,
      fifoPos: 0,
    };
    try {
      if (signal) this.#watchSignal(signal, p);
      if (this.#inFlight < this.#maxInFlight && this.#waitingHead >= this.#waiting.length) this.#transmit(p);
      else this.#waiting.push(p);
    } catch (err) {
      p.reject(err);
    }
    return promise;
  }

  #transmit(p: Probe): void {
    p.seq = this.#allocSeq();
    this.#serial = (this.#serial + 1) >>> 0;
    p.serial = this.#serial;
    this.#table.probes[p.seq] = p;
    this.#inFlight++;
    this.#sender.send(p);
  }

  /** The kernel refused to send `p`: unreachable for routing errnos (it says something about the path), else send_error. */
  #refused(p: Probe, code: string): void {
    const detail = `sendmmsg: ${code}`;
    if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || code === 'EHOSTDOWN') {
      this.#stats.unreachable++;
      this.#finish(p, this.#failed(p, 'unreachable', detail), SlotHistory.Expired);
    } else {
      this.#stats.sendErrors++;
      this.#finish(p, this.#failed(p, 'send_error', detail), SlotHistory.Expired);
    }
  }

  /** A probe left in a flush: its deadline runs from the user-space send time. */
  #sent(p: Probe, sentNs: bigint, sentMonoMs: number, nowMs: number): void {
    this.#stats.sent++;
    if (p.state !== State.Batched) return;
    p.state = State.InFlight;
    p.sentNs = sentNs;
    p.sentAtMs = nowMs;
    p.txNs = NaN;
    p.deadlineMs = sentMonoMs + p.timeoutMs;
    this.#deadlines.push(p);
    if (p.deadlineMs < this.#timerDueMs) this.#armTimer(p.deadlineMs);
  }

  #allocSeq(): number {
    // The cap keeps in-flight probes far below 65,536, so a free sequence number is always near.
    for (;;) {
      const seq = this.#nextSeq;
      this.#nextSeq = (seq + 1) & 0xffff;
      if (seq === 0 && this.#sentAny) this.#rotatePending = true;
      if (this.#rotatePending) this.#rotateIdentifier();
      this.#sentAny = true;
      if (this.#table.probes[seq] === undefined) return seq;
    }
  }

  /**
   * A new identifier for the next 65,536 sequence numbers. Raw: drawn at random. Datagram: the
   * kernel owns it (the socket's port), so a new socket is opened; the old one keeps reading until
   * its probes end (closing it now would lose their replies). Probes in flight keep the
   * identifier they were sent with (checked per slot).
   */
  #rotateIdentifier(): void {
    const old = this.#current!;
    if (old.socket.mode === 'raw') {
      let id = this.#id;
      while (id === this.#id) id = this.#opts.randomBytes(2).readUInt16BE(0);
      this.#id = id;
    } else {
      // Datagrams still in the old socket's batch go out first; if they cannot, try again later.
      if (old.socket.queued > 0) this.#sender.flush();
      if (old.socket.queued > 0 || this.#sender.flushing) return;
      let next: SocketRef;
      try {
        next = this.#open();
      } catch (err) {
        this.#opts.logger?.warn(
          { stage: 'icmp', err },
          'could not open a socket for a new ICMP identifier; the current one stays in use',
        );
        this.#rotatePending = false;
        return;
      }
      old.retiring = true;
      this.#retiring.push(old);
      this.#use(next);
      this.#reapRetiring();
    }
    this.#rotatePending = false;
    this.#stats.identifierRotations++;
  }

  /** Reads what waits on `ref` (see {@link EchoReader.drain}); then closes retired sockets whose probes ended. */
  #drain(ref: SocketRef): number {
    const n = this.#reader.drain(ref);
    if (this.#retiring.length > 0) this.#reapRetiring();
    return n;
  }

  /** Closes retired sockets whose probes have all ended (not while their batch is being read). */
  #reapRetiring(): void {
    if (this.#reader.reading) return;
    this.#retiring = this.#retiring.filter((ref) => {
      if (ref.probes > 0) return true;
      ref.closed = true;
      ref.socket.close();
      return false;
    });
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
    const rounds = Math.ceil(this.#maxInFlight / MAX_READ_PER_EVENT) + 1;
    for (const ref of this.#current ? [...this.#retiring, this.#current] : this.#retiring) {
      for (let r = rounds; r > 0 && this.#drain(ref) >= MAX_READ_PER_EVENT; r--);
    }
    const nowMs = monoMs(this.#clock);
    let nextMs = this.#deadlines.expire(nowMs, (p) => {
      this.#stats.timeouts++;
      this.#finish(p, this.#failed(p, 'timeout'), SlotHistory.Expired);
    });
    // Probes the socket never took (it stayed full): rare and few, so a scan is fine.
    let waiting = 0;
    for (const p of this.#sender.held()) {
      if (p.state !== State.Backlog && p.state !== State.Batched) continue;
      if (p.deadlineMs <= nowMs) {
        this.#stats.sendErrors++;
        this.#finish(
          p,
          this.#failed(p, 'agent_error', 'never sent: the socket stayed full (EAGAIN/ENOBUFS)'),
          SlotHistory.Expired,
        );
      } else {
        waiting++;
        nextMs = Math.min(nextMs, p.deadlineMs);
      }
    }
    if (this.#sender.blocked && waiting === 0) this.#sender.unblockIdle();
    if (nextMs < this.#timerDueMs) this.#armTimer(nextMs);
  };

  #finish(p: Probe, outcome: PingOutcome, history: SlotHistory): void {
    if (p.state === State.Done) return;
    this.#release(p, history);
    p.resolve(outcome);
    this.#pump();
  }

  #release(p: Probe, history: SlotHistory): void {
    if (p.seq >= 0 && this.#table.probes[p.seq] === p) {
      this.#table.probes[p.seq] = undefined;
      this.#table.lastSerial[p.seq] = p.serial;
      this.#table.lastHistory[p.seq] = history;
      this.#inFlight--;
    }
    if (p.ref !== undefined) {
      p.ref.probes--;
      if (p.ref.retiring && p.ref.probes === 0) queueMicrotask(() => this.#reapRetiring());
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
    if (!this.#running || this.#current === undefined) return;
    this.#stats.socketFailures++;
    const now = this.#clock.now();
    this.#reopenDelayMs = now - this.#lastSocketFailureMs > REOPEN_CALM_MS ? 0 : nextReopenDelay(this.#reopenDelayMs);
    this.#lastSocketFailureMs = now;
    this.#opts.logger?.error(
      { stage: 'icmp', err, failures: this.#stats.socketFailures, reopen_in_ms: this.#reopenDelayMs },
      'ICMP socket failed; pings in flight rejected, reopening the socket',
    );
    this.#failure = new NetscanError('ERR_ICMP_SOCKET', `ICMP socket failed: ${err.message}`, {
      stage: 'icmp',
      cause: err,
    });
    this.#closeSockets(this.#failure);
    this.#reopenTimer = this.#clock.setTimeout(() => this.#reopen(), this.#reopenDelayMs);
  }

  #reopen(): void {
    this.#reopenTimer = undefined;
    if (!this.#running) return;
    const o = this.#opts;
    try {
      this.#use(this.#open());
      this.#failure = undefined;
      o.logger?.info({ stage: 'icmp', failures: this.#stats.socketFailures }, 'ICMP socket reopened; pinging resumed');
    } catch (err) {
      this.#reopenDelayMs = nextReopenDelay(this.#reopenDelayMs);
      o.logger?.error(
        { stage: 'icmp', err, reopen_in_ms: this.#reopenDelayMs },
        'ICMP socket could not be reopened; retrying',
      );
      this.#reopenTimer = this.#clock.setTimeout(() => this.#reopen(), this.#reopenDelayMs);
    }
  }

  /** Stops the engine: timers, the sockets, and every pending ping rejected with `err`. */
  #shutDown(err: NetscanError): void {
    this.#running = false;
    liveEngines.delete(this);
    this.#reopenTimer?.cancel();
    this.#reopenTimer = undefined;
    this.#closeSockets(err);
  }

  #closeSockets(err: NetscanError): void {
    this.#sender.use(undefined);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerDueMs = Infinity;
    for (const ref of [...this.#retiring, ...(this.#current ? [this.#current] : [])]) {
      ref.closed = true;
      ref.socket.close();
    }
    this.#retiring = [];
    this.#current = undefined;
    this.#rotatePending = false;
    this.#failAll(err);
  }

  #failAll(err: NetscanError): void {
    const pending: Probe[] = [];
    for (let seq = 0; seq < 65536; seq++) {
      const p = this.#table.probes[seq];
      if (p) pending.push(p);
    }
    for (let i = this.#waitingHead; i < this.#waiting.length; i++) pending.push(this.#waiting[i]!);
    this.#waiting = [];
    this.#waitingHead = 0;
    this.#sender.reset();
    this.#deadlines.clear();
    for (const p of pending) {
      if (p.state === State.Done) continue;
      this.#release(p, SlotHistory.Expired);
      p.reject(err);
    }
  }
}
