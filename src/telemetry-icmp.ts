import { Gauge, type Registry } from 'prom-client';
import { zeroIcmpEngineStats, type IcmpEngineStats } from '../internal/icmp/engine-options.js';
import type { IcmpPingerStats } from '../internal/icmp/pinger.js';
import type { IcmpSocketInfo } from '../internal/icmp/open.js';
import type { AgentFigures } from './telemetry.js';

// The ICMP figures of /health and /metrics: engine counters of every pinger added up, and the sockets in use.

/**
 * The counters of both families' engines of every pinger given (the main one, a probe thread's) added up (IPv4's alone until an IPv6 target started the
 * other); family, mode and stamping come from the sockets, see {@link icmpHealth}.
 */
export function icmpTotals(...pingers: Array<IcmpPingerStats | undefined>): IcmpEngineStats {
  const out = zeroIcmpEngineStats('ipv4');
  const counters = out as unknown as Record<string, number>;
  for (const e of pingers.flatMap((s) => (s ? [s.ipv4, s.ipv6] : []))) {
    if (!e) continue;
    for (const [k, v] of Object.entries(e))
      if (typeof v === 'number' && typeof counters[k] === 'number') counters[k] += v;
  }
  return out;
}

/**
 * The `icmp` object of `/health`: which socket kind and families run (`mode` is null until a
 * socket opened; `kernel_timestamps` is true when every open socket is stamped by the kernel),
 * then the engine counters.
 */
export function icmpHealth(f: Pick<AgentFigures, 'icmp' | 'icmpModeSetting' | 'icmpSockets'>): Record<string, unknown> {
  const modes = [...new Set(f.icmpSockets.map((s) => s.mode))];
  return {
    mode: modes.length === 0 ? null : modes.join('+'),
    mode_setting: f.icmpModeSetting,
    families: f.icmpSockets.map((s) => s.family),
    kernel_timestamps: f.icmpSockets.length > 0 && f.icmpSockets.every((s) => s.kernelStamps),
    sent: f.icmp.sent,
    replies: f.icmp.replies,
    timeouts: f.icmp.timeouts,
    unreachable: f.icmp.unreachable,
    send_errors: f.icmp.sendErrors,
    late: f.icmp.late,
    duplicates: f.icmp.duplicates,
    foreign: f.icmp.foreign,
    invalid: f.icmp.invalid,
    in_flight: f.icmp.inFlight,
    rcvbuf_bytes: f.icmp.rcvbufBytes,
    socket_failures: f.icmp.socketFailures,
    rtt_kernel: f.icmp.rttKernel,
    rtt_userspace: f.icmp.rttUserspace,
    tx_stamps_unpaired: f.icmp.txStampsUnpaired,
  };
}

/**
 * Registers `netscan_icmp_info{mode,family,kernel_timestamps}` (1 per open socket) on `registry`;
 * `sockets` is read at scrape time.
 */
export function registerIcmpInfo(registry: Registry, sockets: () => readonly IcmpSocketInfo[]): void {
  new Gauge({
    name: 'netscan_icmp_info',
    help: 'ICMP socket in use per address family: kind (raw or dgram) and kernel timestamping; always 1.',
    labelNames: ['mode', 'family', 'kernel_timestamps'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of sockets()) this.labels(s.mode, s.family, String(s.kernelStamps)).set(1);
    },
  });
}
