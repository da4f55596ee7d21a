/**
 * Builders for every measurement netscan writes (`ping`, `ping_summary`, `device_info`,
 * `health_metrics`); the stages build points here and the writer only encodes them. Names and
 * field types match the Go netscan exactly (MANUAL.md, "Metrics written"; docs/go-parity.md, "Measurements") because InfluxDB
 * rejects a field type change within a shard: existing buckets must keep accepting our points.
 * New fields are additive.
 */
import { field, type FieldValue, type Point } from './point.js';
import type { PingOutcome, PingSummary } from './ping.js';

/** Measurement names. */
export const measurements = {
  ping: 'ping',
  pingSummary: 'ping_summary',
  deviceInfo: 'device_info',
  health: 'health_metrics',
} as const;

/** Longest string field written, in UTF-8 bytes (Go parity: 500). */
export const maxStringFieldBytes = 500;

// Tab, newline and carriage return separate words: they become a space. Every other C0
// control, DEL and the C1 controls are removed.
const LINE_BREAKS = /[\t\n\r]+/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Makes an untrusted string (sysDescr, sysName, ...) safe for a string field: control
 * characters are removed, except that runs of tab/newline/CR become one space (Go kept tab and
 * newline; a newline must never reach line protocol), lone surrogates become U+FFFD so the UTF-8 is valid, whitespace is trimmed,
 * and a string over `maxBytes` UTF-8 bytes is cut at a character boundary and ends in `...`
 * (at most `maxBytes` bytes in total). Quotes and backslashes are escaped later by the line
 * protocol encoder.
 */
export function sanitizeString(s: string, maxBytes = maxStringFieldBytes): string {
  if (s === '') return s;
  let out = s.replace(LINE_BREAKS, ' ').replace(CONTROL, '').replace(LONE_SURROGATE, '\uFFFD').trim();
  if (Buffer.byteLength(out, 'utf8') > maxBytes) {
    const buf = Buffer.from(out, 'utf8');
    let end = Math.max(0, maxBytes - 3);
    // Back up to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
    while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
    out = buf.subarray(0, end).toString('utf8') + '...';
  }
  return out;
}

/** Options for {@link pingPoint}. */
export interface PingPointOptions {
  /** Point timestamp in ms since the epoch (Go parity: the time the result is written). */
  timeMs: number;
  /** Write `rtt_ms=0` on a failed probe as the Go netscan did (config `ping_failed_rtt_zero`); default false. */
  failedRttZero?: boolean;
}

/**
 * One `ping` point for one probe outcome. Tag `ip`; fields `rtt_ms` (float, only on success
 * unless `failedRttZero`, where a failure carries 0 as in Go), `success` (bool), `suspended`
 * (bool, false here) and, on failure only, `reason` (string, new: `timeout`, `unreachable`,
 * `send_error`, `agent_overloaded`, `agent_error`).
 */
export function pingPoint(outcome: PingOutcome, opts: PingPointOptions): Point {
  const fields: Record<string, FieldValue> = outcome.ok
    ? { rtt_ms: field.float(outcome.rttMs), success: field.bool(true), suspended: field.bool(false) }
    : {
        ...(opts.failedRttZero ? { rtt_ms: field.float(0) } : {}),
        success: field.bool(false),
        suspended: field.bool(false),
        reason: field.string(outcome.reason),
      };
  return { measurement: measurements.ping, tags: { ip: outcome.ip }, fields, timeMs: opts.timeMs };
}

/**
 * The `ping` point written instead of a probe while the device's circuit breaker is open:
 * `success=false`, `suspended=true`, `reason="suspended"`, and `rtt_ms=0` only with `failedRttZero`.
 */
export function suspendedPingPoint(ip: string, timeMs: number, failedRttZero = false): Point {
  return {
    measurement: measurements.ping,
    tags: { ip },
    fields: {
      ...(failedRttZero ? { rtt_ms: field.float(0) } : {}),
      success: field.bool(false),
      suspended: field.bool(true),
      reason: field.string('suspended'),
    },
    timeMs,
  };
}

/** Field names of the summary point: netscan's own, or those of Telegraf's ping input. */
export type SummaryNaming = 'netscan' | 'telegraf';

/**
 * The `ping` point for a target whose name did not resolve: tag `name` (no `ip`: there is none),
 * `rtt_ms=0`, `success=false`, `suspended=false`, `reason="dns"`, plus the target's `labels` as tags.
 */
