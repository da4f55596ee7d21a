import { monoMs, type Clock } from '../clock/clock.js';
import type { IcmpFamily } from './icmp-socket.js';
import { ICMP_ECHO_REQUEST, probeTag, writeEchoRequest, type EchoRequestFields } from './packet.js';
import { ICMP6_ECHO_REQUEST } from './packet6.js';
import { State, type Probe, type SocketRef } from './probe.js';

/** What {@link EchoSender} tells the engine. */
export interface EchoSenderHooks {
  /**
   * `p` left in a sendmmsg(2) at `sentNs` (clock monoNs; `sentMonoMs` the same in ms) / `nowMs`
   * (clock now). Also called for probes that ended while batched.
   */
  sent(p: Probe, sentNs: bigint, sentMonoMs: number, nowMs: number): void;
  /** The kernel refused `p` with errno `code`. */
  refused(p: Probe, code: string): void;
  /** `p` waits for the full socket until `p.deadlineMs` (monotonic ms). */
  held(p: Probe): void;
  /** Reads what came back on `ref` (after a full batch, at the end of a burst, once writable). */
  read(ref: SocketRef): void;
}

/** Options for {@link EchoSender}. */
export interface EchoSenderOptions {
  /** Address family of the engine. */
  family: IcmpFamily;
  /** Echo payload size in bytes. */
  payloadBytes: number;
  /** Clock for send times. */
  clock: Clock;
  /** Identifier of requests sent on `ref` now (raw: the engine's; datagram: the socket's). */
  identifier: (ref: SocketRef) => number;
  /** Callbacks into the engine. */
  hooks: EchoSenderHooks;
}

/** The engine's secrets, fixed at start. */
export interface EchoSenderKeys {
  /** High 32 bits of the engine nonce. */
  nonceHi: number;
  /** Low 32 bits of the engine nonce. */
  nonceLo: number;
  /** Secret of the probe tag. */
  secret: number;
  /** The request buffer, padding already written. */
  packet: Buffer;
}

/**
 * The send half of the ICMP engine: writes requests into the socket's send batch and flushes it
 * once per burst (a microtask after the caller's synchronous work) or when it is full. A partial
 * flush keeps the rest in order; EAGAIN/ENOBUFS holds the batch and every later probe (the
 * backlog) until the socket is writable; any other errno fails that one probe and the rest go on.
 */
export class EchoSender {
  readonly #v6: boolean;
  readonly #payloadBytes: number;
  readonly #clock: Clock;
  readonly #identifier: (ref: SocketRef) => number;
  readonly #hooks: EchoSenderHooks;
  #current: SocketRef | undefined;
  #keys: EchoSenderKeys = { nonceHi: 0, nonceLo: 0, secret: 0, packet: Buffer.alloc(0) };
  /** The fields of the request being written: one object for every request. */
  readonly #fields: EchoRequestFields = { id: 0, seq: 0, nonceHi: 0, nonceLo: 0, serial: 0, tag: 0 };
  /** Probes in the current socket's send batch, by batch index. */
  #batch: Probe[] = [];
  #backlog: Probe[] = [];
  #backlogHead = 0;
  /** The socket answered EAGAIN/ENOBUFS; waiting for onceWritable. */
  #blocked = false;
  #flushing = false;
  #flushQueued = false;

  constructor(opts: EchoSenderOptions) {
    this.#v6 = opts.family === 'ipv6';
    this.#payloadBytes = opts.payloadBytes;
    this.#clock = opts.clock;
    this.#identifier = opts.identifier;
    this.#hooks = opts.hooks;
  }

  /** Sets the keys of the engine's current run. */
  keys(k: EchoSenderKeys): void {
    this.#keys = k;
  }

  /** Sends on `ref` from now on (its batch is empty); undefined while the engine has no socket. */
  use(ref: SocketRef | undefined): void {
    this.#current = ref;
    this.#blocked = false;
    this.#batch = ref ? new Array<Probe>(ref.socket.batchSize) : [];
  }

