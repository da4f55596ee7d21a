import type { Logger } from '../internal/log/log.js';
import type { AgentFigures } from './telemetry.js';

/** The counters a health interval takes deltas of. */
interface Snapshot {
  atMs: number;
  missedSlots: number;
  lateSends: number;
  pointsDropped: number;
  overloaded: number;
}

/** What happened in one health interval (between two health reports). */
export interface HealthInterval {
  /** Length of the interval, ms. */
  durationMs: number;
  /** Slots the agent let pass unprobed. */
  missedSlots: number;
  /** Probes sent later than the late-send tolerance after their slot. */
  lateSends: number;
  /** Points dropped by the outputs, every reason. */
  pointsDropped: number;
  /** Probes the agent could not judge because it stalled. */
  overloaded: number;
  /** p99 send lag of the interval, ms; NaN without sends. */
  sendLagP99Ms: number;
  /** Largest send lag of the interval, ms; NaN without sends. */
  sendLagMaxMs: number;
}

/** Options for {@link HealthIntervals}. */
export interface HealthIntervalsOptions {
  /** Where the missed-slot episodes are logged. */
  logger: Logger;
  /** Starts counting the devices that miss a slot afresh (the scheduler's resetMissedDevices). */
  resetMissedDevices: () => void;
}

/** A run of health intervals with missed slots. */
interface Episode {
  startMs: number;
  missedSlots: number;
  devices: number;
  maxLagMs: number;
}

const snapshot = (f: AgentFigures): Snapshot => ({
  atMs: f.nowMs,
  missedSlots: f.scheduler.missedSlotsTotal,
  lateSends: f.scheduler.lateSendsTotal,
  pointsDropped: f.writer.pointsDropped,
  overloaded: f.scheduler.overloadedTotal,
});

const maxOf = (a: number, b: number): number => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b));
const seconds = (ms: number): string => `${Math.max(1, Math.round(ms / 1000))} s`;

/**
 * Turns the agent's since-start counters into per-interval figures: each health report closes an
 * interval. `/health` judges the last closed interval and the one running (so a problem shows at
 * once and stays for at least one whole interval), and a run of intervals with missed slots is an
 * episode: one warning when it starts, one line with its size when a clean interval ends it.
 */
export class HealthIntervals {
  readonly #opts: HealthIntervalsOptions;
  readonly #log: Logger;
  /** Start of the last closed interval. */
  #base: Snapshot | undefined;
  /** End of the last closed interval (start of the running one). */
  #prev: Snapshot | undefined;
  #lastLagMaxMs = Number.NaN;
  #episode: Episode | undefined;

  constructor(opts: HealthIntervalsOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ stage: 'health' });
  }

  /** Marks the start of the first interval (the agent started). */
  begin(f: AgentFigures): void {
    this.#base = snapshot(f);
    this.#prev = this.#base;
  }

  /** Closes the running interval at a health report; `f` is read just before the scheduler's interval is taken. */
  close(f: AgentFigures): HealthInterval {
    const now = snapshot(f);
    const prev = this.#prev ?? now;
    const out: HealthInterval = {
      durationMs: now.atMs - prev.atMs,
      missedSlots: now.missedSlots - prev.missedSlots,
      lateSends: now.lateSends - prev.lateSends,
      pointsDropped: now.pointsDropped - prev.pointsDropped,
      overloaded: now.overloaded - prev.overloaded,
      sendLagP99Ms: f.scheduler.interval.sendLagP99Ms,
      sendLagMaxMs: f.scheduler.interval.sendLagMaxMs,
    };
    this.#base = prev;
    this.#prev = now;
    this.#lastLagMaxMs = out.sendLagMaxMs;
    this.#followEpisode(out, f);
    return out;
  }

  /**
   * Why `/health` is `degraded` on account of the last closed interval and the running one
   * (empty when neither missed a slot, lagged past `sendLagThresholdMs`, dropped a point or stalled).
   */
  reasons(f: AgentFigures, sendLagThresholdMs: number): string[] {
    const base = this.#base;
    if (!base) return [];
    const now = snapshot(f);
    const span = seconds(now.atMs - base.atMs);
    const out: string[] = [];
    const missed = now.missedSlots - base.missedSlots;
    if (missed > 0) out.push(`${missed} ping slots missed in the last ${span} (the agent did not probe on time)`);
    const lagMs = maxOf(this.#lastLagMaxMs, f.scheduler.interval.sendLagMaxMs);
    const limit = sendLagThresholdMs;
    if (lagMs > limit)
      out.push(
        `send lag reached ${Math.round(lagMs)} ms in the last ${span}, over send_lag_degraded_threshold ${limit} ms`,
      );
    const dropped = now.pointsDropped - base.pointsDropped;
    if (dropped > 0) out.push(`${dropped} points dropped in the last ${span}`);
    const overloaded = now.overloaded - base.overloaded;
    if (overloaded > 0) out.push(`${overloaded} probes agent_overloaded in the last ${span}`);
    return out;
  }

  #followEpisode(i: HealthInterval, f: AgentFigures): void {
    const devices = f.scheduler.devicesMissed;
    const e = this.#episode;
    if (i.missedSlots > 0) {
      if (e) {
        e.missedSlots += i.missedSlots;
        e.devices = devices;
        e.maxLagMs = maxOf(e.maxLagMs, i.sendLagMaxMs);
        return;
      }
      const lag = Math.round(maxOf(0, i.sendLagMaxMs));
      this.#episode = {
        startMs: f.nowMs - i.durationMs,
        missedSlots: i.missedSlots,
        devices,
        maxLagMs: maxOf(0, i.sendLagMaxMs),
      };
      this.#log.warn(
        { missed_slots: i.missedSlots, devices, max_send_lag_ms: lag, interval_ms: i.durationMs },
        `ping slots missed: ${i.missedSlots} slots of ${devices} devices were not probed on time (longest send lag ${lag} ms); the agent is short of CPU or ping_rate_limit`,
      );
      return;
    }
    if (e) {
      this.#episode = undefined;
      const lag = Math.round(e.maxLagMs);
      this.#log.info(
        { missed_slots: e.missedSlots, devices: e.devices, max_send_lag_ms: lag, duration_ms: f.nowMs - e.startMs },
        `missed ping slots over: ${e.missedSlots} slots of ${e.devices} devices missed in ${seconds(f.nowMs - e.startMs)} (longest send lag ${lag} ms)`,
      );
    }
    this.#opts.resetMissedDevices();
  }
}
