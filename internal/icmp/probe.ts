/**
 * The engine's bookkeeping types: one probe per ping (and how one is made without allocating
 * more than the probe), the socket it went out on, and the FIFO of deadlines that makes expiry O(1).
 */
import type { PingFailureReason, PingOptions, PingOutcome } from '../model/ping.js';
import { formatIpv6, parseIpv6 } from '../net/ipv6.js';
import type { ProbeSink, ProbeTarget } from './engine-completions.js';
import type { IcmpSocket } from './icmp-socket.js';
import { parseIpv4 } from './ipv4.js';
import { ECHO_HEADER_BYTES, writePadding } from './packet.js';
import { foldIpv6 } from './packet6.js';
import type { SignalGroup } from './probe-waiting.js';

/** Where a probe is in its life. */
export const enum State {
  /** Waiting for the in-flight cap. */
  Queued,
  /** Holding a sequence number, waiting for the socket to accept sends (EAGAIN/ENOBUFS). */
  Backlog,
  /** In the socket's send batch, not yet flushed. */
  Batched,
  /** Sent; waiting for its reply or its deadline. */
  InFlight,
  /** Settled. */
  Done,
}

/** How the last probe that held a sequence number ended (tells a duplicate from a late reply). */
export const enum SlotHistory {
  None,
  Answered,
  Expired,
}

/** The engine's probes by sequence number, and how the last holder of each number ended. */
export class ProbeSlots {
  /** Probe holding each sequence number (sent or about to be). */
  readonly probes: Array<Probe | undefined> = new Array<Probe | undefined>(65536).fill(undefined);
  /** Serial of the last probe that held each sequence number. */
  readonly lastSerial = new Uint32Array(65536);
  /** {@link SlotHistory} of the last probe that held each sequence number. */
  readonly lastHistory = new Uint8Array(65536);

  /** Appends every probe holding a sequence number to `out`, in sequence order. */
  collect(out: Probe[]): void {
    for (let seq = 0; seq < 65536; seq++) {
      const p = this.probes[seq];
      if (p) out.push(p);
    }
  }
}

/** One socket the engine sends on or still listens to. */
export interface SocketRef {
  readonly socket: IcmpSocket;
  /** Probes holding a sequence number on this socket (batched or in flight). */
  probes: number;
  /** Replaced by a newer socket (datagram identifier rotation): closed once its probes end. */
  retiring: boolean;
  /** Closed by the engine: its callbacks reach nothing. */
  closed: boolean;
  /** `socket.readBatch.source` as a Buffer, for big-endian reads. */
  readonly source: Buffer;
  /** `socket.errorBatch.destination` as a Buffer. */
  readonly destination: Buffer;
  /** `socket.errorBatch.offender` as a Buffer. */
  readonly offender: Buffer;
}

