import type { TargetFigures } from './target-loop.js';
import { Counter, Gauge, collectDefaultMetrics, type Registry } from 'prom-client';
import type { HealthDocument, Readiness } from '../internal/health/health-server.js';
import type { IcmpEngineStats } from '../internal/icmp/engine-options.js';
import type { IcmpModeSetting, IcmpSocketInfo } from '../internal/icmp/open.js';
import type { ReconcilerStats } from '../internal/reconcile/reconciler.js';
import type { PingSchedulerStats } from '../internal/schedule/ping-scheduler.js';
import type { SnmpEnricherStats } from '../internal/snmp/enricher.js';
import type { PersistenceStats, RemovalStats } from '../internal/state/device-store.js';
import type { SweepProgress, SweepSummary } from '../internal/sweep/sweeper.js';
import type { WriterStats } from '../internal/writer/influx-writer.js';
import { formatDuration } from './config/duration.js';
import { icmpHealth, registerIcmpInfo } from './telemetry-icmp.js';

export { icmpHealth, icmpTotals, registerIcmpInfo } from './telemetry-icmp.js';

/** Every figure the agent reports, gathered from the stages' in-memory counters. */
export interface AgentFigures {
  version: string;
  nowMs: number;
  uptimeMs: number;
  ready: Readiness;
  deviceCount: number;
  maxDevices: number;
  pingSuspended: number;
  snmpSuspended: number;
  /** Devices the state let go on its own since start: evicted, pruned, discovered hosts turned away. */
  removals: RemovalStats;
  scheduler: PingSchedulerStats;
  reconciler: ReconcilerStats;
  writer: WriterStats;
  /** Go `influxdb_ok`: the last write attempt succeeded (no live probe). */
  outputOk: boolean;
  /** Writing, or failing but safely spooling. */
  outputHealthy: boolean;
  icmp: IcmpEngineStats;
  /** The configured `icmp_mode`. */
  icmpModeSetting: IcmpModeSetting;
  /** The ICMP socket of each family in use: kind and kernel stamping. */
  icmpSockets: readonly IcmpSocketInfo[];
  snmp: SnmpEnricherStats | undefined;
  persistence: PersistenceStats;
  /** The configured targets: resolved, unresolved, dns failures; absent before start. */
  targets?: TargetFigures | undefined;
  eventLoopDelayP99Ms: number;
  /** Node substitute for Go's goroutine count: active handles and requests. */
  tasks: number;
  memoryMb: number;
  rssMb: number;
  sweep: {
    running: boolean;
    progress: SweepProgress | undefined;
    total: number;
    errors: number;
    skipped: number;
    nextMs: number;
    last: (SweepSummary & { startedMs: number }) | undefined;
  };
  shard: { index: number; count: number };
  /** Configuration reloads applied, reloads rejected (the running config stayed), and whether the last one applied. */
  reloads: { applied: number; failed: number; lastOk: boolean };
}

const round = (n: number, digits = 3): number => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : 0);

/**
 * The `/health` document: the Go netscan's 14 keys in its order and meaning (uptime without the
 * nanosecond noise; `goroutines` is the Node substitute, active handles and requests), then ours.
 * Never contains a secret.
 */