export function dnsFailurePoint(name: string, labels: Readonly<Record<string, string>>, timeMs: number): Point {
  return {
    measurement: measurements.ping,
    tags: { ...labels, name },
    fields: {
      rtt_ms: field.float(0),
      success: field.bool(false),
      suspended: field.bool(false),
      reason: field.string('dns'),
    },
    timeMs,
  };
}

/**
 * The `ping_summary` point: tag `ip`; integer counts `sent`, `received`, `overloaded`,
 * `suspended_ticks`, `missed_slots` (slots the agent let pass unprobed), `skipped_ticks` (previous
 * probe still in flight), so sent + overloaded + suspended_ticks + missed_slots + skipped_ticks
 * is every slot of the window; float `loss_pct` (only when something was sent) and, only when a reply
 * came back, float `rtt_min_ms`, `rtt_avg_ms`, `rtt_max_ms`, `rtt_p50_ms`, `rtt_p95_ms`,
 * `rtt_stddev_ms`, and `jitter_ms` (with two or more replies). `telegraf` naming: see
 * {@link telegrafSummaryPoint}. Timestamp = window start.
 */
export function pingSummaryPoint(ip: string, s: PingSummary, naming: SummaryNaming = 'netscan'): Point {
  if (naming === 'telegraf') return telegrafSummaryPoint(ip, s);
  const fields: Record<string, FieldValue> = {
    sent: field.int(s.sent),
    received: field.int(s.received),
    overloaded: field.int(s.overloaded),
    suspended_ticks: field.int(s.suspendedTicks),
    missed_slots: field.int(s.missedSlots ?? 0),
    skipped_ticks: field.int(s.skippedTicks ?? 0),
  };
  const put = (name: string, v: number): void => {
    if (Number.isFinite(v)) fields[name] = field.float(v);
  };
  put('loss_pct', s.lossPct);
  put('rtt_min_ms', s.rttMinMs);
  put('rtt_avg_ms', s.rttAvgMs);
  put('rtt_max_ms', s.rttMaxMs);
  put('rtt_p50_ms', s.rttP50Ms);
  put('rtt_p95_ms', s.rttP95Ms);
  put('rtt_stddev_ms', s.rttStddevMs);
  put('jitter_ms', s.jitterMs);
  return { measurement: measurements.pingSummary, tags: { ip }, fields, timeMs: s.windowStartMs };
}

/** Telegraf ping input `result_code` values. */
export const telegrafResultCode = { success: 0, noSuchHost: 1, pingError: 2 } as const;

/**
 * The summary as Telegraf's ping input writes it, so its dashboards work unchanged: measurement
 * `ping`, tags `url` (the address, as Telegraf names its target) and `ip`; integer
 * `packets_transmitted`, `packets_received`, `result_code`; float `percent_packet_loss` (only
 * when something was sent) and, only when a reply came back, float `minimum_response_ms`,
 * `average_response_ms`, `maximum_response_ms`, `standard_deviation_ms`. `result_code` is 0
 * when probes went out (whatever came back, as in Telegraf), 2 (ping error) when none did (agent
 * overloaded, socket errors, or the device's breaker open); netscan pings addresses, so never 1
 * (no such host).
 */
function telegrafSummaryPoint(ip: string, s: PingSummary): Point {
  const fields: Record<string, FieldValue> = {
    packets_transmitted: field.int(s.sent),
    packets_received: field.int(s.received),
    result_code: field.int(s.sent > 0 ? telegrafResultCode.success : telegrafResultCode.pingError),
  };
  const put = (name: string, v: number): void => {
    if (Number.isFinite(v)) fields[name] = field.float(v);
  };
  put('percent_packet_loss', s.lossPct);
  put('minimum_response_ms', s.rttMinMs);
  put('average_response_ms', s.rttAvgMs);
  put('maximum_response_ms', s.rttMaxMs);
  put('standard_deviation_ms', s.rttStddevMs);
  return { measurement: measurements.ping, tags: { url: ip, ip }, fields, timeMs: s.windowStartMs };
}

/** What SNMP told us about a device, as written to `device_info`. */
export interface DeviceInfoValues {
  /** sysName, or the IP when the device has none (Go parity). */
  hostname: string;
  /** sysDescr. */
  sysDescr: string;
  /** sysObjectID in dotted form; omitted when empty. */
  sysObjectId?: string;
  /** sysLocation; omitted when empty. */
  sysLocation?: string;
  /** sysContact; omitted when empty. */
  sysContact?: string;
  /** sysUpTime in seconds; omitted when undefined. */
  sysUptimeS?: number | undefined;
}

