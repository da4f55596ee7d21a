/**
 * `--kernel-floor` of the whole-agent bench: after each agent case, the C floor (bench/icmp/floor.c:
 * the same ICMP work, paced, with sendmmsg/recvmmsg and kernel TX and RX stamps, nothing else) at the
 * same pings/s over as many loopback targets, in the same namespace and minutes. The machine's own
 * speed moves CPU figures by half between hours; the agent's ratio to this row does not move with it.
 */
import { runFloor, type FloorBinary } from '../icmp/floor.js';

/** What the agent case measured, as its row carries it. */
export interface AgentCaseFigures {
  readonly name: string;
  readonly devices: number;
  readonly intervalMs: number;
  /** The agent's CPU per ping sent, µs (NaN when it sent none). */
  readonly agentUsPerPing: number;
}

/** The floor's row (same fields as the agent's sizing needs) and its report lines. */
export interface KernelFloorRow {
  readonly row: Record<string, unknown> & { case: string };
  readonly lines: string[];
}

const r2 = (x: number, d = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/** First address of the floor's targets: inside the agent bench's fleet (127.0.128.0/17), loopback only. */
const FIRST_TARGET = '127.0.128.1';

/** Runs the floor at the agent case's rate for `seconds` and compares the two per ping. */
export async function kernelFloorRow(bin: FloorBinary, c: AgentCaseFigures, seconds: number): Promise<KernelFloorRow> {
  const pps = (c.devices * 1000) / c.intervalMs;
  const f = await runFloor(bin, { pps, seconds, txStamps: true, targets: c.devices, firstIpv4: FIRST_TARGET });
  const cores = f.cpuUs / 1e6 / f.wallS;
  const ratio = c.agentUsPerPing / f.cpuUsPerPing;
  const row = {
    case: `cfloor_${c.name.replace(/^monitor_/, '')}`,
    reference: true,
    devices: c.devices,
    interval_ms: c.intervalMs,
    cpu_cores: r2(cores, 3),
    cpu_us_per_ping: r2(f.cpuUsPerPing, 2),
    agent_us_per_ping: r2(c.agentUsPerPing, 2),
    agent_x_floor: r2(ratio, 2),
    cpu_millicores_per_1k_devices: r2((1e6 * cores) / c.devices, 1),
    cpu_millicores_per_1k_pps: r2((1e6 * cores) / pps, 1),
    rss_avg_mb: r2(f.maxRssMb, 1),
    rss_peak_mb: r2(f.maxRssMb, 1),
    rss_mb_per_1k_devices: r2((1000 * f.maxRssMb) / c.devices, 2),
    sent: f.sent,
    received: f.received,
    tx_stamps_read: f.txStampsRead,
  };
  const lines = [
    `C floor (bench/icmp/floor.c, gcc -O2, kernel TX+RX stamps) at ${pps} pings/s over ${c.devices} loopback targets for ${seconds} s: ${r2(cores, 3)} cores, ${r2(f.cpuUsPerPing, 2)} µs per ping; sent ${f.sent}, received ${f.received}`,
    `${c.name}: ${r2(c.agentUsPerPing, 1)} µs per ping = ${r2(ratio, 2)} x the floor (${r2(c.agentUsPerPing - f.cpuUsPerPing, 1)} µs above it)`,
    'reference run (the kernel floor): not judged against the targets',
  ];
  return { row, lines };
}
