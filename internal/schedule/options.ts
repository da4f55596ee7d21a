import { OptionChecks } from '../errors/option-checks.js';
import type { SummaryNaming } from '../model/points.js';

/** Tunables of the ping scheduler (`PingScheduler`); config keys in parentheses. */
export interface PingSchedulerOptions {
  /** Time between two probes of one device, ms (`ping_interval`). */
  intervalMs: number;
  /** How long a probe waits for its reply, ms (`ping_timeout`). */
  timeoutMs: number;
  /** Global monitoring send rate, probes per second; separate from the sweep's (`ping_rate_limit`). */
  ratePerSec: number;
  /** Token-bucket capacity, probes (`ping_burst_limit`). */
  burst: number;
  /** Consecutive host-side failures that open a device's breaker (`ping_max_consecutive_fails`). */
  maxConsecutiveFails: number;
  /** How long an open breaker suspends probing, ms (`ping_backoff_duration`). */
  backoffMs: number;
  /** Length of one `ping_summary` window, ms; 0 turns summaries off (`ping_summary_interval`). */
  summaryIntervalMs: number;
  /** Write one `ping` point per slot (`ping_raw_points`). */
  rawPoints: boolean;
  /** A failed or suspended `ping` point carries `rtt_ms=0` as in Go (`ping_failed_rtt_zero`). */
  failedRttZero: boolean;
  /** Field names of the summary point (`summary_naming`). */
  summaryNaming: SummaryNaming;
  /**
   * A timed-out probe whose window overlapped an agent stall this long, or whose send lagged its
   * dispatch this long, is recorded as `agent_overloaded` instead of a failure, ms (`ping_overload_threshold`).
   */
  overloadThresholdMs: number;
  /**
   * Most RTT samples kept per device per summary window for p50/p95 (4 bytes each); the pool keeps
   * min(this, summary interval ÷ ping interval), so quantiles are exact.
   */
  summaryMaxSamples: number;
  /** A send later than this after its slot counts in `lateSendsTotal`, ms. */
  lateSendToleranceMs: number;
  /** Most slots served per timer callback before yielding to I/O. */
  maxDispatchPerTick: number;
  /** Disagreement between wall-clock and monotonic elapsed time that triggers a reschedule, ms. */
  clockJumpThresholdMs: number;
}

/**
 * Defaults. Interval, timeout, rate, burst, fails and backoff are the Go netscan defaults;
 * note that 64 probes/s serves only 128 devices at 2 s, which the scheduler reports (MANUAL.md, "Pacing").
 */
export const defaultPingSchedulerOptions: PingSchedulerOptions = {
  intervalMs: 2_000,
  timeoutMs: 3_000,
  ratePerSec: 64,
  burst: 256,
  maxConsecutiveFails: 10,
  backoffMs: 300_000,
  summaryIntervalMs: 60_000,
  rawPoints: true,
  failedRttZero: false,
  summaryNaming: 'netscan',
  overloadThresholdMs: 250,
  summaryMaxSamples: 120,
  lateSendToleranceMs: 50,
  maxDispatchPerTick: 2_000,
  clockJumpThresholdMs: 1_000,
};

/** Throws a {@link ConfigError} listing every option out of range, as `config_key: message`. */
export function validatePingSchedulerOptions(o: PingSchedulerOptions): void {
  const finite = (v: number): boolean => Number.isFinite(v);
  new OptionChecks('schedule')
    .require(finite(o.intervalMs) && o.intervalMs >= 1, 'ping_interval', o.intervalMs, 'at least 1 ms')
    .require(finite(o.timeoutMs) && o.timeoutMs > 0, 'ping_timeout', o.timeoutMs, 'greater than 0')
    .require(finite(o.ratePerSec) && o.ratePerSec > 0, 'ping_rate_limit', o.ratePerSec, 'greater than 0')
    .require(finite(o.burst) && o.burst >= 1, 'ping_burst_limit', o.burst, 'at least 1')
    .require(
      Number.isInteger(o.maxConsecutiveFails) && o.maxConsecutiveFails >= 1,
      'ping_max_consecutive_fails',
      o.maxConsecutiveFails,
      'a positive integer',
    )
    .require(finite(o.backoffMs) && o.backoffMs >= 0, 'ping_backoff_duration', o.backoffMs, '0 or more')
    .require(
      finite(o.summaryIntervalMs) && o.summaryIntervalMs >= 0,
      'ping_summary_interval',
      o.summaryIntervalMs,
      '0 or more',
    )
    .require(
      finite(o.overloadThresholdMs) && o.overloadThresholdMs > 0,
      'ping_overload_threshold',
      o.overloadThresholdMs,
      'greater than 0',
    )
    .throwIfAny();
}
