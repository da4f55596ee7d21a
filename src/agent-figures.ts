import type { Clock } from '../internal/clock/clock.js';
import type { Readiness } from '../internal/health/health-server.js';
import type { Point } from '../internal/model/point.js';
import { healthPoint } from '../internal/model/points.js';
import type { AgentStages } from './agent-stages.js';
import type { Config } from './config/schema.js';
import type { HealthInterval } from './health-intervals.js';
import type { StatusSample } from './status-log.js';
import { icmpTotals, type AgentFigures } from './telemetry.js';

/** What {@link agentFigures} reads besides the stages. */
export interface FigureSources {
  /** The running stages. */
  stages: AgentStages;
  /** Time source. */
  clock: Clock;
  /** Package version. */
  version: string;
  /** When the agent started, ms on the clock. */
  startedMs: number;
  /** The agent's readiness now. */
  ready: Readiness;
  /** The running shard setting. */
  shard: Config['shard'];
  /** Configuration reloads applied and rejected so far, and whether the last one applied. */
  reloads: AgentFigures['reloads'];
}

/** Every figure /health, /metrics and health_metrics report, from memory (no I/O). */
export function agentFigures(src: FigureSources): AgentFigures {
  const s = src.stages;
  const mem = process.memoryUsage();
  const polled = s.scheduler.stats();
  const scheduler = {
    ...polled,
    failuresByReason: { ...polled.failuresByReason, dns: s.targets.figures().dnsFailures },
  };
  const writer = s.outputs.stats();
  return {
    version: src.version,
    nowMs: src.clock.now(),
    uptimeMs: src.clock.now() - src.startedMs,
    ready: src.ready,
    deviceCount: s.store.size,
    maxDevices: s.store.maxDevices,
    pingSuspended: s.store.pingSuspendedCount(),
    snmpSuspended: s.store.snmpSuspendedCount(),
    removals: s.store.removalStats(),
    scheduler,
    reconciler: s.reconciler.stats(),
    writer,
    outputOk: writer.state === 'writing',
    outputHealthy: s.outputs.isHealthy(),
    // A probe thread has its own engine: its counters join the main engine's.
    icmp: icmpTotals(s.engine.stats(), 'engineFigures' in s.scheduler ? s.scheduler.engineFigures().stats : undefined),
    icmpModeSetting: s.icmpSockets.setting,
    icmpSockets: s.icmpSockets.sockets(),
    snmp: s.enricher?.stats(),
    persistence: s.store.persistenceStats(),
    targets: s.targets.figures(),
    eventLoopDelayP99Ms: scheduler.stalls.loopDelayP99Ms,
    tasks: process.getActiveResourcesInfo().length,
    memoryMb: Math.floor(mem.heapUsed / 1048576),
    rssMb: Math.floor(mem.rss / 1048576),
    sweep: s.discovery.figures(),
    shard: src.shard,
    reloads: src.reloads,
  };
}

/** The health_metrics point of one health report, from the figures and the interval it closes. */
export function healthReportPoint(f: AgentFigures, interval: HealthInterval | undefined, timeMs: number): Point {
  return healthPoint(
    {
      deviceCount: f.deviceCount,
      activePingers: f.scheduler.inFlight,
      suspendedDevices: f.pingSuspended,
      goroutines: f.tasks,
      memoryMb: f.memoryMb,
      rssMb: f.rssMb,
      influxdbOk: f.outputOk,
      pingsSentTotal: f.scheduler.pingsSentTotal,
      writer: f.writer,
      extra: {
        agent_overloaded: f.scheduler.overloadedTotal,
        agent_errors: f.scheduler.failuresByReason.agent_error,
        event_loop_delay_p99_ms: f.eventLoopDelayP99Ms,
        unmonitored_devices: f.reconciler.unmonitored,
        devices_evicted: f.removals.evicted,
        devices_not_added: f.removals.notAdded,
        snmp_suspended_devices: f.snmpSuspended,
        effective_ping_interval_ms: f.scheduler.effectiveIntervalMs,
        skipped_ticks: f.scheduler.skippedTicksTotal,
        snmp_enriched_devices: f.snmp?.devicesEnriched ?? 0,
        missed_slots: f.scheduler.missedSlotsTotal,
        late_sends: f.scheduler.lateSendsTotal,
        send_lag_p99_ms: interval?.sendLagP99Ms ?? Number.NaN,
        send_lag_max_ms: interval?.sendLagMaxMs ?? Number.NaN,
      },
    },
    timeMs,
  );
}

/** The figures the one-line status log compares between two samples. */
export function statusSample(f: AgentFigures): StatusSample {
  return {
    nowMs: f.nowMs,
    devices: f.deviceCount,
    pingsSent: f.scheduler.pingsSentTotal,
    replies: f.scheduler.repliesTotal,
    failures: judgedFailures(f.scheduler.failuresByReason),
    output: f.writer.state,
    spoolPoints: f.writer.spoolPoints,
    pointsDropped: f.writer.pointsDropped,
  };
}

/** Failed probes that judge the host: not those the agent spoiled, nor `dns` (a name with no address, no probe). */
function judgedFailures(byReason: Readonly<Record<string, number>>): number {
  let n = 0;
  for (const [reason, count] of Object.entries(byReason))
    if (reason !== 'agent_overloaded' && reason !== 'agent_error' && reason !== 'dns') n += count;
  return n;
}
