/**
 * Options, defaults, option checks and counters of the ICMP engine, and the socket-factory default.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock/clock.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { Logger } from '../log/log.js';
import {
  checkOpenIcmpSocketOptions,
  type IcmpFamily,
  type IcmpSocketFactory,
  type IcmpSocketMode,
} from './icmp-socket.js';
import { openNativeIcmpSocket } from './native-socket.js';
import { MAX_PAYLOAD_BYTES_V4, MIN_PAYLOAD_BYTES } from './packet.js';
import { MAX_PAYLOAD_BYTES_V6 } from './packet6.js';

/** Options for {@link IcmpEngine}. */
export interface IcmpEngineOptions {
  /** Address family served by this engine. */
  family: IcmpFamily;
  /** Socket kind asked of `openSocket` (a mode-choosing factory may open another; the engine follows the socket's `mode`). */
  mode: IcmpSocketMode;
  /** Most echo requests outstanding at once; further pings wait in FIFO order (1..60000). */
  maxInFlight: number;
  /** ICMP payload size in bytes, including netscan's 16-byte stamp (16..1472 IPv4, 16..1452 IPv6; 56 like ping(8)). */
  payloadBytes: number;
  /** Socket receive buffer to request, in bytes (the kernel reports twice the granted request). */
  rcvbufBytes: number;
  /** IP_TOS / IPV6_TCLASS byte of every request (0..255); undefined keeps the kernel default. */
  tos: number | undefined;
  /** IP_TTL / IPV6_UNICAST_HOPS of every request (1..255); undefined keeps the kernel default. */
  ttl: number | undefined;
  /** Local address to send from, of this engine's family; undefined lets the kernel choose. */
  sourceAddress: string | undefined;
  /** Interface to send through (SO_BINDTODEVICE); undefined for any. */
  interfaceName: string | undefined;
  /** Time source for timeouts, timestamps and the user-space RTT fallback (its monoNs()). */
  clock: Clock;
  /** Logger for lifecycle and socket problems (never per packet above debug). */
  logger: Logger | undefined;
  /** Opens sockets: at start, after a socket failure, and per identifier in datagram mode; tests inject a fake. */
  openSocket: IcmpSocketFactory;
  /** Randomness for the identifier (raw mode), the sequence start, the nonce and the tag secret. */
  randomBytes: (n: number) => Buffer;
}

/** Defaults for {@link IcmpEngineOptions}. */
export const defaultIcmpEngineOptions: IcmpEngineOptions = {
  family: 'ipv4',
  mode: 'raw',
  maxInFlight: 8192,
  payloadBytes: 56,
  rcvbufBytes: 8 * 1024 * 1024,
  tos: undefined,
  ttl: undefined,
  sourceAddress: undefined,
  interfaceName: undefined,
  clock: systemClock,
  logger: undefined,
  openSocket: openNativeIcmpSocket,
  randomBytes: cryptoRandomBytes,
};

/** Throws one ConfigError (stage icmp) naming every option of `o` out of range; start() calls it. */
export function checkIcmpEngineOptions(o: IcmpEngineOptions): void {
  const c = checkOpenIcmpSocketOptions(new OptionChecks('icmp'), o).integer('maxInFlight', o.maxInFlight, 1, 60000);
  const maxPayload = o.family === 'ipv6' ? MAX_PAYLOAD_BYTES_V6 : MAX_PAYLOAD_BYTES_V4;
  c.require(
    Number.isSafeInteger(o.payloadBytes) && o.payloadBytes >= MIN_PAYLOAD_BYTES && o.payloadBytes <= maxPayload,
    'payloadBytes',
    o.payloadBytes,
    `an integer from ${MIN_PAYLOAD_BYTES} to ${maxPayload} for ${o.family}`,
  );
  c.throwIfAny();
}

// Kernel memory charged per queued echo reply beyond its payload: skb truesize measured on
// Linux 6.x loopback as ~830 bytes for a 56-byte payload, rounded up.
const REPLY_TRUESIZE_BYTES = 968;
// The cap never goes below this, however small the buffer.
const MIN_IN_FLIGHT = 64;

/**
 * The in-flight cap in force: `maxInFlight`, lowered (never below 64) when the granted receive
 * buffer cannot hold that many replies. Every reply of the in-flight probes may arrive while the
 * loop is stalled (GC, a long task); they must all fit in the socket buffer or the kernel drops
 * them silently (false loss). A deliberate clamp, not an error: the engine logs a warning with
 * both figures and reports the cap as `maxInFlight` in its stats.
 */
