import type { SocketRef } from './probe.js';

/** What {@link SequenceSpace} asks of the engine. */
export interface SequenceHooks {
  /** True when sequence number `seq` is free (no probe holds it). */
  free(seq: number): boolean;
  /** The socket new requests go out on. */
  current(): SocketRef;
  /** 16 random bits (a new raw identifier). */
  random16(): number;
  /**
   * Datagram sockets: puts a new socket (a new kernel-owned identifier) in use. `later` when the
   * old socket's batch cannot be sent yet (asked again at the next sequence number); `failed` when
   * no socket could be opened (the identifier stays).
   */
  rotateSocket(): 'rotated' | 'later' | 'failed';
  /** An identifier rotation took effect. */
  rotated(): void;
}

/**
 * The engine's identifiers and sequence numbers: a random start per run, never a sequence number
 * still held by a probe, and a new identifier every 65,536 sequence numbers (stateful firewalls
 * key ICMP sessions on it). Raw sockets draw the identifier at random; a datagram socket's is the
 * kernel's (its port), so a new socket is opened and the old one kept until its probes end.
 * Probes in flight keep the identifier they were sent with (checked per slot).
 */
export class SequenceSpace {
  readonly #hooks: SequenceHooks;
  #id = 0;
  #nextSeq = 0;
  #sentAny = false;
  #rotatePending = false;

  constructor(hooks: SequenceHooks) {
    this.#hooks = hooks;
  }

  /** Starts a run at identifier `id` (raw sockets) and sequence number `seq`. */
  reset(id: number, seq: number): void {
    this.#id = id;
    this.#nextSeq = seq;
    this.#sentAny = false;
    this.#rotatePending = false;
  }

  /** Forgets a rotation waiting for its turn (the sockets closed). */
  cancelRotation(): void {
    this.#rotatePending = false;
  }

  /** Identifier of requests sent on `ref` now (raw: the engine's; datagram: the socket's). */
  identifierOf(ref: SocketRef | undefined): number {
    return ref?.socket.mode === 'dgram' ? (ref.socket.identifier ?? 0) : this.#id;
  }

  /** The next free sequence number (rotating the identifier when the numbers wrap). */
  next(): number {
    // The in-flight cap keeps probes far below 65,536, so a free sequence number is always near.
    for (;;) {
      const seq = this.#nextSeq;
      this.#nextSeq = (seq + 1) & 0xffff;
      if (seq === 0 && this.#sentAny) this.#rotatePending = true;
      if (this.#rotatePending) this.#rotate();
      this.#sentAny = true;
      if (this.#hooks.free(seq)) return seq;
    }
  }

  #rotate(): void {
    if (this.#hooks.current().socket.mode === 'raw') {
      let id = this.#id;
      while (id === this.#id) id = this.#hooks.random16();
      this.#id = id;
    } else {
      const r = this.#hooks.rotateSocket();
      if (r === 'later') return;
      this.#rotatePending = false;
      if (r === 'failed') return;
    }
    this.#rotatePending = false;
    this.#hooks.rotated();
  }
}
