/**
 * The sockets of one {@link IcmpEngine}: opening them with the engine's settings, the one in use,
 * the retired ones still reading replies for their probes (datagram identifier rotation), and
 * reopening after an asynchronous socket failure with a growing delay.
 */
import type { TimerHandle } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import type { IcmpEngineOptions } from './engine-options.js';
import { socketRef, type SocketRef } from './probe.js';

/** A socket failure this long after the previous one is reopened at once. */
const REOPEN_CALM_MS = 60_000;
/** Reopen delays double from 1 s up to 30 s while failures repeat. */
const nextReopenDelay = (prevMs: number): number => Math.min(30_000, Math.max(1000, prevMs * 2));

/** What {@link EngineSockets} tells its engine. */
export interface EngineSocketsHooks {
  /** Datagrams or error-queue entries wait on the open socket `ref`. */
  readable(ref: SocketRef): void;
  /** The open socket failed asynchronously. */
  failed(err: Error): void;
  /** A socket was reopened after a failure (see {@link EngineSockets.reopenLater}). */
  reopened(ref: SocketRef): void;
}

/** The socket in use, the retired ones, and the reopen timer of one engine. */
export class EngineSockets {
  readonly #opts: IcmpEngineOptions;
  readonly #hooks: EngineSocketsHooks;
  #current: SocketRef | undefined;
  #retiring: SocketRef[] = [];
  #reopenTimer: TimerHandle | undefined;
  #reopenDelayMs = 0;
  #lastFailureMs = -Infinity;
  /** The engine nonce raw sockets filter echo replies by (set at start). */
  #nonce: { hi: number; lo: number } | undefined;
  #filterWarned = false;

  constructor(opts: IcmpEngineOptions, hooks: EngineSocketsHooks) {
    this.#opts = opts;
    this.#hooks = hooks;
  }

  /** The socket new requests go to (undefined before start, while down, after stop). */
  get current(): SocketRef | undefined {
    return this.#current;
  }

  /** Sockets open: the current one and the retired ones. */
  get count(): number {
    return (this.#current ? 1 : 0) + this.#retiring.length;
  }

  /** True while retired sockets wait for their probes to end. */
  get anyRetiring(): boolean {
    return this.#retiring.length > 0;
  }

  /** The open sockets, retired ones first. */
  all(): SocketRef[] {
    return this.#current ? [...this.#retiring, this.#current] : [...this.#retiring];
  }

  /** Opens a socket with the engine's settings and wires its callbacks; the caller puts it in use. */
  open(): SocketRef {
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
      if (!ref.closed) this.#hooks.readable(ref);
    });
    socket.onError((err) => {
      if (!ref.closed) this.#hooks.failed(err);
    });
    return ref;
  }

  /** {@link open} for a datagram identifier rotation: undefined (logged) when it fails, and the current socket stays in use. */
  openForRotation(): SocketRef | undefined {
    try {
      return this.open();
    } catch (err) {
      this.#opts.logger?.warn(
        { stage: 'icmp', err },
        'could not open a socket for a new ICMP identifier; the current one stays in use',
      );
      return undefined;
    }
  }

  /** From now on every socket put in use drops other engines' echo replies in the kernel (raw sockets). */
  acceptNonce(hi: number, lo: number): void {
    this.#nonce = { hi, lo };
  }

  /** Makes `ref` the socket in use; the previous one, if any, is retired (closed once its probes end). */
  use(ref: SocketRef): void {
    const n = this.#nonce;
    if (n !== undefined && ref.socket.mode === 'raw' && ref.socket.acceptNonce !== undefined) {
      try {
        ref.socket.acceptNonce(n.hi, n.lo);
      } catch (err) {
        // Only a cost: replies of other engines are then read and rejected in user space.
        if (!this.#filterWarned)
          this.#opts.logger?.warn(
            { err },
            'ICMP reply filter not attached; other engines’ replies are read and rejected',
          );
        this.#filterWarned = true;
      }
    }
    const old = this.#current;
    if (old !== undefined) {
      old.retiring = true;
      this.#retiring.push(old);
    }
    this.#current = ref;
  }

  /** Closes retired sockets whose probes have all ended. */
  reap(): void {
    this.#retiring = this.#retiring.filter((ref) => {
      if (ref.probes > 0) return true;
      ref.closed = true;
      ref.socket.close();
      return false;
    });
  }

  /** Closes every socket; none is in use afterwards. */
  closeAll(): void {
    for (const ref of this.all()) {
      ref.closed = true;
      ref.socket.close();
    }
    this.#retiring = [];
    this.#current = undefined;
  }

  /**
   * A failure now: the delay before reopening, 0 after a calm minute, else doubling from 1 s to
   * 30 s while failures repeat.
   */
  failureDelayMs(): number {
    const now = this.#opts.clock.now();
    this.#reopenDelayMs = now - this.#lastFailureMs > REOPEN_CALM_MS ? 0 : nextReopenDelay(this.#reopenDelayMs);
    this.#lastFailureMs = now;
    return this.#reopenDelayMs;
  }

  /** Reopens after the delay {@link failureDelayMs} chose, and again with a longer one while opening fails. */
  reopenLater(): void {
    this.#reopenTimer = this.#opts.clock.setTimeout(() => this.#reopen(), this.#reopenDelayMs);
  }

  /** Cancels a pending reopen (engine stop). */
  cancelReopen(): void {
    this.#reopenTimer?.cancel();
    this.#reopenTimer = undefined;
  }

  #reopen(): void {
    this.#reopenTimer = undefined;
    let ref: SocketRef;
    try {
      ref = this.open();
    } catch (err) {
      this.#reopenDelayMs = nextReopenDelay(this.#reopenDelayMs);
      this.#opts.logger?.error(
        { stage: 'icmp', err, reopen_in_ms: this.#reopenDelayMs },
        'ICMP socket could not be reopened; retrying',
      );
      this.reopenLater();
      return;
    }
    this.#hooks.reopened(ref);
  }
}
