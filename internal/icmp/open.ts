import { readFileSync } from 'node:fs';
import { hasCode, NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type {
  IcmpFamily,
  IcmpSocket,
  IcmpSocketFactory,
  IcmpSocketMode,
  OpenIcmpSocketOptions,
} from './icmp-socket.js';

/** The `icmp_mode` setting: a socket kind, or `auto` (raw when CAP_NET_RAW is held, else datagram). */
export type IcmpModeSetting = 'auto' | IcmpSocketMode;

/** Where the kernel exposes the groups allowed to open datagram ICMP sockets (IPv4 and IPv6 alike). */
export const PING_GROUP_RANGE_PATH = '/proc/sys/net/ipv4/ping_group_range';

/** The process's groups, as the kernel checks them against net.ipv4.ping_group_range. */
export interface ProcessGroups {
  /** Effective group id. */
  gid: number;
  /** Supplementary group ids. */
  groups: readonly number[];
}

/** Options for {@link IcmpSocketOpener}. */
export interface IcmpSocketOpenerOptions {
  /** Socket kind to open; `auto` tries raw first, then datagram, and keeps the first that works. */
  mode: IcmpModeSetting;
  /** Opens one socket of a given kind (the native addon; tests inject fakes). */
  open: IcmpSocketFactory;
  /** Reads a text file (the ping_group_range sysctl, for the advice); tests inject one. */
  readFile: (path: string) => string;
  /** The process's effective and supplementary groups (for the advice). */
  processGroups: () => ProcessGroups;
  /** Logger for the mode chosen (once per family). */
  logger: Logger | undefined;
}

/** Defaults for {@link IcmpSocketOpenerOptions} (`open` has none: the caller names the addon). */
export const defaultIcmpSocketOpenerOptions: Omit<IcmpSocketOpenerOptions, 'open'> = {
  mode: 'auto',
  readFile: (path) => readFileSync(path, 'utf8'),
  processGroups: () => ({ gid: process.getegid?.() ?? -1, groups: process.getgroups?.() ?? [] }),
  logger: undefined,
};

/** What /health and /metrics say about the ICMP socket of one family. */
export interface IcmpSocketInfo {
  /** Address family. */
  family: IcmpFamily;
  /** Kind in use. */
  mode: IcmpSocketMode;
  /** True when the kernel stamps receive and transmit times on it. */
  kernelStamps: boolean;
}

/** One socket kind the kernel refused, with the errno it gave. */
export interface RefusedMode {
  /** Socket kind. */
  mode: IcmpSocketMode;
  /** errno name (`EPERM`, `EACCES`), or `EUNKNOWN`. */
  errno: string;
}

/**
 * Opens ICMP sockets of the kind `icmp_mode` asks for. With `auto` it tries a raw socket (root
 * or CAP_NET_RAW), then a datagram one (the process's group inside net.ipv4.ping_group_range),
 * and remembers per family the kind that worked: reopens after a failure and identifier rotations
 * get the same kind, so one engine never mixes them. When no kind is allowed, `open` throws
 * NetscanError ERR_ICMP_PERMISSION whose message is the operator advice (both fixes, the
 * process's gid and the current range).
 */
export class IcmpSocketOpener {
  readonly #opts: IcmpSocketOpenerOptions;
  readonly #chosen = new Map<IcmpFamily, IcmpSocketMode>();
  readonly #opened = new Map<IcmpFamily, IcmpSocketInfo>();

  constructor(opts: Partial<IcmpSocketOpenerOptions> & Pick<IcmpSocketOpenerOptions, 'open'>) {
    this.#opts = { ...defaultIcmpSocketOpenerOptions, ...opts };
  }

  /** The configured setting. */
  get setting(): IcmpModeSetting {
    return this.#opts.mode;
  }

  /** The kind in use for `family`, once a socket of that family has opened. */
  modeOf(family: IcmpFamily): IcmpSocketMode | undefined {
    return this.#chosen.get(family);
  }

  /** The last socket opened per family: its kind and whether the kernel stamps it, IPv4 first. */
  sockets(): IcmpSocketInfo[] {
    return (['ipv4', 'ipv6'] as const).flatMap((family) => {
      const info = this.#opened.get(family);
      return info === undefined ? [] : [info];
    });
  }

  /** The factory engines take: opens a socket of the chosen (or configured) kind, whatever `mode` the caller passed. */
  readonly open: IcmpSocketFactory = (opts: OpenIcmpSocketOptions): IcmpSocket => {
    const fixed = this.#chosen.get(opts.family) ?? (this.#opts.mode === 'auto' ? undefined : this.#opts.mode);
    const candidates: readonly IcmpSocketMode[] = fixed === undefined ? ['raw', 'dgram'] : [fixed];
    const refused: RefusedMode[] = [];
    let lastRefusal: unknown;
    for (const mode of candidates) {
      let socket: IcmpSocket;
      try {
        socket = this.#opts.open({ ...opts, mode });
      } catch (err) {
        if (!hasCode(err, 'ERR_ICMP_PERMISSION')) throw err;
        refused.push({ mode, errno: errnoOf(err) });
        // Like the addon's own refusal: the cause is the socket error carrying the errno.
        lastRefusal = err.cause ?? err;
        continue;
      }
      if (!this.#chosen.has(opts.family)) {
        this.#chosen.set(opts.family, mode);
        this.#opts.logger?.info(
          {
            stage: 'icmp',
            family: opts.family,
            mode,
            setting: this.#opts.mode,
            refused: refused.map((r) => `${r.mode}: ${r.errno}`),
          },
          'ICMP socket mode chosen',
        );
      }
      this.#opened.set(opts.family, { family: opts.family, mode, kernelStamps: socket.kernelStamps === true });
      return socket;
    }
    const advice = icmpPermissionAdvice({ setting: this.#opts.mode, refused, ...this.#kernelFacts() });
    throw new NetscanError('ERR_ICMP_PERMISSION', advice, { stage: 'icmp', cause: lastRefusal });
  };

  #kernelFacts(): { groups: ProcessGroups; pingGroupRange: string | undefined } {
    let range: string | undefined;
    try {
      range = this.#opts.readFile(PING_GROUP_RANGE_PATH).trim().split(/\s+/).join(' ');
    } catch {
      range = undefined; // not Linux, or /proc hidden: the advice says so
    }
    return { groups: this.#opts.processGroups(), pingGroupRange: range };
  }
}

function errnoOf(err: NetscanError): string {
  const code = (err.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/** What {@link icmpPermissionAdvice} needs to know. */
export interface PermissionFacts {
  /** The configured `icmp_mode`. */
  setting: IcmpModeSetting;
  /** The kinds tried and refused, in order. */
  refused: readonly RefusedMode[];
  /** The process's groups. */
  groups: ProcessGroups;
  /** net.ipv4.ping_group_range as "low high", or undefined when it could not be read. */
  pingGroupRange: string | undefined;
}

/** True when the kernel would let a process with `groups` open a datagram ICMP socket under `range` ("low high", inclusive). */
export function groupInPingRange(groups: ProcessGroups, range: string | undefined): boolean {
  const [low, high] = (range ?? '').split(' ').map(Number);
  if (low === undefined || high === undefined || !Number.isFinite(low) || !Number.isFinite(high)) return false;
  return [groups.gid, ...groups.groups].some((g) => g >= low && g <= high);
}

/**
 * The operator advice when the kernel refuses every ICMP socket kind `icmp_mode` allows. Stable
 * text: the CLI prints it as the error message and MANUAL.md ("Permissions") repeats it.
 */
export function icmpPermissionAdvice(f: PermissionFacts): string {
  const gid = f.groups.gid;
  const refusedText = f.refused.map((r) => `${r.mode}: ${r.errno}`).join(', ');
  const head = {
    auto: `netscan needs CAP_NET_RAW to send ICMP echo requests (raw socket), or its group in net.ipv4.ping_group_range (datagram socket); icmp_mode auto tried both and the kernel refused both (${refusedText}).`,
    raw: `netscan needs CAP_NET_RAW to send ICMP echo requests with icmp_mode raw; the kernel refused the raw socket (${refusedText}).`,
    dgram: `netscan needs its group in net.ipv4.ping_group_range to send ICMP echo requests with icmp_mode dgram; the kernel refused the datagram socket (${refusedText}).`,
  }[f.setting];
  const others = f.groups.groups.filter((g) => g !== gid);
  const rangeText =
    f.pingGroupRange === undefined
      ? `net.ipv4.ping_group_range could not be read (${PING_GROUP_RANGE_PATH})`
      : `net.ipv4.ping_group_range is "${f.pingGroupRange}"${groupInPingRange(f.groups, f.pingGroupRange) ? '' : others.length > 0 ? ', which includes none of them' : ', which does not include it'}`;
  const facts = `This process runs with gid ${gid}${others.length > 0 ? ` (supplementary groups ${others.join(' ')})` : ''}; ${rangeText}.`;
  const sysctl = [
    `      sudo sysctl -w net.ipv4.ping_group_range="0 2147483647" (or any range holding gid ${gid}), and persist it in /etc/sysctl.d/;`,
    '      Docker >= 20.10 sets this range in every container;',
    '      Kubernetes: pod securityContext.sysctls: [{name: net.ipv4.ping_group_range, value: "0 2147483647"}] (a safe sysctl).',
  ];
  const capability = [
    '      run as root;',
    '      grant the capability to node: sudo setcap cap_net_raw+ep "$(readlink -f "$(which node)")";',
    '      systemd: AmbientCapabilities=CAP_NET_RAW and CapabilityBoundingSet=CAP_NET_RAW in the [Service] section;',
    '      Kubernetes: securityContext.capabilities.add: ["NET_RAW"] on the container;',
    '      Docker: docker run --cap-add=NET_RAW.',
  ];
  const dgramFix =
    f.setting === 'raw'
      ? [
          "  - or set icmp_mode: auto (or dgram) and allow datagram ICMP sockets for the agent's group (no capability needed):",
          ...sysctl,
        ]
      : [
          "  - allow datagram ICMP sockets for the agent's group (no capability needed; icmp_mode auto or dgram):",
          ...sysctl,
        ];
  const rawFix =
    f.setting === 'dgram'
      ? ['  - or set icmp_mode: auto (or raw) and grant CAP_NET_RAW:', ...capability]
      : [`  - ${f.setting === 'raw' ? '' : 'or '}grant CAP_NET_RAW (icmp_mode auto or raw):`, ...capability];
  return [
    head,
    facts,
    'Fix one of:',
    ...(f.setting === 'raw' ? [...rawFix, ...dgramFix] : [...dgramFix, ...rawFix]),
  ].join('\n');
}