  /** True while the socket is full. */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** True while a flush runs (a nested one would be a no-op). */
  get flushing(): boolean {
    return this.#flushing;
  }

  /** Drops every held and batched probe (the engine rejects them itself). */
  reset(): void {
    this.#backlog = [];
    this.#backlogHead = 0;
    this.#batch = [];
    this.#blocked = false;
  }

  /** Probes waiting for the full socket (batched while blocked, and the backlog). */
  held(): Probe[] {
    const batched = this.#blocked && this.#current ? this.#batch.slice(0, this.#current.socket.queued) : [];
    return [...batched, ...this.#backlog.slice(this.#backlogHead)];
  }

  /**
   * Ends the held probes past their deadline with `expire` (they were never sent), returns the
   * earliest deadline of the others (Infinity when none), and when none is left waiting, tries
   * the full socket again.
   */
  expireHeld(nowMs: number, expire: (p: Probe) => void): number {
    let nextMs = Infinity;
    let waiting = 0;
    for (const p of this.held()) {
      if (p.state !== State.Backlog && p.state !== State.Batched) continue;
      if (p.deadlineMs <= nowMs) {
        expire(p);
      } else {
        waiting++;
        nextMs = Math.min(nextMs, p.deadlineMs);
      }
    }
    if (this.#blocked && waiting === 0) this.unblockIdle();
    return nextMs;
  }

  /** Sends `p` (sequence number and serial assigned): into the batch, or the backlog while the socket is full. */
  send(p: Probe): void {
    // Probes that ended while held (timed out, aborted) no longer hold the queue.
    while (this.#backlogHead < this.#backlog.length && this.#backlog[this.#backlogHead]!.state !== State.Backlog)
      this.#backlogHead++;
    if (this.#backlogHead > 0 && this.#backlogHead >= this.#backlog.length) {
      this.#backlog = [];
      this.#backlogHead = 0;
    }
    if (this.#blocked || this.#backlogHead < this.#backlog.length) {
      this.#toBacklog(p);
      return;
    }
    const socket = this.#current!.socket;
    if (socket.queued >= socket.batchSize) {
      this.flush();
      if (this.#blocked || socket.queued >= socket.batchSize) {
        this.#toBacklog(p);
        return;
      }
    }
    this.#enqueue(p);
    if (socket.queued >= socket.batchSize) {
      // A full batch goes out now, and what already came back is read: early probes of a long
      // burst are not timed by the burst's length.
      this.flush();
      this.#hooks.read(this.#current!);
    } else if (!this.#flushQueued) {
      // One flush per burst: a microtask runs once the caller's synchronous work ends, before
      // the event loop turns. The replies are read right after it: on a fast network they are
      // already waiting.
      this.#flushQueued = true;
      queueMicrotask(this.#afterBurst);
    }
  }

  readonly #afterBurst = (): void => {
    this.#flushQueued = false;
    if (this.#current === undefined) return;
    this.flush();
    this.#hooks.read(this.#current);
  };

  /** Writes the request of `p` into the current socket's send batch. */
  #enqueue(p: Probe): void {
    const ref = this.#current!;
    p.id = this.#identifier(ref);
    const idSeq = ((p.id << 16) | p.seq) >>> 0;
    const f = this.#fields;
    f.id = p.id;
    f.seq = p.seq;
    f.nonceHi = this.#keys.nonceHi;
    f.nonceLo = this.#keys.nonceLo;
    f.serial = p.serial;
    f.tag = probeTag(this.#keys.secret, p.serial, p.addrKey, idSeq);
    // Only raw ICMPv4 requests need our checksum: the kernel computes ICMPv6 ones, and those of a
    // datagram socket, whose identifier it rewrites anyway.
    const length = writeEchoRequest(
      this.#keys.packet,
      f,
      this.#payloadBytes,
      this.#v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO_REQUEST,
      !this.#v6 && ref.socket.mode === 'raw',
    );
    const index = ref.socket.queue(this.#keys.packet, length, p.ip);
    this.#batch[index] = p;
    p.state = State.Batched;
    p.ref = ref;
    ref.probes++;
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
    this.#hooks.held(p);
  }

  /** Sends the batch, then the backlog, until both are empty or the socket is full. Not re-entrant. */
  flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      for (;;) {
        this.#flushBatch();
        if (this.#blocked || !this.#moveBacklog()) break;
      }
    } finally {
      this.#flushing = false;
    }
  }

  #flushBatch(): void {
    const ref = this.#current;
    if (!ref) return;
    const socket = ref.socket;
    while (socket.queued > 0 && !ref.closed) {
      // Probes that ended while the socket was full are dropped, not sent.
      while (socket.queued > 0 && this.#batch[0]!.state === State.Done) {
        socket.discardFirst();
        this.#shiftBatch(1);
      }
      if (socket.queued === 0) return;
      const nowMs = this.#clock.now();
      // The user-space send time (the fallback when a kernel stamp is missing) is taken after
      // the packets are built, immediately before sendmmsg(2).
      const sentNs = this.#clock.monoNs();
      const sentMonoMs = Number(sentNs) / 1e6;
      const n = socket.flush();
      for (let i = 0; i < n; i++) this.#hooks.sent(this.#batch[i]!, sentNs, sentMonoMs, nowMs);
      this.#shiftBatch(n);
      if (socket.queued === 0) return;
      const code = socket.lastSendError ?? 'EUNKNOWN';
      if (code === 'EAGAIN' || code === 'ENOBUFS') {
        this.#block(ref);
        return;
      }
      const p = this.#batch[0]!;
      socket.discardFirst();
      this.#shiftBatch(1);
      if (p.state === State.Done) continue;
      p.sentAtMs = nowMs;
      this.#hooks.refused(p, code);
    }
  }

  #shiftBatch(n: number): void {
    if (n === 0) return;
    const b = this.#batch;
    const left = this.#current!.socket.queued;
    b.copyWithin(0, n, n + left);
    b.fill(undefined as never, left, left + n);
  }

  /** The socket is full: what stays in its batch waits like the backlog, with a deadline from now. */
  #block(ref: SocketRef): void {
    this.#blocked = true;
    const nowMs = monoMs(this.#clock);
    for (let i = 0; i < ref.socket.queued; i++) {
      const p = this.#batch[i]!;
      if (p.state === State.Batched && p.deadlineMs === 0) {
        p.sentAtMs = this.#clock.now();
        p.deadlineMs = nowMs + p.timeoutMs;
        this.#hooks.held(p);
      }
    }
    ref.socket.onceWritable(() => {
      if (this.#current !== ref || ref.closed) return;
      this.#blocked = false;
      this.flush();
      this.#hooks.read(ref);
    });
  }

  /** Moves backlog probes into the send batch until it is full; returns true when it moved any. */
  #moveBacklog(): boolean {
    const socket = this.#current?.socket;
    if (!socket) return false;
    let moved = false;
    while (this.#backlogHead < this.#backlog.length && socket.queued < socket.batchSize) {
      const p = this.#backlog[this.#backlogHead]!;
      this.#backlog[this.#backlogHead++] = undefined as never;
      if (p.state !== State.Backlog) continue;
      this.#enqueue(p);
      moved = true;
    }
    if (this.#backlogHead >= this.#backlog.length) {
      this.#backlog = [];
      this.#backlogHead = 0;
    }
    return moved;
  }

  /** Nothing waits for the full socket any more: try it again rather than wait for a writable event that may come late. */
  unblockIdle(): void {
    const socket = this.#current?.socket;
    if (!socket) return;
    for (let i = 0; i < socket.queued; i++) if (this.#batch[i]!.state !== State.Done) return;
    while (socket.queued > 0) {
      socket.discardFirst();
      this.#shiftBatch(1);
    }
    this.#blocked = false;
    this.flush();
  }
}
