import { join } from 'node:path';
import type { ReconcilerOptions } from '../../internal/reconcile/reconciler.js';
import type { PingSchedulerOptions } from '../../internal/schedule/ping-scheduler.js';
import type { ProbeEngineSettings } from '../../internal/schedule/probe-thread-protocol.js';
import type { SnmpEnricherOptions } from '../../internal/snmp/enricher.js';
import type { DeviceStoreOptions } from '../../internal/state/device-store.js';
import type { SweeperOptions } from '../../internal/sweep/sweeper.js';
import type { FileTransportOptions } from '../../internal/writer/file-transport.js';
import type { InfluxWriterOptions } from '../../internal/writer/influx-writer.js';
import { snmpCredentials } from '../snmp-config.js';
import { configSchema, type Config } from './schema.js';

// The schema holds the product defaults; this module only renames. Each stage's own defaults
// match what these return for a config that sets nothing (stage-options.test.ts checks it).

/** The tunables of the ping scheduler a config sets. */
export type SchedulerConfigOptions = Pick<
  PingSchedulerOptions,
  | 'intervalMs'
  | 'timeoutMs'
  | 'ratePerSec'
  | 'burst'
  | 'maxConsecutiveFails'
  | 'backoffMs'
  | 'summaryIntervalMs'
  | 'rawPoints'
  | 'overloadThresholdMs'
  | 'failedRttZero'
  | 'summaryNaming'
>;

/** Ping scheduler options from the `ping_*`, `summary_interval` and `overload_threshold` keys. */
export function schedulerOptions(c: Config): SchedulerConfigOptions {
  return {
    intervalMs: c.ping_interval,
    timeoutMs: c.ping_timeout,
    ratePerSec: c.ping_rate_limit,
    burst: c.ping_burst_limit,
    maxConsecutiveFails: c.ping_max_consecutive_fails,
    backoffMs: c.ping_backoff_duration,
    summaryIntervalMs: c.summary_interval,
    rawPoints: c.ping_raw_points,
    overloadThresholdMs: c.overload_threshold,
    failedRttZero: c.ping_failed_rtt_zero,
    summaryNaming: c.summary_naming,
  };
}

/** Where monitoring runs (`probe_thread`, `probe_thread_nice`), and the settings of the ICMP engine a probe thread builds for itself. */
export function probeThreadOptions(c: Config): {
  thread: 'main' | 'worker';
  niceness: number | undefined;
  engine: ProbeEngineSettings;
} {
  return {
    thread: c.probe_thread,
    niceness: c.probe_thread_nice || undefined,
    engine: {
      mode: c.icmp_mode,
      payloadBytes: c.icmp_payload_bytes,
      tos: c.icmp_tos || undefined,
      ttl: c.icmp_ttl || undefined,
      interfaceName: c.icmp_interface || undefined,
      sourceIpv4: c.icmp_source_ipv4 || undefined,
      sourceIpv6: c.icmp_source_ipv6 || undefined,
    },
  };
}

/** Every key {@link sweeperOptions} reads: a sweeper is rebuilt when one of them changes. */
export const sweeperConfigKeys = ['sweep_rate_limit', 'icmp_workers', 'sweep_timeout', 'sweep_retries'] as const;

/** The tunables of the discovery sweeper a config sets. */
export type SweeperConfigOptions = Pick<SweeperOptions, 'ratePps' | 'maxInFlight' | 'timeoutMs' | 'retries'>;

/** Sweeper options from the `sweep_*` keys and `icmp_workers`. */
export function sweeperOptions(c: Config): SweeperConfigOptions {
  return {
    ratePps: c.sweep_rate_limit,
    maxInFlight: c.icmp_workers,
    timeoutMs: c.sweep_timeout,
    retries: c.sweep_retries,
  };
}

/** Reconciler options from `max_concurrent_pingers`. */
export function reconcilerOptions(c: Config): Pick<ReconcilerOptions, 'maxMonitored'> {
  return { maxMonitored: c.max_concurrent_pingers };
}

/** The tunables of the device store a config sets. */
export type DeviceStoreConfigOptions = Pick<
  DeviceStoreOptions,
  'maxDevices' | 'pruneAfterMs' | 'pruneIntervalMs' | 'stateFile' | 'snapshotIntervalMs'
>;

/** Device store options from `max_devices`, `prune_*`, `state_file` and `state_snapshot_interval`. */
export function deviceStoreOptions(c: Config): DeviceStoreConfigOptions {
  return {
    maxDevices: c.max_devices,
    pruneAfterMs: c.prune_after,
    pruneIntervalMs: c.prune_interval,
    stateFile: c.state_file,
    snapshotIntervalMs: c.state_snapshot_interval,
  };
}

/** SNMP enricher options from the `snmp` section and the `snmp_*` keys; undefined when SNMP is off. */
export function snmpEnricherOptions(c: Config): SnmpEnricherOptions | undefined {
  const snmp = c.snmp;
  if (!snmp?.enabled) return undefined;
  return {
    credentials: snmpCredentials(snmp),
    port: snmp.port,
    timeoutMs: snmp.timeout,
    retries: snmp.retries,
    deadlineMs: snmp.deadline,
    intervalMs: c.snmp_interval,
    ratePerSec: c.snmp_rate_limit,
    burst: c.snmp_burst_limit,
    maxInFlight: snmp.max_in_flight,
    maxConsecutiveFails: c.snmp_max_consecutive_fails,
    backoffMs: c.snmp_backoff_duration,
    rebootRecheckMs: snmp.reboot_recheck,
    maxStringBytes: snmp.max_string_bytes,
  };
}

