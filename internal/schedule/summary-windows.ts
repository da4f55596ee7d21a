import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Point } from '../model/point.js';
import { pingSummaryPoint, type SummaryNaming } from '../model/points.js';
import { summaryOffsetMs } from './phase.js';
import { SummaryPool, xorshift32 } from './summary.js';

/** The settings that shape summary windows; the scheduler's options satisfy it. */
export interface SummaryWindowOptions {
  /** Time between two probes of one device, ms. */
  intervalMs: number;
  /** How long a probe waits for its reply, ms. */
  timeoutMs: number;
  /** Length of one `ping_summary` window, ms; 0 turns summaries off. */
  summaryIntervalMs: number;
  /** Most RTT samples kept per device per window. */
  summaryMaxSamples: number;
  /** Field names of the summary point (`summary_naming`); netscan's when absent. */
  summaryNaming?: SummaryNaming;
}

/** What the windows keep on each device (the scheduler's entry). */
export interface WindowedDevice {
  readonly ip: string;
  /** The device's slot in the summary pool, or -1 before its first result. */
  summary: number;
  /** Start of the device's windows within the summary interval, ms (see summaryOffsetMs). */
  summaryOffset: number;
  /** A probe is outstanding: its window is not over yet. */
  readonly inFlight: boolean;
  /** Waiting for a token: its window is not over yet. */
  readonly paced: boolean;
  /** The device's own probe interval, ms; undefined = the global `intervalMs`. */
  readonly ownIntervalMs?: number | undefined;
}

/** Collaborators of {@link SummaryWindows}. */
export interface SummaryWindowsDeps {
  /** Time source for the sweep timer. */
  clock: Clock;
  /** Where `ping_summary` points go; must not throw. */
  write: (p: Point) => void;
  /** The scheduled devices, for the sweep. */
  devices: () => Iterable<WindowedDevice>;
}

const MAX_SWEEP_DELAY_MS = 60_000;

/** A summary pool sized so a window's replies all fit: min(summaryMaxSamples, summary ÷ interval). */
function newPool(o: SummaryWindowOptions): SummaryPool {
  const perWindow = o.summaryIntervalMs > 0 ? Math.ceil(o.summaryIntervalMs / o.intervalMs) : 1;
  return new SummaryPool(Math.max(1, Math.min(o.summaryMaxSamples, perWindow)));
}

/**
 * Per-device `ping_summary` windows and their cadence. Each device's windows are staggered by
 * its summary offset; a window is written lazily by the device's first result in the next one,
 * or by a sweep once per summary interval for devices that produced no result since.
 */
export class SummaryWindows {
  readonly #clock: Clock;
  readonly #write: (p: Point) => void;
  readonly #devices: () => Iterable<WindowedDevice>;
  readonly #random = xorshift32(0x5eed1234);
  #opts: SummaryWindowOptions;
  #pool: SummaryPool;
  #running = false;
  #timer: TimerHandle | undefined;
  #written = 0;

  constructor(deps: SummaryWindowsDeps, opts: SummaryWindowOptions) {
    this.#clock = deps.clock;
    this.#write = deps.write;
    this.#devices = deps.devices;
    this.#opts = { ...opts };
    this.#pool = newPool(opts);
  }

  /** `ping_summary` points written. */
  get writtenTotal(): number {
    return this.#written;
  }

  /** Starts the sweep. */
  start(): void {
    this.#running = true;
    this.rearm();
  }

