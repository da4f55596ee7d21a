/**
 * The ICMP engine's only view of the operating system: one ICMP socket of one address family,
 * raw (SOCK_RAW, needs CAP_NET_RAW) or datagram (SOCK_DGRAM + IPPROTO_ICMP/ICMPV6, allowed by
 * net.ipv4.ping_group_range). The real one is the native addon (internal/icmp/native/); tests
 * inject internal/testkit/fake-icmp.ts.
 *
 * Everything crosses this seam in batches, through arrays the socket owns and reuses, so the hot
 * path allocates nothing and makes one native call per batch, not per packet:
 *
 * - sending: `queue()` copies a datagram into the send batch; `flush()` sends the batch with
 *   sendmmsg(2);
 * - reading: `read()` fills {@link IcmpReadBatch} with recvmmsg(2) (datagrams with kernel receive
 *   stamps); `readErrors()` fills {@link IcmpErrorBatch} from the socket's error queue
 *   (MSG_ERRQUEUE: transmit stamps, and in datagram mode the ICMP errors that IP_RECVERR /
 *   IPV6_RECVERR queue there).
 *
 * Addresses are raw bytes: 4 for IPv4, 16 for IPv6, each in a 16-byte cell.
 */
import type { OptionChecks } from '../errors/option-checks.js';

/** Address family of a socket. */
export type IcmpFamily = 'ipv4' | 'ipv6';

/** Socket kind: `raw` needs CAP_NET_RAW; `dgram` needs the process's group in net.ipv4.ping_group_range. */
export type IcmpSocketMode = 'raw' | 'dgram';

/** Options for opening an ICMP socket. */
export interface OpenIcmpSocketOptions {
  /** Address family. */
  family: IcmpFamily;
  /** Raw or datagram socket. */
  mode: IcmpSocketMode;
  /** Receive buffer to request, in bytes (SO_RCVBUFFORCE when allowed, else SO_RCVBUF). */
  rcvbufBytes: number;
  /** IP_TOS / IPV6_TCLASS byte (0..255); undefined keeps the kernel default. */
  tos?: number | undefined;
  /** IP_TTL / IPV6_UNICAST_HOPS (1..255); undefined keeps the kernel default. */
  ttl?: number | undefined;
  /** Local address to send from (bind(2)); must be of the socket's family. */
  sourceAddress?: string | undefined;
  /** Interface to send through (SO_BINDTODEVICE). */
  interfaceName?: string | undefined;
}

/** Adds to `c` a problem for each option of `opts` no ICMP socket can take (family, mode, rcvbufBytes, tos, ttl). */
export function checkOpenIcmpSocketOptions(c: OptionChecks, opts: OpenIcmpSocketOptions): OptionChecks {
  c.oneOf('family', opts.family, ['ipv4', 'ipv6'])
    .oneOf('mode', opts.mode, ['raw', 'dgram'])
    .integer('rcvbufBytes', opts.rcvbufBytes, 0, 0x7fffffff);
  if (opts.tos !== undefined) c.integer('tos', opts.tos, 0, 255);
  if (opts.ttl !== undefined) c.integer('ttl', opts.ttl, 1, 255);
  return c;
}

/** Datagrams read by one {@link IcmpSocket.read}; every array is indexed 0..count-1 and reused by the next read. */
export interface IcmpReadBatch {
  /** Datagram i is `data[i * slotBytes .. i * slotBytes + length[i])`: the ICMP message, never an IP header. */
  readonly data: Buffer;
  /** Bytes reserved per datagram in `data`. */
  readonly slotBytes: number;
  /** Length of datagram i in bytes (the ICMP message; truncated to slotBytes when longer). */
  readonly length: Int32Array;
  /** Source address of datagram i: 4 or 16 bytes at i * 16. */
  readonly source: Uint8Array;
  /** Kernel receive stamp of datagram i in ns on the socket's stamp scale, or NaN when the kernel gave none. */
  readonly rxNs: Float64Array;
}

/** Kinds of error-queue entries. */
export const enum IcmpErrorKind {
  /** A transmit stamp for a datagram we sent: `txNs` and the datagram as sent in `data`. */
  TxStamp = 1,
  /** An ICMP error for a datagram we sent (datagram mode): type, code, offender, and the datagram as sent. */
  IcmpError = 2,
  /** Any other error-queue entry (counted by the engine, otherwise ignored). */
  Other = 3,
}

