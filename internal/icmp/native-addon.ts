/**
 * netscan's ICMP socket addon (internal/icmp/native/, built by scripts/build-native.mjs): where it
 * is loaded from and how, the shape of what it exports (the ABI shared with icmp_socket.cc), and
 * how its errors (errno numbers, a refused socket(2)) become netscan errors. The socket class
 * around it is in native-socket.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetscanError } from '../errors/errors.js';
import { IcmpSocketError, type OpenIcmpSocketOptions } from './icmp-socket.js';

// Poll mask bits and `state` indices shared with icmp_socket.cc.
/** Poll mask bit: call back when the socket is readable (datagrams or error-queue entries wait). */
export const WANT_READABLE = 1;
/** Poll mask bit: call back once the socket is writable. */
export const WANT_WRITABLE = 2;
/** `state` index: errno of the last flush (0 when it sent everything). */
export const STATE_LAST_ERRNO = 0;
/** `state` index: datagrams read() dropped for an inconsistent IPv4 header. */
export const STATE_MALFORMED = 1;
/** `state` index: transmit stamps whose datagram copy came from the addon's ring. */
export const STATE_TX_FROM_RING = 2;
/** `state` index: transmit stamps with no copy of the datagram. */
export const STATE_TX_NO_COPY = 3;
/** `state` index: pending socket errors cleared before a send or absorbed by a retry. */
export const STATE_STALE_ERRORS = 4;

/** What the addon's open() takes. */
export interface NativeOpenOptions {
  family: 4 | 6;
  raw: boolean;
  rcvbuf: number;
  tos: number | undefined;
  ttl: number | undefined;
  source: string | undefined;
  ifname: string | undefined;
  batch: number;
  slot: number;
  tsOnly: boolean;
  noSelectErrQueue: boolean;
  sndbuf: number;
  noStamps: boolean;
}

/** The addon's socket handle: fixed properties set when it opens, and the batch methods. */
export interface NativeHandle {
  readonly fd: number;
  readonly rcvbufBytes: number;
  readonly identifier: number;
  readonly kernelStamps: number;
  readonly tsOnly: number;
  readonly batchSize: number;
  readonly slotBytes: number;
  readonly sendData: ArrayBuffer;
  readonly sendLength: ArrayBuffer;
  readonly sendAddress: ArrayBuffer;
  readonly sendScope: ArrayBuffer;
  readonly readData: ArrayBuffer;
  readonly readLength: ArrayBuffer;
  readonly readSource: ArrayBuffer;
  readonly readRxNs: ArrayBuffer;
  readonly errKind: ArrayBuffer;
  readonly errData: ArrayBuffer;
  readonly errLength: ArrayBuffer;
  readonly errDestination: ArrayBuffer;
  readonly errOffender: ArrayBuffer;
  readonly errType: ArrayBuffer;
  readonly errCode: ArrayBuffer;
  readonly errTxNs: ArrayBuffer;
  readonly state: ArrayBuffer;
  flush(count: number): number;
  discard(count: number): void;
  read(): number;
  readErrors(): number;
  poll(mask: number): void;
  close(): void;
  now(): number;
  acceptNonce(hi: number, lo: number): void;
}

export interface NativeAddon {
  open(opts: NativeOpenOptions, dispatch: (errno: number, events: number) => void): NativeHandle;
  ifIndex(name: string): number;
}

/** Errors the addon throws carry the errno and the failing call. */
export interface NativeError extends Error {
  errno?: number;
  syscall?: string;
}

// errno number -> name (EAGAIN rather than its alias EWOULDBLOCK: the first name wins).
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(osConstants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}
ERRNO_NAMES.set(osConstants.errno.EAGAIN, 'EAGAIN');
ERRNO_NAMES.set(osConstants.errno.EOPNOTSUPP, 'EOPNOTSUPP');

/** errno name of a positive errno number (`E<n>` when node does not know it). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/** The IcmpSocketError of anything the addon threw (code: its errno name, EUNKNOWN without one). */
export function toSocketError(err: unknown): IcmpSocketError {
  if (err instanceof IcmpSocketError) return err;
  const e = err as NativeError;
  const code = typeof e?.errno === 'number' ? errnoName(e.errno) : 'EUNKNOWN';
  return new IcmpSocketError(code, e instanceof Error ? e.message : String(err));
}

// ---------------------------------------------------------------------------------------------
// Loading the addon.

/** The directory holding netscan's package.json: the source tree (tsx) or the one above dist/ (tsc). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'netscan') return dir;
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    dir = up;
  }
}

/** Where the addon is loaded from: $NETSCAN_ICMP_ADDON, else the build output under the package root. */
export function nativeAddonPath(): string {
  return (
    process.env.NETSCAN_ICMP_ADDON ||
    join(packageRoot(), 'internal', 'icmp', 'native', 'build', 'Release', 'netscan_icmp.node')
  );
}

let addon: NativeAddon | undefined;

/** The addon, loaded once; NetscanError ERR_ICMP_SOCKET (with what to do) when it is missing or broken. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const path = nativeAddonPath();
  const toolchain = 'needs g++, make and python3; Debian: apt-get install g++ make python3';
  if (process.platform !== 'linux') {
    throw new NetscanError('ERR_ICMP_SOCKET', `the ICMP socket addon is Linux-only (this is ${process.platform})`, {
      stage: 'icmp',
    });
  }
  if (!existsSync(path)) {
    throw new NetscanError(
      'ERR_ICMP_SOCKET',
      `the ICMP socket addon is not built (${path} is missing); run \`npm run setup\` to build it (${toolchain})`,
      { stage: 'icmp' },
    );
  }
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new NetscanError(
      'ERR_ICMP_SOCKET',
      `cannot load the ICMP socket addon ${path} (${why}); run \`npm run setup\` to rebuild it (${toolchain})`,
      {
        stage: 'icmp',
        cause: err,
      },
    );
  }
  return addon;
}

/**
 * What a failed open becomes: NetscanError ERR_ICMP_PERMISSION (cause: the IcmpSocketError,
 * EPERM or EACCES) with advice when socket(2) is refused, ERR_ICMP_SOCKET otherwise.
 */
export function openFailure(err: unknown, opts: Pick<OpenIcmpSocketOptions, 'family' | 'mode'>): NetscanError {
  const what = `${opts.mode === 'raw' ? 'raw' : 'datagram'} ICMP${opts.family === 'ipv6' ? 'v6' : ''} socket`;
  const cause = toSocketError(err);
  if ((err as NativeError).syscall === 'socket' && (cause.code === 'EPERM' || cause.code === 'EACCES')) {
    const why =
      opts.mode === 'raw'
        ? 'raw ICMP sockets need CAP_NET_RAW'
        : "datagram ICMP sockets need the process's group inside net.ipv4.ping_group_range";
    return new NetscanError('ERR_ICMP_PERMISSION', `not allowed to open a ${what} (${cause.code}): ${why}`, {
      stage: 'icmp',
      cause,
    });
  }
  return new NetscanError('ERR_ICMP_SOCKET', `cannot open a ${what}: ${cause.message}`, { stage: 'icmp', cause });
}
