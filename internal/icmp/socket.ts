import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { NetscanError } from '../errors/errors.js';
import { ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_TIME_EXCEEDED } from './packet.js';

/**
 * The engine's only view of the operating system: one ICMP socket. The real one wraps
 * raw-socket's native handle (synchronous sendto/recvfrom); tests inject
 * internal/testkit/fake-icmp.ts.
 */
export interface IcmpSocket {
  /** Socket receive buffer the kernel granted, in bytes (as getsockopt reports it: twice the request). */
  readonly rcvbufBytes: number;
  /**
   * Sends `length` bytes of `packet` (an ICMP message, no IP header) to `ip`, synchronously.
   * Throws an {@link IcmpSocketError} whose `code` is the errno name on failure.
   */
  send(packet: Buffer, length: number, ip: string): void;
  /**
   * Reads up to `max` waiting datagrams, calling `onPacket` for each; the buffer is only valid
   * during the call. Returns how many were read (0 when nothing was waiting).
   */
  drain(onPacket: (packet: Buffer, length: number, source: string) => void, max: number): number;
  /** Registers the callback run whenever datagrams are waiting. */
  onReadable(fn: () => void): void;
  /** Runs `fn` once, the next time the socket can accept a send (after EAGAIN/ENOBUFS). */
  onceWritable(fn: () => void): void;
  /** Registers the callback for asynchronous socket failures (the socket is unusable afterwards). */
  onError(fn: (err: Error) => void): void;
  /** Closes the socket; idempotent. */
  close(): void;
}

/** Options for opening an ICMP socket. */
export interface OpenIcmpSocketOptions {
  /** Address family; only IPv4 is implemented. */
  family: 'ipv4';
  /** Receive buffer to request, in bytes. */
  rcvbufBytes: number;
}

/** Opens an ICMP socket; throws NetscanError ERR_ICMP_PERMISSION / ERR_ICMP_SOCKET. */
export type IcmpSocketFactory = (opts: OpenIcmpSocketOptions) => IcmpSocket;

/** An OS error from the socket, with the errno name in `code` (`EPERM`, `EAGAIN`, ...). */
export class IcmpSocketError extends Error {
  /** errno name, or `EUNKNOWN` when the text was not recognised. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'IcmpSocketError';
    this.code = code;
  }
}

/**
 * What operators are told when the process may not open a raw ICMP socket. Stable text: the CLI
 * prints it, MANUAL.md repeats it.
 */
export const ICMP_PERMISSION_ADVICE = [
  'netscan needs CAP_NET_RAW to send ICMP echo requests (raw socket: Operation not permitted).',
  'Fix one of:',
  '  - run as root;',
  '  - grant the capability to node: sudo setcap cap_net_raw+ep "$(readlink -f "$(which node)")";',
  '  - systemd: AmbientCapabilities=CAP_NET_RAW and CapabilityBoundingSet=CAP_NET_RAW in the [Service] section;',
  '  - Kubernetes: securityContext.capabilities.add: ["NET_RAW"] on the container;',
  '  - Docker: docker run --cap-add=NET_RAW.',
].join('\n');

/** strerror(EAGAIN) in glibc's wording: what raw-socket throws when the socket is empty. */
const EAGAIN_TEXT = 'Resource temporarily unavailable';

// strerror(3) texts raw-socket throws (glibc wording), mapped back to errno names.
const ERRNO_BY_TEXT: ReadonlyMap<string, string> = new Map([
  ['Operation not permitted', 'EPERM'],
  ['Permission denied', 'EACCES'],
  [EAGAIN_TEXT, 'EAGAIN'],
  ['No buffer space available', 'ENOBUFS'],
  ['Network is unreachable', 'ENETUNREACH'],
  ['No route to host', 'EHOSTUNREACH'],
  ['Host is down', 'EHOSTDOWN'],
  ['Invalid argument', 'EINVAL'],
  ['Message too long', 'EMSGSIZE'],
  ['Address family not supported by protocol', 'EAFNOSUPPORT'],
  ['Protocol not supported', 'EPROTONOSUPPORT'],
  ['Too many open files', 'EMFILE'],
  ['Bad file descriptor', 'EBADF'],
]);

/** Converts an error thrown by raw-socket into an {@link IcmpSocketError} with an errno name. */
export function toSocketError(err: unknown): IcmpSocketError {
  if (err instanceof IcmpSocketError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new IcmpSocketError(ERRNO_BY_TEXT.get(message) ?? 'EUNKNOWN', message);
}

// Linux values (include/uapi/linux/icmp.h, asm-generic/socket.h); raw-socket does not export them.
const SOL_RAW = 255;
const ICMP_FILTER = 1;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

type RawModule = typeof import('raw-socket').default;
type RawSocket = ReturnType<RawModule['createSocket']>;
let rawModule: RawModule | undefined;

function loadRaw(): RawModule {
  if (!rawModule) {
    try {
      rawModule = createRequire(import.meta.url)('raw-socket') as RawModule;
    } catch (err) {
      throw new NetscanError('ERR_ICMP_SOCKET', 'cannot load the raw-socket native addon (run `npm rebuild raw-socket`)', { stage: 'icmp', cause: err });
    }
  }
  return rawModule;
}

/** Opens the real raw ICMP socket (SOCK_RAW, IPPROTO_ICMP), with ICMP_FILTER and a large receive buffer. */
export const openRawIcmpSocket: IcmpSocketFactory = (opts) => {
  if (opts.family !== 'ipv4') throw new NetscanError('ERR_ICMP_SOCKET', `address family ${String(opts.family)} is not supported`, { stage: 'icmp' });
  const raw = loadRaw();
  let socket: RawSocket;
  try {
    socket = raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4, bufferSize: 4096 });
  } catch (err) {
    const e = toSocketError(err);
    if (e.code === 'EPERM' || e.code === 'EACCES') {
      throw new NetscanError('ERR_ICMP_PERMISSION', ICMP_PERMISSION_ADVICE, { stage: 'icmp', cause: e });
    }
    throw new NetscanError('ERR_ICMP_SOCKET', `cannot open a raw ICMP socket: ${e.message}`, { stage: 'icmp', cause: e });
  }
  return new RawIcmpSocket(socket, opts.rcvbufBytes);
};