export function inFlightCap(o: Pick<IcmpEngineOptions, 'maxInFlight' | 'payloadBytes'>, rcvbufBytes: number): number {
  if (rcvbufBytes <= 0) return o.maxInFlight;
  const fits = Math.max(MIN_IN_FLIGHT, Math.floor(rcvbufBytes / (REPLY_TRUESIZE_BYTES + o.payloadBytes)));
  return Math.min(o.maxInFlight, fits);
}

/** Counters since the engine started. */
export interface IcmpEngineStats {
  /** Address family of the engine. */
  family: IcmpFamily;
  /** Kind of the socket in use (undefined before start). */
  mode: IcmpSocketMode | undefined;
  /** True when the socket in use stamps receive and transmit times in the kernel. */
  kernelStamps: boolean;
  /** Echo requests handed to the kernel. */
  sent: number;
  /** Matched echo replies (successful pings). */
  replies: number;
  /** Replies timed by kernel stamps (transmit to receive). */
  rttKernel: number;
  /** Replies timed in user space (clock before the send flush to clock at the read), for want of a kernel stamp. */
  rttUserspace: number;
  /** Kernel transmit stamps that matched no probe in flight (arrived after it settled, or unrecognised). */
  txStampsUnpaired: number;
  /** Error-queue entries that were neither a transmit stamp nor an ICMP error. */
  errorQueueOther: number;
  /** Pings that got no matching reply within their timeout. */
  timeouts: number;
  /** Pings answered by an ICMP error (unreachable, time exceeded, packet too big), or refused with ENETUNREACH/EHOSTUNREACH/EHOSTDOWN. */
  unreachable: number;
  /** Pings the socket refused to send (EPERM from a firewall, EINVAL, ...) or never took (it stayed full). */
  sendErrors: number;
  /** Pings aborted by the caller's signal. */
  aborted: number;
  /** Genuine replies of this engine that arrived after their ping had timed out or been aborted. */
  late: number;
  /** Genuine replies to a ping that had already been answered. */
  duplicates: number;
  /** ICMP packets for someone else (other processes' pings, errors about other traffic). */
  foreign: number;
  /** Replies and errors carrying this engine's nonce that failed a check: the sum of the four below. */
  invalid: number;
  /** Of `invalid`: the ICMPv4 checksum failed (raw IPv4 only; elsewhere the kernel checks it). */
  invalidChecksum: number;
  /** Of `invalid`: identifier, sequence or tag do not match a probe of this engine. */
  invalidIdentity: number;
  /** Of `invalid`: the reply came from another address than the probe's target. */
  invalidSource: number;
  /** Of `invalid`: the echoed payload differs from the request's (altered, truncated or padded). */
  invalidPayload: number;
  /** Times the identifier changed (once per 65,536 sequence numbers; a new socket in datagram mode). */
  identifierRotations: number;
  /** Asynchronous socket failures survived: each rejected the pings in flight, then the socket was reopened. */
  socketFailures: number;
  /** Sockets open: one, plus datagram sockets retired by a rotation whose probes have not ended. */
  socketsOpen: number;
  /** Pings currently holding a sequence number (sent or about to be sent). */
  inFlight: number;
  /** Pings waiting for the in-flight cap. */
  queued: number;
  /** Receive buffer granted by the kernel, in bytes. */
  rcvbufBytes: number;
  /** In-flight cap in force: maxInFlight, lowered if the receive buffer could not hold that many replies. */
  maxInFlight: number;
}

/** Counters all zero, for a new engine. */
export function zeroIcmpEngineStats(family: IcmpFamily): IcmpEngineStats {
  return {
    family,
    mode: undefined,
    kernelStamps: false,
    sent: 0,
    replies: 0,
    rttKernel: 0,
    rttUserspace: 0,
    txStampsUnpaired: 0,
    errorQueueOther: 0,
    timeouts: 0,
    unreachable: 0,
    sendErrors: 0,
    aborted: 0,
    late: 0,
    duplicates: 0,
    foreign: 0,
    invalid: 0,
    invalidChecksum: 0,
    invalidIdentity: 0,
    invalidSource: 0,
    invalidPayload: 0,
    identifierRotations: 0,
    socketFailures: 0,
    socketsOpen: 0,
    inFlight: 0,
    queued: 0,
    rcvbufBytes: 0,
    maxInFlight: 0,
  };
}
