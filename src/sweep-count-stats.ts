/** Count mode of `netscan sweep` (fping -c): per-address statistics and how fping prints them. */
import type { PingOutcome } from '../internal/model/ping.js';
import { addressKey } from './sweep-output.js';

/** What one count-mode address sent and received. */
export interface ProbeStats {
  /** Echo requests sent. */
  sent: number;
  /** Echo replies received. */
  received: number;
  /** Lowest round-trip time, in milliseconds (Infinity before the first reply). */
  minMs: number;
  /** Highest round-trip time, in milliseconds. */
  maxMs: number;
  /** Sum of the round-trip times, in milliseconds (for the average). */
  sumMs: number;
}

/** Counts one probe of count mode into its address's statistics. */
export function recordProbe(stats: Map<string, ProbeStats>, o: PingOutcome): void {
  let s = stats.get(o.ip);
  if (!s) stats.set(o.ip, (s = { sent: 0, received: 0, minMs: Infinity, maxMs: 0, sumMs: 0 }));
  s.sent++;
  if (o.ok) {
    s.received++;
    s.sumMs += o.rttMs;
    if (o.rttMs < s.minMs) s.minMs = o.rttMs;
    if (o.rttMs > s.maxMs) s.maxMs = o.rttMs;
  }
}

/**
 * fping -c's per-target lines, in address order, names padded to one width:
 * `127.0.0.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.053/0.059/0.067`.
 */
export function formatCountStats(
  stats: ReadonlyMap<string, { sent: number; received: number; minMs: number; maxMs: number; sumMs: number }>,
): string {
  const ips = [...stats.keys()]
    .map((ip) => ({ ip, key: addressKey(ip) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((x) => x.ip);
  const width = Math.max(0, ...ips.map((ip) => ip.length));
  let out = '';
  for (const ip of ips) {
    const s = stats.get(ip)!;
    // fping rounds the loss down (integer division).
    const lossPct = s.sent > 0 ? Math.floor(((s.sent - s.received) * 100) / s.sent) : 0;
    out += `${ip.padEnd(width)} : xmt/rcv/%loss = ${s.sent}/${s.received}/${lossPct}%`;
    if (s.received > 0)
      out += `, min/avg/max = ${fpingMs(s.minMs)}/${fpingMs(s.sumMs / s.received)}/${fpingMs(s.maxMs)}`;
    out += '\n';
  }
  return out;
}

/** Milliseconds with three significant digits, as fping prints them (0.053, 1.23, 12.3, 123). */
export function fpingMs(ms: number): string {
  if (ms < 0) return ms.toPrecision(2);
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  if (ms < 1_000_000) return ms.toFixed(0);
  return ms.toExponential(3);
}