/** A SocketRef for `socket`, with Buffer views on its address arrays. */
export function socketRef(socket: IcmpSocket): SocketRef {
  const view = (a: Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return {
    socket,
    probes: 0,
    retiring: false,
    closed: false,
    source: view(socket.readBatch.source),
    destination: view(socket.errorBatch.destination),
    offender: view(socket.errorBatch.offender),
  };
}

/** One ping. Addresses are held as four big-endian words (IPv4: w0 only) so matching allocates nothing. */
export interface Probe {
  /** Canonical text of the target. */
  readonly ip: string;
  readonly w0: number;
  readonly w1: number;
  readonly w2: number;
  readonly w3: number;
  /** The address as the probe tag mixes it in (IPv4: the address; IPv6: folded). */
  readonly addrKey: number;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  /** Settles the promise of a {@link IcmpEngine.ping}; a no-op for a probe with a sink. */
  readonly resolve: (o: PingOutcome) => void;
  /** Rejects the promise of a {@link IcmpEngine.ping}; a no-op for a probe with a sink. */
  readonly reject: (e: unknown) => void;
  /** Where a {@link IcmpEngine.probe} is completed (undefined for a ping()). */
  readonly sink: ProbeSink<ProbeTarget> | undefined;
  /** The caller's target object, handed back to the sink. */
  token: ProbeTarget | undefined;
  /** The caller's tag, handed back to the sink. */
  tag: number;
  /** Set when a probe with a sink ends: its outcome, or (outcome undefined) the error it failed with. */
  outcome: PingOutcome | undefined;
  error: unknown;
  state: State;
  /** Socket the probe was queued on (set when batched). */
  ref: SocketRef | undefined;
  id: number;
  seq: number;
  serial: number;
  /** User-space send time (clock monoNs right before the flush that sent it). */
  sentNs: bigint;
  /** Kernel transmit stamp on the socket's stamp scale, NaN until its error-queue entry is read. */
  txNs: number;
  sentAtMs: number;
  deadlineMs: number;
  fifo: DeadlineFifo | undefined;
  fifoPos: number;
  /** The probes sharing its AbortSignal (see {@link SignalGroup}); undefined when not watched. */
  group: SignalGroup | undefined;
  /** Neighbours in the group's list. */
  groupPrev: Probe | undefined;
  groupNext: Probe | undefined;
}

/** The secrets of one engine run, from the 16 random bytes `rnd` (bytes 4-15), and its request buffer with the padding written. */
export function engineKeys(
  rnd: Buffer,
  payloadBytes: number,
): { nonceHi: number; nonceLo: number; secret: number; packet: Buffer } {
  const packet = Buffer.alloc(ECHO_HEADER_BYTES + payloadBytes);
  writePadding(packet, payloadBytes);
  return { nonceHi: rnd.readUInt32BE(4), nonceLo: rnd.readUInt32BE(8), secret: rnd.readUInt32BE(12), packet };
}

/** The target of the last {@link readTarget}: one object reused by every ping, so reading allocates nothing. */
export const target = { text: '', w0: 0, w1: 0, w2: 0, w3: 0, key: 0 };
const addr = new Uint8Array(16);
const word = (k: number): number =>
  ((addr[k]! << 24) | (addr[k + 1]! << 16) | (addr[k + 2]! << 8) | addr[k + 3]!) >>> 0;

/** Reads `ip` into {@link target} (IPv6: canonical text, RFC 5952); false when it is not an address of that family. */
export function readTarget(ip: string, v6: boolean): boolean {
  if (!v6) {
    const v4 = parseIpv4(ip);
    if (v4 === undefined) return false;
    target.text = ip;
    target.w0 = target.key = v4;
    target.w1 = target.w2 = target.w3 = 0;
    return true;
  }
  if (parseIpv6(ip, addr) === undefined) return false;
  target.text = formatIpv6(addr);
  target.w0 = word(0);
  target.w1 = word(4);
  target.w2 = word(8);
  target.w3 = word(12);
  target.key = foldIpv6(target.w0, target.w1, target.w2, target.w3);
  return true;
}

/**
 * Why a ping of `ip` with `opts` cannot start (an error to reject with), or undefined when it can:
 * then {@link target} holds the address.
 */
export function pingRefusal(ip: string, v6: boolean, opts: PingOptions): unknown {
  if (!readTarget(ip, v6)) return new TypeError(`not an ${v6 ? 'IPv6' : 'IPv4'} address: ${JSON.stringify(ip)}`);
  return optionRefusal(opts);
}

/** Why a ping with `opts` cannot start (an error to reject with), or undefined when it can. */
export function optionRefusal(opts: PingOptions): unknown {
  const timeoutMs = opts.timeoutMs;
  if (!(timeoutMs > 0 && Number.isFinite(timeoutMs))) return new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
  return opts.signal?.aborted ? (opts.signal.reason as unknown) : undefined;
}

/** Where {@link capture} leaves the functions of the promise being built. */
const captured: { resolve: (o: PingOutcome) => void; reject: (e: unknown) => void } = {
  resolve: () => {},
  reject: () => {},
};

/** One shared promise executor instead of a closure per ping (it runs synchronously inside the constructor). */
export const capture = (resolve: (o: PingOutcome) => void, reject: (e: unknown) => void): void => {
  captured.resolve = resolve;
  captured.reject = reject;
};

const noop = (): void => {};

/** A queued probe for {@link target}, settling the promise `new Promise(capture)` just built. */
export function newProbe(timeoutMs: number, signal: AbortSignal | undefined): Probe {
  return makeProbe(timeoutMs, signal, undefined);
}

/** A queued probe for {@link target}, completed through `sink` with `token` and `tag`. */
export function newSinkProbe(token: ProbeTarget, tag: number, sink: ProbeSink<ProbeTarget>): Probe {
  const p = makeProbe(sink.timeoutMs, sink.signal, sink);
  p.token = token;
  p.tag = tag;
  return p;
}

function makeProbe(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  sink: ProbeSink<ProbeTarget> | undefined,
): Probe {
  return {
    ip: target.text,
    w0: target.w0,
    w1: target.w1,
    w2: target.w2,
    w3: target.w3,
    addrKey: target.key,
    timeoutMs,
    signal,
    resolve: sink === undefined ? captured.resolve : noop,
    reject: sink === undefined ? captured.reject : noop,
    sink,
    token: undefined,
    tag: 0,
    outcome: undefined,
    error: undefined,
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
    group: undefined,
    groupPrev: undefined,
    groupNext: undefined,
  };
}

/** The outcome of a probe that failed for `reason`. */
export function failedOutcome(p: Probe, reason: PingFailureReason, detail?: string): PingOutcome {
  return detail === undefined
    ? { ok: false, ip: p.ip, reason, sentAtMs: p.sentAtMs }
    : { ok: false, ip: p.ip, reason, sentAtMs: p.sentAtMs, detail };
}

/**
 * FIFO of probes sharing one timeout value: deadlines are non-decreasing, so expiry is O(1).
 * A probe that settles early leaves a hole, so the answered majority dies young instead of
 * being held (and promoted to the old generation) until its deadline.
 */
export class DeadlineFifo {
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

/** Probes in flight by deadline: one FIFO per timeout value, so expiry never sorts. */
export class Deadlines {
  readonly #fifos = new Map<number, DeadlineFifo>();
  /** The FIFO of the last push (probes mostly share one timeout): no Map lookup per probe. */
  #lastTimeoutMs = NaN;
  #lastFifo: DeadlineFifo | undefined;

  /** Adds a probe just sent (its deadline is the latest of its timeout value). */
  push(p: Probe): void {
    let fifo = p.timeoutMs === this.#lastTimeoutMs ? this.#lastFifo : this.#fifos.get(p.timeoutMs);
    if (!fifo) {
      fifo = new DeadlineFifo();
      this.#fifos.set(p.timeoutMs, fifo);
    }
    this.#lastTimeoutMs = p.timeoutMs;
    this.#lastFifo = fifo;
    fifo.push(p);
  }

  /** Calls `expire` for every probe in flight whose deadline is at or before `nowMs`; returns the earliest deadline left (Infinity when none). */
  expire(nowMs: number, expire: (p: Probe) => void): number {
    let nextMs = Infinity;
    for (const [timeoutMs, fifo] of this.#fifos) {
      for (let p = fifo.peek(); p !== undefined; p = fifo.peek()) {
        if (p.state !== State.InFlight) {
          fifo.shift();
          continue;
        }
        if (p.deadlineMs > nowMs) break;
        fifo.shift();
        expire(p);
      }
      const head = fifo.peek();
      if (head === undefined) {
        this.#fifos.delete(timeoutMs);
        if (fifo === this.#lastFifo) this.#forgetLast();
      } else {
        nextMs = Math.min(nextMs, head.deadlineMs);
      }
    }
    return nextMs;
  }

  /** Forgets every probe. */
  clear(): void {
    this.#fifos.clear();
    this.#forgetLast();
  }

  #forgetLast(): void {
    this.#lastTimeoutMs = NaN;
    this.#lastFifo = undefined;
  }
}
