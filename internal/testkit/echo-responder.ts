/**
 * A userspace ICMP echo responder for a private namespace whose kernel does not answer
 * (net.ipv4.icmp_echo_ignore_all=1). For each echo request it sends the replies a plan asks for:
 * delayed (latency without netem), forged (wrong identifier, sequence, source, tag), or late.
 * Replies are written with IP_HDRINCL so they can carry any source address.
 */
import { createRequire } from 'node:module';
import { systemClock, type Clock } from '../clock/clock.js';
import { formatIpv4 } from '../icmp/ipv4.js';
import { ICMP_ECHO_REQUEST } from '../icmp/packet.js';
import { echoReplyMessage, ipv4Datagram, type ReplyTweaks } from './icmp-packets.js';

/** An echo request the responder saw. */
export interface SeenRequest {
  /** Sender of the request. */
  readonly src: string;
  /** Address the request was sent to. */
  readonly dst: string;
  /** Identifier. */
  readonly id: number;
  /** Sequence number. */
  readonly seq: number;
  /** Copy of the ICMP message. */
  readonly icmp: Buffer;
  /** Index of this request among all seen (0-based). */
  readonly index: number;
}

/** One reply to send for a request. */
export interface PlannedReply {
  /** Delay after receiving the request, in milliseconds (0 = immediately). */
  readonly delayMs: number;
  /** Source address of the reply (default: the request's destination). */
  readonly source?: string;
  /** Forgeries to apply. */
  readonly tweaks?: ReplyTweaks;
}

/** Options for {@link EchoResponder}. */
export interface EchoResponderOptions {
  /** Replies to send for each request (default: one immediate, genuine reply). */
  readonly plan?: (req: SeenRequest) => readonly PlannedReply[];
  /** Clock for the delays. */
  readonly clock?: Clock;
}

/** One reply that went out, with the time it was held. */
export interface SentReply {
  /** The request it answers. */
  readonly request: SeenRequest;
  /** Time between reading the request and sending this reply, in milliseconds (hrtime). */
  readonly heldMs: number;
}

interface RawSocketLike {
  wrap: {
    send(b: Buffer, o: number, l: number, a: string, cb: () => void): void;
    recv(b: Buffer, cb: (b: Buffer, n: number, s: string) => void): void;
    on(ev: string, fn: () => void): void;
    removeAllListeners(ev: string): void;
  };
  setOption(level: number, option: number, value: number): void;
  close(): void;
}

/** See the module comment. Needs CAP_NET_RAW; run it inside the test's namespace. */
export class EchoResponder {
  /** Requests seen, in order. */
  readonly requests: SeenRequest[] = [];
  /** Replies sent, in order. */
  readonly replies: SentReply[] = [];
  readonly #plan: (req: SeenRequest) => readonly PlannedReply[];
  readonly #clock: Clock;
  #socket: RawSocketLike | undefined;
  readonly #buf = Buffer.alloc(65536);

  constructor(opts: EchoResponderOptions = {}) {
    this.#plan = opts.plan ?? (() => [{ delayMs: 0 }]);
    this.#clock = opts.clock ?? systemClock;
  }

  /** Opens the raw socket; idempotent. */
  start(): void {
    if (this.#socket) return;
    const raw = createRequire(import.meta.url)('raw-socket') as {
      createSocket(o: { protocol: number }): RawSocketLike;
      Protocol: { ICMP: number };
      SocketLevel: { IPPROTO_IP: number };
      SocketOption: { IP_HDRINCL: number };
    };
    const socket = raw.createSocket({ protocol: raw.Protocol.ICMP });
    socket.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
    socket.wrap.removeAllListeners('recvReady');
    socket.wrap.on('recvReady', () => this.#drain());
    this.#socket = socket;
  }

  /** Closes the socket; idempotent. */
  stop(): void {
    this.#socket?.close();
    this.#socket = undefined;
  }

  #drain(): void {
    const socket = this.#socket;
    if (!socket) return;
    for (;;) {
      try {
        socket.wrap.recv(this.#buf, (b, n) => this.#onDatagram(b, n));
      } catch {
        return; // EAGAIN: drained
      }
    }
  }

  #onDatagram(buf: Buffer, length: number): void {
    const ihl = (buf[0]! & 0x0f) * 4;
    if (length < ihl + 8 || buf[ihl] !== ICMP_ECHO_REQUEST) return;
    const receivedNs = process.hrtime.bigint();
    const icmp = Buffer.from(buf.subarray(ihl, length));
    const req: SeenRequest = {
      src: formatIpv4(buf.readUInt32BE(12)),
      dst: formatIpv4(buf.readUInt32BE(16)),
      id: icmp.readUInt16BE(4),
      seq: icmp.readUInt16BE(6),
      icmp,
      index: this.requests.length,
    };
    this.requests.push(req);
    for (const planned of this.#plan(req)) {
      const send = (): void => {
        const socket = this.#socket;
        if (!socket) return;
        const datagram = ipv4Datagram({
          src: planned.source ?? req.dst,
          dst: req.src,
          icmp: echoReplyMessage(req.icmp, planned.tweaks),
        });
        // Node timers may fire up to ~1 ms early relative to hrtime (they count from the loop's
        // cached time); spin out the remainder so the hold is never shorter than asked.
        const dueNs = receivedNs + BigInt(Math.round(planned.delayMs * 1e6));
        while (process.hrtime.bigint() < dueNs) {
          /* spin */
        }
        const heldMs = Number(process.hrtime.bigint() - receivedNs) / 1e6;
        socket.wrap.send(datagram, 0, datagram.length, req.src, () => {});
        this.replies.push({ request: req, heldMs });
      };
      if (planned.delayMs <= 0) send();
      else this.#clock.setTimeout(send, planned.delayMs);
    }
  }
}
