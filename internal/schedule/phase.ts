/**
 * Fixed per-device phases. Each device pings at `phase + k * interval` (ms since the Unix epoch),
 * where the phase is a hash of its IP: load is flat across the interval (smokeping_prober's splay,
 * SmokePing's `offset`; docs/design.md, "Fixed phases") and the same device pings at the same offset after a
 * restart, so graphs keep their cadence.
 */

import { fmix32, fnv1a32 } from '../hash/hash.js';

/** 32-bit FNV-1a of the IP string, finished with murmur3's fmix32 (FNV-1a's low bits barely move between neighbouring addresses; fmix32 spreads them before `mod`). */
export function ipHash32(ip: string): number {
  return fmix32(fnv1a32(ip));
}

/** The device's phase within the interval: an integer in [0, intervalMs). Stable across restarts. */
export function phaseMs(ip: string, intervalMs: number): number {
  return ipHash32(ip) % Math.max(1, Math.round(intervalMs));
}

/**
 * Where the device's `ping_summary` windows start within `summaryIntervalMs`: windows run from
 * `offset + k * summaryIntervalMs`, so closing them (and writing 100k summary points) is spread
 * over the whole interval instead of bursting at every minute boundary. Independent of the phase.
 */
export function summaryOffsetMs(ip: string, summaryIntervalMs: number): number {
  return fmix32(ipHash32(ip) ^ 0x27d4eb2f) % Math.max(1, Math.round(summaryIntervalMs));
}

/** The first slot `phase + k * interval` strictly after `afterMs`. */
export function slotAfter(phase: number, intervalMs: number, afterMs: number): number {
  const k = Math.floor((afterMs - phase) / intervalMs) + 1;
  return phase + k * intervalMs;
}

/** How many slots `phase + k * interval` fall in the half-open range (fromMs, toMs]. */
export function slotsBetween(phase: number, intervalMs: number, fromMs: number, toMs: number): number {
  if (toMs <= fromMs) return 0;
  return Math.floor((toMs - phase) / intervalMs) - Math.floor((fromMs - phase) / intervalMs);
}