/**
 * One `device_info` point. Tag `ip`; string fields `hostname`, `snmp_description` (Go parity,
 * always written) and the new `sys_object_id`, `sys_location`, `sys_contact` (only when
 * non-empty), integer `sys_uptime_s`. Every string passes through {@link sanitizeString}.
 */
export function deviceInfoPoint(ip: string, info: DeviceInfoValues, timeMs: number): Point {
  const fields: Record<string, FieldValue> = {
    hostname: field.string(sanitizeString(info.hostname)),
    snmp_description: field.string(sanitizeString(info.sysDescr)),
  };
  const optional: Array<[string, string | undefined]> = [
    ['sys_object_id', info.sysObjectId],
    ['sys_location', info.sysLocation],
    ['sys_contact', info.sysContact],
  ];
  for (const [name, value] of optional) {
    const clean = value === undefined ? '' : sanitizeString(value);
    if (clean !== '') fields[name] = field.string(clean);
  }
  if (info.sysUptimeS !== undefined && Number.isFinite(info.sysUptimeS))
    fields['sys_uptime_s'] = field.int(info.sysUptimeS);
  return { measurement: measurements.deviceInfo, tags: { ip }, fields, timeMs };
}

/** Agent-wide values for one `health_metrics` point. */
export interface HealthValues {
  /** Devices in the state. */
  deviceCount: number;
  /** Probes executing right now (Go `active_pingers`). */
  activePingers: number;
  /** Devices whose ping breaker is open. */
  suspendedDevices: number;
  /** Go `goroutines`; the TS agent reports its concurrent task count (active handles + requests). */
  goroutines: number;
  /** V8 heap used, in MiB (integer). */
  memoryMb: number;
  /** Resident set size, in MiB (integer). */
  rssMb: number;
  /** Result of the output health probe done for this report. */
  influxdbOk: boolean;
  /** Echo requests sent since start (Go `pings_sent_total`). */
  pingsSentTotal: number;
  /** Writer counters (the writer's stats, summed over the sinks when several run). */
  writer: WriterCounters;
  /** Monitoring and SNMP figures added to the Go set (see {@link healthPoint} for names and types). */
  extra?: HealthExtraValues;
}

/** The writer counters a `health_metrics` point carries; the writer's stats object satisfies it. */
export interface WriterCounters {
  /** Requests acknowledged (Go `influxdb_successful_batches`). */
  readonly batchesOk: number;
  /** Requests that failed, any class, every attempt (Go `influxdb_failed_batches`). */
  readonly batchesFailed: number;
  /** Points the server acknowledged. */
  readonly pointsWritten: number;
  /** Points dropped, all reasons. */
  readonly pointsDropped: number;
  /** Points appended to the spool since start. */
  readonly pointsSpooled: number;
  /** Bytes of the spool on disk now. */
  readonly spoolBytes: number;
  /** Points in the spool now. */
  readonly spoolPoints: number;
  /** Points in memory now, waiting for a request or the spool. */
  readonly queueDepth: number;
  /** Failed requests by class. */
  readonly writeErrors: Readonly<Record<'retry' | 'throttle' | 'split' | 'drop' | 'config', number>>;
}

/** Agent figures beyond the Go set, written as new `health_metrics` fields. */
export interface HealthExtraValues {
  /** Probes invalidated by an agent stall since start (unsigned). */
  agent_overloaded: number;
  /** Probes lost to a failure of the agent's ICMP socket since start (unsigned). */
  agent_errors: number;
  /** p99 event-loop delay since start, ms (float). */
  event_loop_delay_p99_ms: number;
  /** Devices left without a ping schedule by max_concurrent_pingers (integer). */
  unmonitored_devices: number;
  /** Devices whose SNMP breaker is open (integer). */
  snmp_suspended_devices: number;
  /** Interval each device actually gets given ping_rate_limit, ms (float). */
  effective_ping_interval_ms: number;
  /** Slots skipped because the previous probe was still in flight, since start (unsigned). */
  skipped_ticks: number;
  /** Devices whose SNMP answered at least once (integer). */
  snmp_enriched_devices: number;
  /** Slots the agent let pass unprobed, since start (unsigned). */
  missed_slots?: number;
  /** Probes sent more than 50 ms after their slot, since start (unsigned). */
  late_sends?: number;
  /** p99 send lag over the last health interval, ms (float; omitted without sends). */
  send_lag_p99_ms?: number;
  /** Largest send lag over the last health interval, ms (float; omitted without sends). */
  send_lag_max_ms?: number;
  /** Devices evicted from the state to make room (max_devices reached), since start (unsigned). */
  devices_evicted?: number;
  /** Discovered hosts not added because the state was full of targets, since start (unsigned). */
  devices_not_added?: number;
}