export function buildHealthDocument(f: AgentFigures, pressure: readonly string[] = []): HealthDocument {
  const reasons = degradedReasons(f, pressure);
  const last = f.sweep.last;
  return {
    status: !f.ready.ready ? 'unhealthy' : reasons.length > 0 ? 'degraded' : 'healthy',
    version: f.version,
    uptime: formatDuration(Math.floor(f.uptimeMs / 1000) * 1000),
    device_count: f.deviceCount,
    suspended_devices: f.pingSuspended,
    active_pingers: f.scheduler.inFlight,
    influxdb_ok: f.outputOk,
    influxdb_successful: f.writer.batchesOk,
    influxdb_failed: f.writer.batchesFailed,
    pings_sent_total: f.scheduler.pingsSentTotal,
    goroutines: f.tasks,
    memory_mb: f.memoryMb,
    rss_mb: f.rssMb,
    timestamp: new Date(f.nowMs).toISOString(),
    reasons,
    ready: f.ready.ready,
    not_ready_reason: f.ready.reason ?? null,
    max_devices: f.maxDevices,
    monitored_devices: f.reconciler.monitored,
    unmonitored_devices: f.reconciler.unmonitored,
    snmp_suspended_devices: f.snmpSuspended,
    devices_evicted: f.removals.evicted,
    devices_pruned: f.removals.pruned,
    devices_not_added: f.removals.notAdded,
    ping_interval_ms: f.scheduler.intervalMs,
    own_interval_devices: f.scheduler.ownIntervalDevices,
    expected_pings_per_sec: round(f.scheduler.expectedPingsPerSec),
    effective_ping_interval_ms: f.scheduler.effectiveIntervalMs,
    ping_rate_limited: f.scheduler.rateLimited,
    ping_replies_total: f.scheduler.repliesTotal,
    ping_failures: f.scheduler.failuresByReason,
    agent_overloaded: f.scheduler.overloadedTotal,
    skipped_ticks: f.scheduler.skippedTicksTotal,
    late_sends: f.scheduler.lateSendsTotal,
    missed_slots: f.scheduler.missedSlotsTotal,
    hung_probes: f.scheduler.hungProbesTotal,
    send_lag_p99_ms: round(f.scheduler.sendLagP99Ms),
    send_lag_max_ms: round(f.scheduler.sendLagMaxMs),
    event_loop_delay_p99_ms: round(f.eventLoopDelayP99Ms),
    output_state: f.writer.state,
    queue_depth: f.writer.queueDepth,
    spool_bytes: f.writer.spoolBytes,
    spool_points: f.writer.spoolPoints,
    points_written: f.writer.pointsWritten,
    points_spooled: f.writer.pointsSpooled,
    points_dropped: f.writer.pointsDropped,
    points_dropped_by_reason: f.writer.droppedByReason,
    write_errors: f.writer.writeErrors,
    last_write_error: f.writer.lastError ?? null,
    icmp: icmpHealth(f),
    snmp: f.snmp
      ? {
          devices_enriched: f.snmp.devicesEnriched,
          devices_tracked: f.snmp.devicesTracked,
          queries_total: f.snmp.queriesTotal,
          successes_total: f.snmp.successesTotal,
          failures: f.snmp.failuresByClass,
          in_flight: f.snmp.inFlight,
          queued: f.snmp.queued,
        }
      : null,
    sweep: {
      running: f.sweep.running,
      sweeps_total: f.sweep.total,
      errors_total: f.sweep.errors,
      next_at: f.sweep.nextMs > 0 ? new Date(f.sweep.nextMs).toISOString() : null,
      progress: f.sweep.progress
        ? { total: f.sweep.progress.total, scanned: f.sweep.progress.scanned, alive: f.sweep.progress.alive }
        : null,
      last: last
        ? {
            started_at: new Date(last.startedMs).toISOString(),
            total: last.total,
            scanned: last.scanned,
            alive: last.alive,
            probes_sent: last.probesSent,
            elapsed_ms: last.elapsedMs,
            rate_pps: round(last.ratePps, 1),
            aborted: last.aborted,
          }
        : null,
    },
    state: f.persistence,
    targets: f.targets
      ? {
          configured: f.targets.configured,
          resolved: f.targets.resolved,
          unresolved: f.targets.unresolved,
          excluded: f.targets.excluded,
          dns_failures: f.targets.dnsFailures,
          resolve_cycles: f.targets.cycles,
          last_cycle_ms: f.targets.lastCycleMs,
        }
      : null,
    shard: f.shard,
    config_reloads: f.reloads.applied,
    config_reload_failures: f.reloads.failed,
    config_last_reload_ok: f.reloads.lastOk,
  };
}

/**
 * Why the agent is `degraded`: the output not writing, a rate limit too low for the fleet, then
 * `pressure`, what went wrong in the last health interval (see HealthIntervals.reasons).
 */
export function degradedReasons(f: AgentFigures, pressure: readonly string[] = []): string[] {
  const out: string[] = [];
  if (!f.outputOk) out.push(`output is not writing (${f.writer.state})`);
  const s = f.scheduler;
  if (s.rateLimited)
    out.push(
      s.ownIntervalDevices > 0
        ? `ping_rate_limit cannot ping ${s.devicesScheduled} devices at their intervals (${Math.ceil(s.expectedPingsPerSec)}/s needed)`
        : `ping_rate_limit cannot ping ${s.devicesScheduled} devices every ping_interval`,
    );
  return [...out, ...pressure];
}

/**
 * Registers the /metrics figures (`netscan_` prefix, units in names, no per-device labels) on
 * `registry`. Values are read from `figures()` at scrape time; one scrape gathers them once.
 */
