import type { Clock } from '../clock/clock.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { Logger } from '../log/log.js';
import type { Device, SnmpInfo } from '../model/device.js';
import type { PointSink } from '../model/point.js';
import { validateCredentials, type SnmpCredential } from './credentials.js';
import type { SnmpFailureClass, SnmpSession } from './session.js';
import { defaultMaxStringBytes } from './system-info.js';

/**
 * The slice of the state manager (internal/state DeviceStore) the enricher needs. The names
 * are DeviceStore's, so the real store satisfies it.
 */
export interface SnmpDeviceState {
  /** SNMP answered: store the info (hostname = sysName || ip) and close the SNMP breaker. */
  recordSnmpSuccess(ip: string, info: SnmpInfo): void;
  /** SNMP failed; returns true when this failure opened the breaker for `backoffMs`. */
  recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean;
  /** True while the device's SNMP breaker is open. */
  isSnmpSuspended(ip: string): boolean;
  /** A copy of the device, or undefined when unknown. */
  get(ip: string): Device | undefined;
  /** Whether the device is in the state. */
  has(ip: string): boolean;
}

/** Tunables of {@link SnmpEnricher}; config keys in parentheses. */
export interface SnmpEnricherOptions {
  /** Credentials tried in order per device; the one that answered is tried first next time (`snmp.credentials`, or Go's `snmp.community`). */
  credentials: readonly SnmpCredential[];
  /** Agent UDP port (`snmp.port`). */
  port: number;
  /** Per-attempt timeout, ms (`snmp.timeout`). */
  timeoutMs: number;
  /** Extra attempts per credential after a timeout (`snmp.retries`). */
  retries: number;
  /** Budget for one device's whole query, all credentials and retries included, ms (`snmp.deadline`). */
  deadlineMs: number;
  /** Time between two enrichments of one device, ms (`snmp_interval`). */
  intervalMs: number;
  /** Global query start rate, devices per second (`snmp_rate_limit`). */
  ratePerSec: number;
  /** Token-bucket capacity, queries (`snmp_burst_limit`). */
  burst: number;
  /** Devices queried at once; size it >= rate x deadline when many agents may be dead (`snmp.max_in_flight`). */
  maxInFlight: number;
  /** Consecutive failed enrichments that open a device's SNMP breaker (`snmp_max_consecutive_fails`). */
  maxConsecutiveFails: number;
  /** How long an open breaker suspends a device's enrichment, ms (`snmp_backoff_duration`). */
  backoffMs: number;
  /** Re-enrich this soon after sysUpTime went backwards (a reboot), ms (`snmp.reboot_recheck`). */
  rebootRecheckMs: number;
  /** Longest string kept from an agent, UTF-8 bytes (`snmp.max_string_bytes`). */
  maxStringBytes: number;
}

/** Defaults: Go netscan values for every key it had (docs/go-parity.md); see MANUAL.md, "SNMP". */
export const defaultSnmpEnricherOptions: Omit<SnmpEnricherOptions, 'credentials'> = {
  port: 161,
  timeoutMs: 5_000,
  retries: 0,
  deadlineMs: 10_000,
  intervalMs: 3_600_000,
  ratePerSec: 10,
  burst: 50,
  maxInFlight: 50,
  maxConsecutiveFails: 5,
  backoffMs: 3_600_000,
  rebootRecheckMs: 60_000,
  maxStringBytes: defaultMaxStringBytes,
};

/** Collaborators of {@link SnmpEnricher}. */
export interface SnmpEnricherDeps {
  /** Time source for schedules, the deadline, pacing and timestamps. */
  clock: Clock;
  /** The SNMP transport (net-snmp, or a fake). */
  session: SnmpSession;
  /** Where results and the breaker live. */
  state: SnmpDeviceState;
  /** Where `device_info` points go (the writer). */
  sink: PointSink;
  /** Parent logger; the enricher logs under `stage: snmp`. */
  logger: Logger;
}

/** Failed enrichments per class. */
export type SnmpFailureCounts = Record<SnmpFailureClass, number>;

/** Counters and gauges for /health and health_metrics. */
export interface SnmpEnricherStats {
  /** Devices with a schedule. */
  readonly devicesTracked: number;
  /** Tracked devices whose SNMP answered at least once (this run or before a restart). */
  readonly devicesEnriched: number;
  /** Tracked devices whose SNMP breaker is open right now. */
  readonly devicesSuspended: number;
  /** Device queries started (one per device per round, whatever the credential count). */
  readonly queriesTotal: number;
  /** GETs sent, one per credential tried. */
  readonly attemptsTotal: number;
  /** Queries that returned data. */
  readonly successesTotal: number;
  /** Failed queries per class (the most telling class among the credentials tried). */
  readonly failuresByClass: Readonly<SnmpFailureCounts>;
  /** Device queries in flight right now. */
  readonly inFlight: number;
  /** Devices due now and waiting for a token or an in-flight slot. */
  readonly queued: number;
  /** Due rounds skipped because the device's breaker was open. */
  readonly suspendedSkipsTotal: number;
  /** Times a device's breaker opened. */
  readonly breakerTripsTotal: number;
  /** Times sysUpTime went backwards (agent restart or 497-day TimeTicks wrap). */
  readonly rebootsDetectedTotal: number;
  /** `device_info` points handed to the sink. */
  readonly pointsWrittenTotal: number;
  /** Points the sink reported dropping on our writes. */
  readonly pointsDroppedTotal: number;
}

/** Throws ConfigError listing every unusable option in `o`, named by its config key. */
export function checkEnricherOptions(o: SnmpEnricherOptions): void {
  const c = new OptionChecks('snmp').add(validateCredentials(o.credentials, 'snmp.credentials').errors);
  c.positive('snmp.timeout', o.timeoutMs)
    .positive('snmp.deadline', o.deadlineMs)
    .positive('snmp_interval', o.intervalMs)
    .positive('snmp_rate_limit', o.ratePerSec)
    .positive('snmp_burst_limit', o.burst)
    .integer('snmp.max_in_flight', o.maxInFlight, 1)
    .integer('snmp_max_consecutive_fails', o.maxConsecutiveFails, 1)
    .positive('snmp_backoff_duration', o.backoffMs)
    .positive('snmp.reboot_recheck', o.rebootRecheckMs)
    .integer('snmp.max_string_bytes', o.maxStringBytes, 1)
    .integer('snmp.port', o.port, 1, 65535)
    .integer('snmp.retries', o.retries, 0, 10)
    .throwIfAny();
}