/** Entries read by one {@link IcmpSocket.readErrors}; indexed 0..count-1 and reused by the next call. */
export interface IcmpErrorBatch {
  /** {@link IcmpErrorKind} of entry i. */
  readonly kind: Uint8Array;
  /** Entry i's copy of the datagram we sent: `data[i * slotBytes .. + length[i])`, the ICMP message only. */
  readonly data: Buffer;
  /** Bytes reserved per entry in `data`. */
  readonly slotBytes: number;
  /** Length of entry i's datagram in bytes (0 when the kernel returned none). */
  readonly length: Int32Array;
  /** Destination of the datagram we sent (msg_name): 4 or 16 bytes at i * 16. */
  readonly destination: Uint8Array;
  /** IcmpError: the address that sent the ICMP error (SO_EE_OFFENDER), 4 or 16 bytes at i * 16; zero when unknown. */
  readonly offender: Uint8Array;
  /** IcmpError: ICMP type of the error (ee_type). */
  readonly icmpType: Uint8Array;
  /** IcmpError: ICMP code of the error (ee_code). */
  readonly icmpCode: Uint8Array;
  /** TxStamp: kernel transmit stamp in ns on the socket's stamp scale; NaN otherwise. */
  readonly txNs: Float64Array;
}

/**
 * One ICMP socket. Kernel stamps (receive: SO_TIMESTAMPNS; transmit: SO_TIMESTAMPING software)
 * are CLOCK_REALTIME, reported in ns relative to a base the socket fixes when it opens, as doubles
 * (exact for 104 days, then 2-ns steps): only differences of two stamps of one socket mean anything.
 */
export interface IcmpSocket {
  /** Address family. */
  readonly family: IcmpFamily;
  /** Raw or datagram. */
  readonly mode: IcmpSocketMode;
  /** Receive buffer the kernel granted, in bytes (as getsockopt reports it: twice the request). */
  readonly rcvbufBytes: number;
  /**
   * Datagram mode: the echo identifier the kernel writes into every request of this socket and
   * filters replies by (the socket's bound port). Raw mode: undefined (the engine picks its own).
   */
  readonly identifier: number | undefined;
  /** True when the kernel stamps receive and transmit times on this socket. */
  readonly kernelStamps: boolean;
  /** Most datagrams one flush() sends and one read() returns. */
  readonly batchSize: number;
  /** Reused batch that read() fills. */
  readonly readBatch: IcmpReadBatch;
  /** Reused batch that readErrors() fills. */
  readonly errorBatch: IcmpErrorBatch;

  /**
   * Copies `length` bytes of `packet` (the ICMP message) into the send batch, addressed to `ip`
   * (text form of the socket's family). Returns the datagram's index in the batch. The caller
   * flushes when `queued` reaches `batchSize`; queue() on a full batch throws.
   */
  queue(packet: Buffer, length: number, ip: string): number;
  /** Datagrams queued and not yet sent. */
  readonly queued: number;
  /**
   * Sends the queued datagrams in order (sendmmsg). Returns how many were sent from the front of
   * the batch; those leave it. When the first unsent one failed, `lastSendError` holds its errno
   * name (EAGAIN/ENOBUFS: the socket is full, retry after onceWritable; anything else: that
   * datagram cannot be sent, and the caller drops it with `discardFirst()`). Unsent datagrams stay
   * queued, in order.
   */
  flush(): number;
  /** errno name of the datagram flush() stopped at, or undefined when it sent them all. */
  readonly lastSendError: string | undefined;
  /** Drops the first queued datagram (one that flush() could not send). */
  discardFirst(): void;

  /** Reads up to batchSize waiting datagrams into readBatch (recvmmsg, non-blocking); returns how many (0 when none). */
  read(): number;
  /** Reads up to batchSize entries of the error queue into errorBatch; returns how many (0 when none). */
  readErrors(): number;

  /** Registers the callback run whenever datagrams or error-queue entries are waiting (event-driven, uv_poll). */
  onReadable(fn: () => void): void;
  /** Runs `fn` once, the next time the socket can accept a send (after EAGAIN/ENOBUFS). */
  onceWritable(fn: () => void): void;
  /** Registers the callback for asynchronous socket failures (the socket is unusable afterwards). */
  onError(fn: (err: Error) => void): void;
  /** Closes the socket; idempotent. */
  close(): void;
  /**
   * Raw sockets: the kernel drops echo replies whose payload does not start with this 8-byte nonce
   * (nonceHi, nonceLo), before they are queued or wake the reader. Every raw ICMP socket is handed a
   * copy of every echo reply, so without it each engine also reads the others' (another shard's, or
   * the sweep's beside the probe thread's). Optional: a socket without it reads and rejects them.
   */
  acceptNonce?(nonceHi: number, nonceLo: number): void;
}

/** Opens an ICMP socket; throws NetscanError ERR_ICMP_PERMISSION (with advice) or ERR_ICMP_SOCKET. */
export type IcmpSocketFactory = (opts: OpenIcmpSocketOptions) => IcmpSocket;

/** An OS error from the socket, with the errno name in `code` (`EPERM`, `EAGAIN`, ...). */
export class IcmpSocketError extends Error {
  /** errno name, or `EUNKNOWN` when the error was not recognised. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'IcmpSocketError';
    this.code = code;
  }
}