export function registerAgentMetrics(registry: Registry, figures: () => AgentFigures): void {
  let cached: { at: number; f: AgentFigures } | undefined;
  let scrape = 0;
  const get = (): AgentFigures => {
    // prom-client calls every collector within one metrics() call; reuse one gathering per call.
    if (!cached || cached.at !== scrape) cached = { at: scrape, f: figures() };
    return cached.f;
  };
  const origMetrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    scrape++;
    return origMetrics();
  };

  const gauge = (name: string, help: string, read: (f: AgentFigures) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(get()));
      },
    });
  };
  const counter = (name: string, help: string, read: (f: AgentFigures) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(get()));
      },
    });
  };
  const labelled = <K extends string>(
    name: string,
    help: string,
    label: string,
    read: (f: AgentFigures) => Readonly<Record<K, number>> | undefined,
  ): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(read(get()) ?? {}) as Array<[string, number]>) this.labels(k).inc(v);
      },
    });
  };

  gauge('netscan_devices', 'Devices in the state.', (f) => f.deviceCount);
  gauge('netscan_devices_monitored', 'Devices with a ping schedule.', (f) => f.reconciler.monitored);
  gauge(
    'netscan_devices_unmonitored',
    'Devices left without a schedule by max_concurrent_pingers.',
    (f) => f.reconciler.unmonitored,
  );
  gauge('netscan_devices_ping_suspended', 'Devices whose ping circuit breaker is open.', (f) => f.pingSuspended);
  gauge('netscan_devices_snmp_suspended', 'Devices whose SNMP circuit breaker is open.', (f) => f.snmpSuspended);
  counter(
    'netscan_devices_evicted_total',
    'Devices evicted from the state to make room for a newly discovered one (max_devices reached).',
    (f) => f.removals.evicted,
  );
  counter(
    'netscan_devices_pruned_total',
    'Devices removed from the state after prune_after without being seen.',
    (f) => f.removals.pruned,
  );
  counter(
    'netscan_devices_not_added_total',
    'Discovered hosts not added because the state was full of configured targets.',
    (f) => f.removals.notAdded,
  );
  counter('netscan_pings_sent_total', 'Monitoring echo requests sent.', (f) => f.scheduler.pingsSentTotal);
  counter('netscan_ping_replies_total', 'Monitoring echo replies received.', (f) => f.scheduler.repliesTotal);
  labelled(
    'netscan_ping_failures_total',
    'Failed monitoring probes by reason.',
    'reason',
    (f) => f.scheduler.failuresByReason,
  );
  counter(
    'netscan_ping_skipped_ticks_total',
    'Slots skipped because the previous probe was still in flight.',
    (f) => f.scheduler.skippedTicksTotal,
  );
  counter(
    'netscan_ping_late_sends_total',
    'Probes sent more than 50 ms after their slot.',
    (f) => f.scheduler.lateSendsTotal,
  );
  counter(
    'netscan_ping_missed_slots_total',
    'Slots that passed unserved while a device waited for the rate limiter or the agent was late.',
    (f) => f.scheduler.missedSlotsTotal,
  );
  counter(
    'netscan_ping_hung_probes_total',
    'Probes the engine never settled, given up by the watchdog (should stay 0).',
    (f) => f.scheduler.hungProbesTotal,
  );
  counter(
    'netscan_ping_breaker_trips_total',
    'Times a device ping circuit breaker opened.',
    (f) => f.scheduler.breakerTripsTotal,
  );
  gauge('netscan_pings_in_flight', 'Monitoring probes in flight (Go active_pingers).', (f) => f.scheduler.inFlight);
  gauge('netscan_ping_interval_seconds', 'Configured ping interval.', (f) => f.scheduler.intervalMs / 1000);
  gauge(
    'netscan_ping_expected_rate',
    'Probes per second the monitored devices need, each at its own interval (sum of 1 / interval).',
    (f) => f.scheduler.expectedPingsPerSec,
  );
  gauge(
    'netscan_ping_effective_interval_seconds',
    'Interval a device at ping_interval actually gets given ping_rate_limit.',
    (f) => f.scheduler.effectiveIntervalMs / 1000,
  );
  gauge(
    'netscan_ping_send_lag_p99_seconds',
    'p99 of send time minus slot time over recent probes.',
    (f) => f.scheduler.sendLagP99Ms / 1000,
  );
  gauge(
    'netscan_event_loop_delay_p99_seconds',
    'p99 event-loop delay over the last completed minute (since start during the first).',
    (f) => (Number.isFinite(f.eventLoopDelayP99Ms) ? f.eventLoopDelayP99Ms / 1000 : 0),
  );
  counter('netscan_points_written_total', 'Points acknowledged by the outputs.', (f) => f.writer.pointsWritten);
  counter('netscan_points_spooled_total', 'Points written to the durable spool.', (f) => f.writer.pointsSpooled);
  labelled('netscan_points_dropped_total', 'Points dropped, by reason.', 'reason', (f) => f.writer.droppedByReason);
  labelled('netscan_write_errors_total', 'Failed write requests by class.', 'class', (f) => f.writer.writeErrors);
  gauge('netscan_output_queue_points', 'Points waiting in memory for a write request.', (f) => f.writer.queueDepth);
  gauge('netscan_spool_bytes', 'Bytes in the durable spool.', (f) => f.writer.spoolBytes);
  gauge('netscan_output_ok', '1 when the last write succeeded (Go influxdb_ok).', (f) => (f.outputOk ? 1 : 0));
  counter('netscan_sweeps_total', 'Discovery sweeps completed.', (f) => f.sweep.total);
  counter('netscan_sweep_errors_total', 'Discovery sweeps that failed.', (f) => f.sweep.errors);
  new Gauge({
    name: 'netscan_targets',
    help: "This agent's configured targets (configured), and how many are pinged now (resolved), do not resolve (unresolved) or resolve into an exclude entry (excluded).",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const t = get().targets;
      if (!t) return;
      this.labels('configured').set(t.configured);
      this.labels('resolved').set(t.resolved);
      this.labels('unresolved').set(t.unresolved);
      this.labels('excluded').set(t.excluded);
    },
  });
  gauge('netscan_last_sweep_alive', 'Hosts that answered the last sweep.', (f) => f.sweep.last?.alive ?? 0);
  gauge(
    'netscan_last_sweep_duration_seconds',
    'Wall time of the last sweep.',
    (f) => (f.sweep.last?.elapsedMs ?? 0) / 1000,
  );
  registerIcmpInfo(registry, () => get().icmpSockets);
  labelled(
    'netscan_icmp_rtt_total',
    'Replies timed, by stamp source: kernel (transmit to receive) or userspace (the fallback).',
    'source',
    (f) => ({ kernel: f.icmp.rttKernel, userspace: f.icmp.rttUserspace }),
  );
  counter(
    'netscan_icmp_tx_stamps_unpaired_total',
    'Kernel transmit stamps that matched no probe in flight.',
    (f) => f.icmp.txStampsUnpaired,
  );
  counter('netscan_icmp_late_replies_total', 'Genuine replies that arrived after their timeout.', (f) => f.icmp.late);
  counter(
    'netscan_icmp_socket_failures_total',
    'ICMP socket failures survived (socket reopened; probes in flight recorded as agent_error).',
    (f) => f.icmp.socketFailures,
  );
  counter('netscan_icmp_foreign_packets_total', 'ICMP packets for other processes, ignored.', (f) => f.icmp.foreign);
  counter(
    'netscan_icmp_invalid_replies_total',
    'Replies carrying our nonce that failed a check, ignored.',
    (f) => f.icmp.invalid,
  );
  gauge(
    'netscan_snmp_enriched_devices',
    'Devices whose SNMP answered at least once.',
    (f) => f.snmp?.devicesEnriched ?? 0,
  );
  counter('netscan_snmp_queries_total', 'SNMP device queries started.', (f) => f.snmp?.queriesTotal ?? 0);
  labelled('netscan_snmp_failures_total', 'Failed SNMP queries by class.', 'class', (f) => f.snmp?.failuresByClass);
  gauge('netscan_up', '1 when the agent is ready.', (f) => (f.ready.ready ? 1 : 0));
  counter('netscan_config_reloads_total', 'Configuration reloads applied.', (f) => f.reloads.applied);
  counter(
    'netscan_config_reload_failures_total',
    'Configuration reloads rejected; the running configuration stayed.',
    (f) => f.reloads.failed,
  );
  gauge(
    'netscan_config_last_reload_successful',
    '1 when the last configuration reload applied (or none was asked for), 0 when it was rejected.',
    (f) => (f.reloads.lastOk ? 1 : 0),
  );
  new Gauge({
    name: 'netscan_build_info',
    help: 'Version of the agent and of Node.js it runs on; always 1.',
    labelNames: ['version', 'node_version'],
    registers: [registry],
    collect() {
      this.reset();
      this.labels(get().version, process.versions.node).set(1);
    },
  });
  // prom-client's names already start with process_ and nodejs_: the prefix makes netscan_process_*, netscan_nodejs_*.
  collectDefaultMetrics({ register: registry, prefix: 'netscan_' });
  for (const name of droppedDefaultMetrics) registry.removeSingleMetric(`netscan_${name}`);
}

/**
 * prom-client defaults left out of /metrics: its event-loop lag gauges (a second p99 that
 * disagreed with `netscan_event_loop_delay_p99_seconds`: one event-loop figure is reported), and
 * gauges named `_total`, which `promtool check metrics` rejects (their `nodejs_active_*`
 * siblings without the suffix stay).
 */
export const droppedDefaultMetrics: readonly string[] = [
  ...['', '_min', '_max', '_mean', '_stddev', '_p50', '_p90', '_p99'].map((s) => `nodejs_eventloop_lag${s}_seconds`),
  'nodejs_active_resources_total',
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
];