/** Health server options from `health_check_port` and `health_check_bind`; undefined when the port is 0. */
export function healthServerOptions(c: Config): { port: number; host: string } | undefined {
  return c.health_check_port > 0 ? { port: c.health_check_port, host: c.health_check_bind } : undefined;
}

/** The `influxdb` section as the schema fills it in when the config has none. */
const influxDefaults: NonNullable<Config['influxdb']> = configSchema.shape.influxdb.unwrap().parse({});

/** The tunables of an output writer a config sets. */
export type WriterConfigOptions = Pick<
  InfluxWriterOptions,
  | 'batchSize'
  | 'flushIntervalMs'
  | 'maxBufferPoints'
  | 'maxBatchBytes'
  | 'minRetryDelayMs'
  | 'maxRetryDelayMs'
  | 'maxConcurrentWrites'
  | 'coalesceBatches'
  | 'spoolDir'
  | 'spoolMaxBytes'
  | 'wal'
  | 'walSyncIntervalMs'
>;

/**
 * InfluxDB writer options from the `influxdb` section (its defaults when absent), `max_buffer_points`
 * `spool_*` and `wal*`; the spool (and its write-ahead log) lives in `<spool_dir>/influxdb`, and `spool_dir: ""` or `spool_max_bytes: 0` turn it off.
 */
export function influxWriterOptions(
  c: Pick<Config, 'influxdb' | 'max_buffer_points' | 'spool_dir' | 'spool_max_bytes' | 'wal' | 'wal_sync_interval'>,
): WriterConfigOptions {
  const db = c.influxdb ?? influxDefaults;
  const spooled = c.spool_dir !== '' && c.spool_max_bytes > 0;
  return {
    batchSize: db.batch_size,
    flushIntervalMs: db.flush_interval,
    maxBufferPoints: c.max_buffer_points,
    maxBatchBytes: db.max_batch_bytes,
    minRetryDelayMs: db.retry_min_delay,
    maxRetryDelayMs: db.retry_max_delay,
    maxConcurrentWrites: db.max_in_flight_writes,
    coalesceBatches: false,
    spoolDir: spooled ? join(c.spool_dir, 'influxdb') : undefined,
    spoolMaxBytes: c.spool_max_bytes,
    wal: c.wal,
    walSyncIntervalMs: c.wal_sync_interval,
  };
}

/**
 * Writer options of one `outputs` entry: as {@link influxWriterOptions} with the entry as its
 * influxdb section; the spool lives in the entry's `spool_dir`, else `<spool_dir>/<name>`.
 */
export function outputWriterOptions(
  entry: Config['outputs'][number],
  c: Pick<Config, 'max_buffer_points' | 'spool_dir' | 'spool_max_bytes' | 'wal' | 'wal_sync_interval'>,
): WriterConfigOptions {
  const o = influxWriterOptions({ ...c, influxdb: entry });
  const dir = entry.spool_dir ?? (c.spool_dir === '' ? '' : join(c.spool_dir, entry.name));
  return { ...o, spoolDir: dir !== '' && c.spool_max_bytes > 0 ? dir : undefined };
}

/** Largest batch the line-protocol file output writes at once, points. */
const FILE_BATCH_POINTS = 1000;

/** Line-protocol file writer options: as the InfluxDB writer's, one append at a time, smaller batches, no spool. */
export function fileWriterOptions(c: Parameters<typeof influxWriterOptions>[0]): WriterConfigOptions {
  // A local append gains nothing from 5,000-line batches, and at 20k points/s such a batch
  // (250 ms of lines, ~500 KB joined) outlives young-generation GCs and is promoted, swelling
  // the old generation by ~100 MB between major GCs; 1,000-line batches mostly die young
  // (whole-agent bench: RSS peak 230 -> 163 MB at 20k devices, 320 -> 210 MB at 100k).
  const o = influxWriterOptions(c);
  // One append at a time, each a round trip through the event loop: after a stall (a slow disk, a
  // busy loop) the backlog leaves in one append instead of one per 1,000 lines (bench writer
  // --only sustained: 22% of 100k points/s dropped after stalls before this).
  return {
    ...o,
    batchSize: Math.min(o.batchSize, FILE_BATCH_POINTS),
    maxConcurrentWrites: 1,
    coalesceBatches: true,
    spoolDir: undefined,
  };
}

/** File transport options from `output_file` and `output_file_max_*`. */
export function fileTransportOptions(
  c: Pick<Config, 'output_file' | 'output_file_max_bytes' | 'output_file_max_files'>,
): Pick<FileTransportOptions, 'path' | 'maxBytes' | 'maxFiles'> {
  return { path: c.output_file, maxBytes: c.output_file_max_bytes, maxFiles: c.output_file_max_files };
}