class RawIcmpSocket implements IcmpSocket {
  readonly rcvbufBytes: number;
  readonly #socket: RawSocket;
  readonly #buf = Buffer.alloc(65536);
  #onPacket: ((packet: Buffer, length: number, source: string) => void) | undefined;
  #writable: (() => void) | undefined;
  #onError: ((err: Error) => void) | undefined;
  #closed = false;
  readonly #recvCallback = (buffer: Buffer, bytes: number, source: string): void => {
    this.#onPacket?.(buffer, bytes, source);
  };
  readonly #sendCallback = (): void => {};

  constructor(socket: RawSocket, rcvbufBytes: number) {
    this.#socket = socket;
    // Kernel-side filter (icmp(7) ICMP_FILTER): a raw socket otherwise receives every ICMP packet
    // of the host, including our own echo requests looped back on 127/8.
    const accepted = (1 << ICMP_ECHO_REPLY) | (1 << ICMP_DEST_UNREACHABLE) | (1 << ICMP_TIME_EXCEEDED);
    socket.setOption(SOL_RAW, ICMP_FILTER, ~accepted >>> 0);
    this.rcvbufBytes = setReceiveBuffer(socket, rcvbufBytes);
    // Bypass raw-socket's JS queue: it sends one packet per writable poll and reads one datagram
    // per readable poll. We send synchronously and drain the socket until EAGAIN instead.
    socket.wrap.removeAllListeners('recvReady');
    socket.wrap.removeAllListeners('sendReady');
    socket.wrap.on('sendReady', () => {
      socket.pauseSend();
      const fn = this.#writable;
      this.#writable = undefined;
      fn?.();
    });
    socket.on('error', (err: Error) => {
      this.#closed = true;
      this.#onError?.(err);
    });
  }

  send(packet: Buffer, length: number, ip: string): void {
    try {
      this.#socket.wrap.send(packet, 0, length, ip, this.#sendCallback);
    } catch (err) {
      throw toSocketError(err);
    }
  }

  drain(onPacket: (packet: Buffer, length: number, source: string) => void, max: number): number {
    if (this.#closed) return 0;
    // Restored afterwards, not cleared: a read nested in this one must not end this one's callback.
    const outer = this.#onPacket;
    this.#onPacket = onPacket;
    let n = 0;
    try {
      for (; n < max; n++) this.#socket.wrap.recv(this.#buf, this.#recvCallback);
    } catch (err) {
      // Every drain ends in EAGAIN (raw-socket throws for it); skip building an error object then.
      if (!(err instanceof Error && err.message === EAGAIN_TEXT)) {
        const e = toSocketError(err);
        if (e.code !== 'EAGAIN') this.#onError?.(e);
      }
    } finally {
      this.#onPacket = outer;
    }
    return n;
  }

  onReadable(fn: () => void): void {
    this.#socket.wrap.on('recvReady', fn);
  }

  onceWritable(fn: () => void): void {
    this.#writable = fn;
    this.#socket.resumeSend();
  }

  onError(fn: (err: Error) => void): void {
    this.#onError = fn;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.close();
  }
}

/** Asks for `bytes` of receive buffer, beyond net.core.rmem_max when allowed; returns what the kernel granted. */
function setReceiveBuffer(socket: RawSocket, bytes: number): number {
  // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN (socket(7)); fall back to SO_RCVBUF,
  // which the kernel silently caps at rmem_max.
  try {
    socket.setOption(SOL_SOCKET, SO_RCVBUFFORCE, bytes);
  } catch {
    try {
      socket.setOption(SOL_SOCKET, SO_RCVBUF, bytes);
    } catch {
      // keep the default; the granted size is reported below
    }
  }
  const out = Buffer.alloc(4);
  try {
    socket.getOption(SOL_SOCKET, SO_RCVBUF, out, 4);
    return endianness() === 'LE' ? out.readInt32LE(0) : out.readInt32BE(0);
  } catch {
    return 0;
  }
}
