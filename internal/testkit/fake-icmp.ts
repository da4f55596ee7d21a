/**
 * Fakes for the ICMP seam: FakeIcmpSocket stands in for the raw socket under the real
 * IcmpEngine (tests inject packets and send errors), TargetPinger stands in for the whole engine
 * in front of the sweep and the schedulers (alive hosts answer after a set RTT on the clock).
 */
import type { Clock } from '../clock/clock.js';
import type { PingFailureReason, PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import { IcmpSocketError, type IcmpSocket, type IcmpSocketFactory } from '../icmp/socket.js';
import { echoReplyMessage, ipv4Datagram, unreachableMessage, type ReplyTweaks } from './icmp-packets.js';

/** One packet the engine sent through the fake socket. */
export interface SentPacket {
  /** Destination address. */
  readonly ip: string;
  /** Copy of the ICMP message (no IP header). */
  readonly icmp: Buffer;
}

/** A scripted ICMP socket: records sends, delivers injected datagrams on `flush()`. */
export class FakeIcmpSocket implements IcmpSocket {
  readonly rcvbufBytes: number;
  /** Every packet sent, in order. */
  readonly sent: SentPacket[] = [];
  /** Returns an errno name to make the send to `ip` fail with it, or undefined to succeed. */
  sendError: (ip: string) => string | undefined = () => undefined;
  /** True after close(). */
  closed = false;
  #inbox: Array<{ datagram: Buffer; source: string }> = [];
  #readable: (() => void) | undefined;
  #writable: (() => void) | undefined;
  #error: ((err: Error) => void) | undefined;

  constructor(rcvbufBytes = 16 << 20) {
    this.rcvbufBytes = rcvbufBytes;
  }

  /** A factory handing out this socket. */
  factory(): IcmpSocketFactory {
    return () => this;
  }

  send(packet: Buffer, length: number, ip: string): void {
    const code = this.sendError(ip);
    if (code !== undefined) throw new IcmpSocketError(code, `fake ${code}`);
    this.sent.push({ ip, icmp: Buffer.from(packet.subarray(0, length)) });
  }

  /** Reads started while another read was still running (the engine must never nest them). */
  nestedDrains = 0;
  #draining = false;

  drain(onPacket: (packet: Buffer, length: number, source: string) => void, max: number): number {
    if (this.#draining) this.nestedDrains++;
    const outer = this.#draining;
    this.#draining = true;
    let n = 0;
    try {
      while (n < max && this.#inbox.length > 0) {
        const { datagram, source } = this.#inbox.shift()!;
        onPacket(datagram, datagram.length, source);
        n++;
      }
    } finally {
      this.#draining = outer;
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

  /** Queues a raw IPv4 datagram as if it arrived from `source` (not yet read). */
  inject(datagram: Buffer, source: string): void {
    this.#inbox.push({ datagram, source });
  }

  /** Queues the echo reply to sent packet `index` from `source` (default: its destination), optionally forged. */
  reply(index: number, opts: { source?: string; tweaks?: ReplyTweaks } = {}): void {
    const req = this.sent[index]!;
    const source = opts.source ?? req.ip;
    this.inject(ipv4Datagram({ src: source, dst: '127.0.0.1', icmp: echoReplyMessage(req.icmp, opts.tweaks) }), source);
  }

  /** Queues a destination-unreachable from `router` quoting sent packet `index`. */
  unreachable(index: number, opts: { router?: string; code?: number; quoteBytes?: number; corrupt?: boolean } = {}): void {
    const req = this.sent[index]!;
    const router = opts.router ?? '127.0.0.254';
    const msg = unreachableMessage({ request: req.icmp, origSrc: '127.0.0.1', origDst: req.ip, code: opts.code, quoteBytes: opts.quoteBytes });
    if (opts.corrupt) msg[4] = (msg[4]! ^ 0xff) & 0xff; // damaged in transit: the checksum no longer matches
    this.inject(ipv4Datagram({ src: router, dst: '127.0.0.1', icmp: msg }), router);
  }

  /** Makes queued datagrams readable: runs the engine's readable callback once. */
  flush(): void {
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

/** How a TargetPinger target behaves. */
export type FakeTarget =
  | { readonly rttMs: number }
  | { readonly reason: PingFailureReason; readonly afterMs?: number };

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