/**
 * One `health_metrics` point (no tags, destined for the health bucket). Go parity fields keep
 * their exact types: `device_count`, `active_pingers`, `suspended_devices`, `goroutines`,
 * `memory_mb`, `rss_mb` integer; `influxdb_ok` bool; `influxdb_successful_batches`,
 * `influxdb_failed_batches`, `pings_sent_total` unsigned. New: counters `points_written`,
 * `points_dropped`, `points_spooled`, `write_errors_{retry,throttle,split,drop,config}` unsigned;
 * gauges `spool_bytes`, `spool_points`, `queue_depth` integer; with `extra`: `agent_overloaded`,
 * `agent_errors`, `skipped_ticks`, `missed_slots`, `late_sends`, `devices_evicted`, `devices_not_added` unsigned, `unmonitored_devices`, `snmp_suspended_devices`, `snmp_enriched_devices`
 * integer, `effective_ping_interval_ms`, `event_loop_delay_p99_ms`, `send_lag_p99_ms`, `send_lag_max_ms` (over the
 * last health interval) float.
 */
export function healthPoint(values: HealthValues, timeMs: number): Point {
  const w = values.writer;
  return {
    measurement: measurements.health,
    tags: {},
    bucket: 'health',
    timeMs,
    fields: {
      device_count: field.int(values.deviceCount),
      active_pingers: field.int(values.activePingers),
      suspended_devices: field.int(values.suspendedDevices),
      goroutines: field.int(values.goroutines),
      memory_mb: field.int(values.memoryMb),
      rss_mb: field.int(values.rssMb),
      influxdb_ok: field.bool(values.influxdbOk),
      influxdb_successful_batches: field.uint(w.batchesOk),
      influxdb_failed_batches: field.uint(w.batchesFailed),
      pings_sent_total: field.uint(values.pingsSentTotal),
      points_written: field.uint(w.pointsWritten),
      points_dropped: field.uint(w.pointsDropped),
      points_spooled: field.uint(w.pointsSpooled),
      spool_bytes: field.int(w.spoolBytes),
      spool_points: field.int(w.spoolPoints),
      queue_depth: field.int(w.queueDepth),
      write_errors_retry: field.uint(w.writeErrors.retry),
      write_errors_throttle: field.uint(w.writeErrors.throttle),
      write_errors_split: field.uint(w.writeErrors.split),
      write_errors_drop: field.uint(w.writeErrors.drop),
      write_errors_config: field.uint(w.writeErrors.config),
      ...(values.extra ? extraFields(values.extra) : {}),
    },
  };
}

function extraFields(x: HealthExtraValues): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {
    agent_overloaded: field.uint(x.agent_overloaded),
    agent_errors: field.uint(x.agent_errors),
    unmonitored_devices: field.int(x.unmonitored_devices),
    snmp_suspended_devices: field.int(x.snmp_suspended_devices),
    effective_ping_interval_ms: field.float(x.effective_ping_interval_ms),
    skipped_ticks: field.uint(x.skipped_ticks),
    snmp_enriched_devices: field.int(x.snmp_enriched_devices),
  };
  // Before the first event-loop sample there is no p99; omit rather than write NaN.
  if (Number.isFinite(x.event_loop_delay_p99_ms))
    fields.event_loop_delay_p99_ms = field.float(x.event_loop_delay_p99_ms);
  if (x.missed_slots !== undefined) fields.missed_slots = field.uint(x.missed_slots);
  if (x.late_sends !== undefined) fields.late_sends = field.uint(x.late_sends);
  if (x.devices_evicted !== undefined) fields.devices_evicted = field.uint(x.devices_evicted);
  if (x.devices_not_added !== undefined) fields.devices_not_added = field.uint(x.devices_not_added);
  for (const k of ['send_lag_p99_ms', 'send_lag_max_ms'] as const) {
    const v = x[k];
    if (v !== undefined && Number.isFinite(v)) fields[k] = field.float(v);
  }
  return fields;
}
