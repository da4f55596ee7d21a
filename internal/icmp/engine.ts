import { monoMs, type Clock } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import type { PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import {
  checkIcmpEngineOptions,
  defaultIcmpEngineOptions,
  inFlightCap,
  zeroIcmpEngineStats,
  type IcmpEngineOptions,
  type IcmpEngineStats,
} from './engine-options.js';
import { CompletionQueue, type ProbeSink, type ProbeSinkPinger, type ProbeTarget } from './engine-completions.js';
import { logEngineStarted, logEngineStopped, logSocketFailed, logSocketReopened } from './engine-log.js';
import { SequenceSpace } from './engine-sequence.js';
import { DeadlineTimer } from './engine-timer.js';
import { EngineSockets } from './engine-sockets.js';
import { EchoReader, MAX_READ_PER_EVENT } from './echo-reader.js';
import { EchoSender } from './echo-sender.js';
import {
  Deadlines,
  ProbeSlots,
  SlotHistory,
  State,
  capture,
  engineKeys,
  failedOutcome,
  newProbe,
  newSinkProbe,
  optionRefusal,
  pingRefusal,
  readTarget,
  type Probe,
  type SocketRef,
} from './probe.js';
import { SignalGroups, WaitQueue } from './probe-waiting.js';

export { defaultIcmpEngineOptions, type IcmpEngineOptions, type IcmpEngineStats } from './engine-options.js';
export type { ProbeSink, ProbeSinkPinger, ProbeTarget } from './engine-completions.js';

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
 * running or stops with the ping pending. `probe()` does the same without a promise: its result
 * goes to a {@link ProbeSink}.
 */
export class IcmpEngine implements Pinger, ProbeSinkPinger {
  readonly #opts: IcmpEngineOptions;
  readonly #clock: Clock;
  readonly #v6: boolean;
  readonly #sockets: EngineSockets;
  #running = false;
  #failure: NetscanError | undefined;
  readonly #table = new ProbeSlots();
  readonly #reader: EchoReader;
  readonly #sender: EchoSender;
  readonly #waiting = new WaitQueue();
  #inFlight = 0;
  #pumping = false;
  readonly #deadlines = new Deadlines();
  readonly #signalGroups = new SignalGroups((p) => this.#abort(p));
  readonly #timer: DeadlineTimer;
  #serial = 0;
  readonly #stats: IcmpEngineStats;
  #maxInFlight = 0;
  readonly #completions: CompletionQueue;
  readonly #seqs = new SequenceSpace({
    free: (seq) => this.#table.probes[seq] === undefined,
    current: () => this.#sockets.current!,
    random16: () => this.#opts.randomBytes(2).readUInt16BE(0),
    rotateSocket: () => this.#rotateSocket(),
    rotated: () => this.#stats.identifierRotations++,
  });

  constructor(opts: Partial<IcmpEngineOptions> = {}) {
    this.#opts = { ...defaultIcmpEngineOptions, ...opts };
    this.#clock = this.#opts.clock;
    this.#v6 = this.#opts.family === 'ipv6';
    this.#stats = zeroIcmpEngineStats(this.#opts.family);
    this.#completions = new CompletionQueue(this.#opts.logger);
    this.#timer = new DeadlineTimer(this.#clock, () => this.#onTimer());
    this.#sockets = new EngineSockets(this.#opts, {
      readable: (ref) => this.#drain(ref),
      failed: (err) => this.#onSocketError(err),
      reopened: (ref) => this.#reopened(ref),
    });
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
      identifier: (ref) => this.#seqs.identifierOf(ref),
      hooks: {
        sent: (p, sentNs, sentMonoMs, nowMs) => this.#sent(p, sentNs, sentMonoMs, nowMs),
        refused: (p, code) => this.#refused(p, code),
        held: (p) => this.#timer.armBy(p.deadlineMs),
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
    return this.#seqs.identifierOf(this.#sockets.current);
  }

  /** A copy of the counters. */
  stats(): IcmpEngineStats {
    return {
      ...this.#stats,
      socketsOpen: this.#sockets.count,
      inFlight: this.#inFlight,
      queued: this.#waiting.length,
    };
  }

  /**
   * Opens the socket; idempotent. Rejects with ConfigError (ERR_CONFIG) naming every option out
   * of range, NetscanError ERR_ICMP_PERMISSION (with advice) when the process may not open the
   * socket, or ERR_ICMP_SOCKET for other socket failures.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    const o = this.#opts;
    checkIcmpEngineOptions(o);
    const ref = this.#sockets.open();
    const rnd = o.randomBytes(16);
    // A random identifier and sequence start per engine (blackbox_exporter does the same) keep
    // two netscan processes, and stateful firewalls that remember IDs (blackbox#591), apart.
    this.#seqs.reset(rnd.readUInt16BE(0), rnd.readUInt16BE(2));
    const keys = engineKeys(rnd, o.payloadBytes);
    this.#sockets.acceptNonce(keys.nonceHi, keys.nonceLo);
    this.#reader.keys({ ...keys, template: keys.packet });
    this.#sender.keys(keys);
    this.#use(ref);
    this.#failure = undefined;
    const socket = ref.socket;
    this.#maxInFlight = inFlightCap(o, socket.rcvbufBytes);
    this.#stats.maxInFlight = this.#maxInFlight;
    this.#running = true;
    let secondRaw = false;
    if (socket.mode === 'raw') {
      for (const other of liveEngines) {
        if (other.#opts.family === o.family && other.#sockets.current?.socket.mode === 'raw') secondRaw = true;
      }
    }
    liveEngines.add(this);
    logEngineStarted(o.logger, {
      opts: o,
      socket,
      identifier: this.identifier,
      maxInFlight: this.#maxInFlight,
      secondRaw,
    });
  }

  /** Puts `ref` in use for new requests (the socket in use before, if any, retires). */
  #use(ref: SocketRef): void {
    this.#sockets.use(ref);
    this.#sender.use(ref);
    this.#stats.mode = ref.socket.mode;
    this.#stats.kernelStamps = ref.socket.kernelStamps;
    this.#stats.rcvbufBytes = ref.socket.rcvbufBytes;
  }

  /** Closes the socket and rejects pending pings with ERR_ICMP_SOCKET; idempotent, safe before start(). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#shutDown(new NetscanError('ERR_ICMP_SOCKET', 'ICMP engine stopped', { stage: 'icmp' }));
    logEngineStopped(this.#opts.logger, this.stats());
  }

  /** Sends one echo request to `ip` (an address of the engine's family) and resolves with the outcome; the outcome's `ip` is the canonical text. */
  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    const refused = this.#stopped(ip) ?? pingRefusal(ip, this.#v6, opts);
    if (refused !== undefined) return Promise.reject(refused);
    const promise = new Promise<PingOutcome>(capture);
    this.#start(newProbe(opts.timeoutMs, opts.signal));
    return promise;
  }

  /**
   * {@link ping} without a promise: sends one echo request to `target.ip` (an address of the
   * engine's family) with `sink.timeoutMs` and `sink.signal`; the result goes to `sink` with
   * `target` and `tag`, in a batch after the engine's current work.
   */
  probe<T extends ProbeTarget>(target: T, tag: number, sink: ProbeSink<T>): void {
    const refused = this.#stopped(target.ip) ?? pingRefusal(target.ip, this.#v6, sink);
    this.#enter(newSinkProbe(target, tag, sink as unknown as ProbeSink<ProbeTarget>), refused);
  }

  /**
   * @internal {@link probe} when `target.ip` is an address of the engine's family (then true),
   * else false and nothing is done: {@link IcmpPinger} routes on it without parsing the address twice.
   */
  probeIfOwn<T extends ProbeTarget>(target: T, tag: number, sink: ProbeSink<T>): boolean {
    if (!readTarget(target.ip, this.#v6)) return false;
    const refused = this.#stopped(target.ip) ?? optionRefusal(sink);
    this.#enter(newSinkProbe(target, tag, sink as unknown as ProbeSink<ProbeTarget>), refused);
    return true;
  }

  /** The error a ping of `ip` fails with while the engine has no socket (undefined while it has one). */
  #stopped(ip: string): NetscanError | undefined {
    if (this.#running && this.#sockets.current !== undefined) return undefined;
    return this.#failure ?? new NetscanError('ERR_ICMP_SOCKET', 'ICMP engine is not running', { stage: 'icmp', ip });
  }

  /** Starts `p`, or when `refused` says why it cannot, fails it with that. */
  #enter(p: Probe, refused: unknown): void {
    if (refused === undefined) return this.#start(p);
    p.state = State.Done;
    this.#completions.reject(p, refused);
  }

  /** Sends `p` now, or queues it behind the in-flight cap. */
  #start(p: Probe): void {
    try {
      if (p.signal) this.#signalGroups.watch(p.signal, p);
      if (this.#inFlight < this.#maxInFlight && this.#waiting.length === 0) this.#transmit(p);
      else this.#waiting.push(p);
    } catch (err) {
      if (p.state !== State.Done) {
        this.#release(p, SlotHistory.Expired);
        this.#completions.reject(p, err);
      }
    }
  }

  #transmit(p: Probe): void {
    p.seq = this.#seqs.next();
    this.#serial = (this.#serial + 1) >>> 0;
    p.serial = this.#serial;
    this.#table.probes[p.seq] = p;
    this.#inFlight++;
    this.#sender.send(p);
  }

  /** The kernel refused to send `p`: unreachable for routing errnos (it says something about the path), else send_error. */
  #refused(p: Probe, code: string): void {
    const unreachable = code === 'ENETUNREACH' || code === 'EHOSTUNREACH' || code === 'EHOSTDOWN';
    this.#stats[unreachable ? 'unreachable' : 'sendErrors']++;
    const outcome = failedOutcome(p, unreachable ? 'unreachable' : 'send_error', `sendmmsg: ${code}`);
    this.#finish(p, outcome, SlotHistory.Expired);
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
    this.#timer.armBy(p.deadlineMs);
  }

  /** Datagram rotation (see {@link SequenceSpace}): the old socket's batch goes out first, then a new socket is used. */
  #rotateSocket(): 'rotated' | 'later' | 'failed' {
    const old = this.#sockets.current!;
    if (old.socket.queued > 0) this.#sender.flush();
    if (old.socket.queued > 0 || this.#sender.flushing) return 'later';
    const next = this.#sockets.openForRotation();
    if (next === undefined) return 'failed';
    this.#use(next);
    this.#reapRetiring();
    return 'rotated';
  }

  /** Reads what waits on `ref` (see {@link EchoReader.drain}); then closes retired sockets whose probes ended. */
  #drain(ref: SocketRef): number {
    const n = this.#reader.drain(ref);
    if (this.#sockets.anyRetiring) this.#reapRetiring();
    return n;
  }

  /** Closes retired sockets whose probes have all ended (not while their batch is being read). */
  #reapRetiring(): void {
    if (!this.#reader.reading) this.#sockets.reap();
  }

  #onTimer(): void {
    if (!this.#running) return;
    // Read what already arrived before declaring anything lost: if the event loop stalled, the
    // replies are waiting in the socket buffer, and the timers phase runs before the poll phase.
    // Read all of them (more than one read's worth may wait after a long stall), within a bound
    // so another process's ICMP flood cannot hold the loop.
    const rounds = Math.ceil(this.#maxInFlight / MAX_READ_PER_EVENT) + 1;
    for (const ref of this.#sockets.all()) {
      for (let r = rounds; r > 0 && this.#drain(ref) >= MAX_READ_PER_EVENT; r--);
    }
    const nowMs = monoMs(this.#clock);
    const nextMs = this.#deadlines.expire(nowMs, (p) => {
      this.#stats.timeouts++;
      this.#finish(p, failedOutcome(p, 'timeout'), SlotHistory.Expired);
    });
    // Probes the socket never took (it stayed full): rare and few, so a scan is fine.
    const heldMs = this.#sender.expireHeld(nowMs, (p) => {
      this.#stats.sendErrors++;
      const outcome = failedOutcome(p, 'agent_error', 'never sent: the socket stayed full (EAGAIN/ENOBUFS)');
      this.#finish(p, outcome, SlotHistory.Expired);
    });
    this.#timer.armBy(Math.min(nextMs, heldMs));
  }

  #finish(p: Probe, outcome: PingOutcome, history: SlotHistory): void {
    if (p.state === State.Done) return;
    this.#release(p, history);
    this.#completions.resolve(p, outcome);
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
    if (p.signal) this.#signalGroups.release(p);
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running && this.#inFlight < this.#maxInFlight) {
        const p = this.#waiting.shift();
        if (p === undefined) break;
        if (p.state !== State.Queued) continue;
        if (p.signal?.aborted) this.#abort(p);
        else this.#transmit(p);
      }
      this.#waiting.compact();
    } finally {
      this.#pumping = false;
    }
  }

  #abort(p: Probe): void {
    if (p.state === State.Done) return;
    this.#stats.aborted++;
    this.#release(p, SlotHistory.Expired);
    this.#completions.reject(p, p.signal!.reason);
    this.#pump();
  }

  /**
   * An asynchronous socket failure: the pings in flight are rejected with ERR_ICMP_SOCKET (their
   * replies may be lost: an agent fault, not a host's), pings are refused while the socket is
   * down, and a new socket is opened: at once after a first failure, then with a delay doubling
   * from 1 s to 30 s while failures repeat within a minute or reopening fails.
   */
  #onSocketError(err: Error): void {
    if (!this.#running || this.#sockets.current === undefined) return;
    this.#stats.socketFailures++;
    const reopenInMs = this.#sockets.failureDelayMs();
    logSocketFailed(this.#opts.logger, { err, failures: this.#stats.socketFailures, reopenInMs });
    this.#failure = new NetscanError('ERR_ICMP_SOCKET', `ICMP socket failed: ${err.message}`, {
      stage: 'icmp',
      cause: err,
    });
    this.#closeSockets(this.#failure);
    this.#sockets.reopenLater();
  }

  #reopened(ref: SocketRef): void {
    if (!this.#running) {
      ref.closed = true;
      ref.socket.close();
      return;
    }
    this.#use(ref);
    this.#failure = undefined;
    logSocketReopened(this.#opts.logger, this.#stats.socketFailures);
  }

  /** Stops the engine: timers, the sockets, and every pending ping rejected with `err`. */
  #shutDown(err: NetscanError): void {
    this.#running = false;
    liveEngines.delete(this);
    this.#sockets.cancelReopen();
    this.#closeSockets(err);
  }

  #closeSockets(err: NetscanError): void {
    this.#sender.use(undefined);
    this.#timer.cancel();
    this.#sockets.closeAll();
    this.#seqs.cancelRotation();
    this.#failAll(err);
  }

  #failAll(err: NetscanError): void {
    const pending: Probe[] = [];
    this.#table.collect(pending);
    this.#waiting.drainInto(pending);
    this.#sender.reset();
    this.#deadlines.clear();
    for (const p of pending) {
      if (p.state === State.Done) continue;
      this.#release(p, SlotHistory.Expired);
      this.#completions.reject(p, err);
    }
  }
}