  /** Stops the sweep; open windows stay open until {@link flush}. Idempotent. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** The window offset a device with this IP gets. */
  offsetFor(ip: string): number {
    return summaryOffsetMs(ip, this.#opts.summaryIntervalMs);
  }

  /** Records a reply in the window containing `slotMs`. */
  recordReply(d: WindowedDevice, slotMs: number, rttMs: number): void {
    const slot = this.#slotFor(d, slotMs);
    if (slot >= 0) this.#pool.recordReply(slot, rttMs, this.#random);
  }

  /** Records a probe the host did not answer. */
  recordLoss(d: WindowedDevice, slotMs: number): void {
    const slot = this.#slotFor(d, slotMs);
    if (slot >= 0) this.#pool.recordLoss(slot);
  }

  /** Records a probe the agent could not judge (agent_overloaded, agent_error). */
  recordOverloaded(d: WindowedDevice, slotMs: number): void {
    const slot = this.#slotFor(d, slotMs);
    if (slot >= 0) this.#pool.recordOverloaded(slot);
  }

  /** Records a slot skipped because the breaker was open. */
  recordSuspended(d: WindowedDevice, slotMs: number): void {
    const slot = this.#slotFor(d, slotMs);
    if (slot >= 0) this.#pool.recordSuspended(slot);
  }

  /**
   * Records `count` slots the agent let pass unprobed, `afterSlotMs + k × interval` (the device's
   * interval) for k = 1..count, each in the window it belongs to.
   */
  recordMissed(d: WindowedDevice, afterSlotMs: number, count: number): void {
    const windowMs = this.#opts.summaryIntervalMs;
    const intervalMs = d.ownIntervalMs ?? this.#opts.intervalMs;
    if (windowMs <= 0 || count <= 0) return;
    let first = afterSlotMs + intervalMs;
    let left = count;
    while (left > 0) {
      const windowEnd = (Math.floor((first - d.summaryOffset) / windowMs) + 1) * windowMs + d.summaryOffset;
      const n = Math.min(left, Math.max(1, Math.ceil((windowEnd - first) / intervalMs)));
      const slot = this.#slotFor(d, first);
      if (slot >= 0) this.#pool.recordMissed(slot, n);
      left -= n;
      first += n * intervalMs;
    }
  }

  /** Records a slot skipped because the previous probe was still in flight. */
  recordSkipped(d: WindowedDevice, slotMs: number): void {
    const slot = this.#slotFor(d, slotMs);
    if (slot >= 0) this.#pool.recordSkipped(slot);
  }

  /** Writes the device's open window, if any, and clears it. */
  flush(d: WindowedDevice): void {
    this.#flush(d, this.#opts.summaryIntervalMs);
  }

  /** A device leaves for good: its open window is written and its slot freed. */
  release(d: WindowedDevice): void {
    this.flush(d);
    if (d.summary >= 0) this.#pool.release(d.summary);
    d.summary = -1;
  }

  /**
   * Applies new options. A new summary interval or sample cap closes the open windows of
   * `devices` under the old settings and starts a fresh pool; a changed ping interval alone keeps
   * the pool (a shorter one makes p50/p95 reservoir-sampled).
   */
  reconfigure(next: SummaryWindowOptions, devices: Iterable<WindowedDevice>): void {
    const old = this.#opts;
    this.#opts = { ...next };
    if (next.summaryIntervalMs === old.summaryIntervalMs && next.summaryMaxSamples === old.summaryMaxSamples) return;
    for (const d of devices) {
      this.#flush(d, old.summaryIntervalMs);
      d.summary = -1;
      d.summaryOffset = summaryOffsetMs(d.ip, next.summaryIntervalMs);
    }
    this.#pool = newPool(next);
    this.rearm();
  }

  /**
   * Arms the sweep for the next moment a window ends more than one interval + timeout ago (the
   * latest its last result can arrive); called again after a wall-clock jump.
   */
  rearm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const windowMs = this.#opts.summaryIntervalMs;
    if (!this.#running || windowMs <= 0) return;
    const grace = this.#opts.intervalMs + this.#opts.timeoutMs;
    const now = this.#clock.now();
    const nextAt = (Math.floor((now - grace) / windowMs) + 1) * windowMs + grace;
    this.#timer = this.#clock.setTimeout(() => this.#sweep(), Math.min(MAX_SWEEP_DELAY_MS, nextAt - now));
  }

  /** Writes the ended windows of devices without a result since (skipped, paced or rate-limited ones). */
  #sweep(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    const windowMs = this.#opts.summaryIntervalMs;
    const settled = this.#clock.now() - this.#opts.intervalMs - this.#opts.timeoutMs;
    const pool = this.#pool;
    for (const d of this.#devices()) {
      const slot = d.summary;
      const cutoff = Math.floor((settled - d.summaryOffset) / windowMs);
      if (slot < 0 || d.inFlight || d.paced || pool.windowIndex(slot) >= cutoff) continue;
      if (!pool.isEmpty(slot)) this.#emit(d, slot, windowMs);
      pool.reset(slot, cutoff);
    }
    this.rearm();
  }

  /**
   * The device's pool slot for the window containing `slotMs` (-1 when summaries are off),
   * writing out the previous window first when a new one starts.
   */
  #slotFor(d: WindowedDevice, slotMs: number): number {
    const windowMs = this.#opts.summaryIntervalMs;
    if (windowMs <= 0) return -1;
    const w = Math.floor((slotMs - d.summaryOffset) / windowMs);
    if (d.summary < 0) {
      d.summary = this.#pool.alloc(w);
    } else if (w > this.#pool.windowIndex(d.summary)) {
      if (!this.#pool.isEmpty(d.summary)) this.#emit(d, d.summary, windowMs);
      this.#pool.reset(d.summary, w);
    }
    return d.summary;
  }

  #flush(d: WindowedDevice, windowMs: number): void {
    const slot = d.summary;
    if (slot < 0 || windowMs <= 0) return;
    if (!this.#pool.isEmpty(slot)) this.#emit(d, slot, windowMs);
    this.#pool.reset(slot, this.#pool.windowIndex(slot));
  }

  #emit(d: WindowedDevice, slot: number, windowMs: number): void {
    this.#written++;
    this.#write(
      pingSummaryPoint(
        d.ip,
        this.#pool.snapshot(slot, this.#pool.windowIndex(slot) * windowMs + d.summaryOffset),
        this.#opts.summaryNaming,
      ),
    );
  }
}
