import type { Histogram, Registry } from 'prom-client';
import type { DeviceSeries } from '../internal/health/device-series.js';
import type { HealthServer } from '../internal/health/health-server.js';
import type { IcmpSocketOpener } from '../internal/icmp/open.js';
import type { IcmpPinger } from '../internal/icmp/pinger.js';
import type { PingOutcome } from '../internal/model/ping.js';
import type { Reconciler } from '../internal/reconcile/reconciler.js';
import type { PingScheduler, ProbeObserver } from '../internal/schedule/ping-scheduler.js';
import type { ProbeThread } from '../internal/schedule/probe-thread.js';
import type { SnmpDeviceState, SnmpEnricher } from '../internal/snmp/enricher.js';
import type { DeviceStore } from '../internal/state/device-store.js';
import type { DeviceTags } from './device-tags.js';
import type { DiscoveryLoop } from './discovery-loop.js';
import type { OutputSlot } from './output-slot.js';
import type { TargetLoop, TargetLoopDeps } from './target-loop.js';

/** The stages of one running agent. */
export interface AgentStages {
  /** The configured outputs, replaceable on reload. */
  outputs: OutputSlot;
  /** Every known device and its state. */
  store: DeviceStore;
  /** The ICMP engine of sweeps, and of monitoring unless it runs in its own thread. */
  engine: IcmpPinger;
  /** Opens the engine's sockets of the kind icmp_mode picks, and reports it. */
  icmpSockets: IcmpSocketOpener;
  /** Pings every monitored device on its schedule: on the main thread, or in a thread of its own (`probe_thread`). */
  scheduler: PingScheduler | ProbeThread;
  /** Keeps the scheduler's devices in step with the store. */
  reconciler: Reconciler;
  /** Sweeps the configured networks. */
  discovery: DiscoveryLoop;
  /** Puts agent, labels and name on every point before the outputs. */
  tags: DeviceTags;
  /** Resolves and monitors the configured targets. */
  targets: TargetLoop;
  /** SNMP enrichment, when configured. */
  enricher: SnmpEnricher | undefined;
  /** The /health and /metrics listener, when configured. */
  health: HealthServer | undefined;
  /** The Prometheus registry /metrics renders. */
  registry: Registry;
  /** Fleet-wide histogram of monitoring RTTs, seconds. */
  rtt: Histogram;
}

/**
 * The scheduler's observer that puts every successful monitoring RTT in the fleet-wide histogram
 * (seconds), then tells `inner` (the per-device series, when configured). Recording here rather
 * than around the engine's promise costs no extra promise per probe.
 */
export function rttObserver(rtt: Histogram, inner: ProbeObserver | undefined): ProbeObserver {
  return {
    probed(o: PingOutcome): void {
      if (o.ok) rtt.observe(o.rttMs / 1000);
      inner?.probed(o);
    },
    suspended(ip: string): void {
      inner?.suspended(ip);
    },
    removed(ip: string): void {
      inner?.removed(ip);
    },
  };
}

/** The store as the SNMP enricher sees it, with every answer also naming the device's series. */
export function namingSnmpState(store: DeviceStore, series: DeviceSeries): SnmpDeviceState {
  return {
    recordSnmpSuccess: (ip, info) => {
      store.recordSnmpSuccess(ip, info);
      series.snmpAnswered(ip, info);
    },
    recordSnmpFailure: (ip, maxFails, backoffMs) => store.recordSnmpFailure(ip, maxFails, backoffMs),
    isSnmpSuspended: (ip) => store.isSnmpSuspended(ip),
    get: (ip) => store.get(ip),
    has: (ip) => store.has(ip),
  };
}

/** Where the target loop sets a target's name and labels: the device tags, and its per-device series too. */
export function targetTags(tags: DeviceTags, series: DeviceSeries | undefined): TargetLoopDeps['tags'] {
  return {
    setTarget: (ip, t) => {
      tags.setTarget(ip, t);
      series?.relabel(ip);
    },
    clearTarget: (ip) => {
      tags.clearTarget(ip);
      series?.relabel(ip);
    },
  };
}

/** `tags` without the `agent` key (per-device Prometheus series leave the agent to the scrape's job). */
export function withoutAgent(tags: Readonly<Record<string, string>>): Record<string, string> {
  const { agent: _agent, ...rest } = tags;
  return rest;
}
