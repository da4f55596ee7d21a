import { monoMs, type Clock, type TimerHandle } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';
import { phaseMs, slotAfter, slotsBetween } from './phase.js';
import { SlotHeap, type HeapItem } from './slot-heap.js';
import type { LimitedErrorLog } from '../log/log-limiter.js';

/** What the pacer keeps on each device (the scheduler's entry). */
export interface PacedDevice extends HeapItem {
  readonly ip: string;
  /** Phase within the device's interval, ms. */
  phase: number;
  /** The device's own interval, ms; undefined = the global `intervalMs` (and a new one re-phases it). */
  readonly ownIntervalMs?: number | undefined;
  /** Next slot; while `paced`, the slot being served. */
  slotMs: number;
  /** In the heap at a token-granted send time rather than at a slot. */
  paced: boolean;
  /** The device left its schedule; it is never served again. */
  readonly removed: boolean;
}

/** What the monitored devices ask of the rate limiter. */
export interface PingLoad {
  /** Devices with a schedule. */
  devices: number;
  /** Of those, devices with their own interval. */
  ownInterval: number;
  /** Probes per second every device at its own interval needs: the sum of 1000 / interval. */
  perSec: number;
}

/** The settings that shape slots and pacing; the scheduler's options satisfy it. */
export interface SlotPacerOptions {
  /** Time between two slots of a device without an interval of its own, ms. */
  intervalMs: number;
  /** Sustained send rate, probes per second. */
  ratePerSec: number;
  /** Token-bucket capacity, probes. */
  burst: number;
  /** Most slots served per timer callback before yielding to I/O. */
  maxDispatchPerTick: number;
  /** Disagreement between wall-clock and monotonic elapsed time that triggers a reschedule, ms. */
  clockJumpThresholdMs: number;
}

/** Collaborators of {@link SlotPacer}. */
export interface SlotPacerDeps<E extends PacedDevice> {
  /** Time source for slots, the timer and the token bucket. */
  clock: Clock;
  /** Where clock jumps and the rate warning are logged. */
  log: Logger;
  /** Where a failing `serve` is logged. */
  errors: LimitedErrorLog;
  /** Serves a device whose slot (or token-granted send time) has come; it was popped from the heap. */
  serve: (e: E, nowMs: number) => void;
  /** What the scheduled devices need right now, for the rate warning. */
  load: () => PingLoad;
  /** Called after a wall-clock jump rescheduled every device. */
  onClockJump: () => void;
  /** Called when `count` slots of `e` after `afterSlotMs` passed unserved (they are `afterSlotMs + k × interval`). */
  onMissed?: (e: E, afterSlotMs: number, count: number) => void;
}

const MAX_TIMER_DELAY_MS = 10_000;

/**
 * When each device is served: every device sits in one indexed min-heap at its next slot, and one
 * clock timer is armed for the earliest. A device whose send must wait for the global token
 * bucket is parked in the heap at its token-granted time (`paced`). Also owns the two things that
 * move every slot at once: a wall-clock jump and a rate too low to serve every device.
 */
export class SlotPacer<E extends PacedDevice> {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #errors: LimitedErrorLog;
  readonly #serve: (e: E, nowMs: number) => void;
  readonly #load: () => PingLoad;
  readonly #onClockJump: () => void;
  readonly #onMissed: ((e: E, afterSlotMs: number, count: number) => void) | undefined;
  readonly #heap = new SlotHeap<E>();
  readonly #bucket: TokenBucket;
  #opts: SlotPacerOptions;
  #running = false;
  #firing = false;
  #timer: TimerHandle | undefined;
  #armedDueMs = Number.POSITIVE_INFINITY;
  #lastWallMs = 0;
  #lastMonoMs = 0;
  #rateTimer: TimerHandle | undefined;
  #rateWarned = false;
  #missed = 0;

  constructor(deps: SlotPacerDeps<E>, opts: SlotPacerOptions) {
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#errors = deps.errors;
    this.#serve = deps.serve;
    this.#load = deps.load;
    this.#onClockJump = deps.onClockJump;
    this.#onMissed = deps.onMissed;
    this.#opts = { ...opts };
    this.#bucket = new TokenBucket({ ratePerSec: opts.ratePerSec, burst: opts.burst, clock: deps.clock });
  }

  /** Slots that passed while a device waited for the rate limiter or the agent was late. */
  get missedSlotsTotal(): number {
    return this.#missed;
  }

  /** Starts the timer; devices added before move to their first slot from now. */
  start(): void {
    this.#running = true;
    this.#lastWallMs = this.#clock.now();
    this.#lastMonoMs = monoMs(this.#clock);
    this.#resetSlots(this.#lastWallMs, false, []);
    this.#arm();
  }

  /** Stops the timer and the pending rate warning. Idempotent. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#rateTimer?.cancel();
    this.#rateTimer = undefined;
  }

  /** The interval `e` is served at, ms: its own, else the global one. */
  intervalOf(e: E): number {
    return e.ownIntervalMs ?? this.#opts.intervalMs;
  }

  /**
   * `e`'s interval changed (set `e.ownIntervalMs` first): re-phases it to hash(ip) mod its
   * interval and moves it to its first new slot from now; a token it waited for is handed back.
   */
  rephase(e: E): void {
    const intervalMs = this.intervalOf(e);
    e.phase = phaseMs(e.ip, intervalMs);
    if (e.removed) return;
    if (this.#heap.remove(e) && e.paced) {
      this.#bucket.cancel();
      e.paced = false;
    }
    e.slotMs = slotAfter(e.phase, intervalMs, this.#clock.now() - 1);
    this.#heap.push(e, e.slotMs);
    this.#arm();
  }

  /** Puts `e` in the heap at `e.slotMs`. */
  add(e: E): void {
    this.#heap.push(e, e.slotMs);
    this.#arm();
  }

  /** Takes `e` out of the heap, handing back its token when it was waiting for one. */
  remove(e: E): void {
    if (this.#heap.remove(e) && e.paced) {
      this.#bucket.cancel();
      e.paced = false;
    }
  }

  /**
   * Takes a token for `e`, whose slot has come. False when it must wait: `e` is then back in the
   * heap at its token-granted time and is served again then, still for the same slot.
   */
  takeToken(e: E, nowMs: number): boolean {
    const waitMs = this.#bucket.reserve();
    if (waitMs <= 0) return true;
    e.paced = true;
    this.#heap.push(e, nowMs + waitMs);
    return false;
  }

  /** Puts `e` back in the heap at its first slot after both `servedSlot` and `now`, counting slots passed over. */
  reschedule(e: E, servedSlot: number, now: number): void {
    const intervalMs = this.intervalOf(e);
    const missed = slotsBetween(e.phase, intervalMs, servedSlot, now);
    if (missed > 0) {
      this.#missed += missed;
      this.#onMissed?.(e, servedSlot, missed);
    }
    e.slotMs = slotAfter(e.phase, intervalMs, Math.max(servedSlot, now));
    this.#heap.push(e, e.slotMs);
    this.#arm();
  }

  /**
   * Applies new options. A new rate or burst hands back the tokens of waiting devices, which
   * reserve again at their own slots under the new rate; a new interval re-phases every device
   * without an interval of its own (and such `draining` ones, the removed ones whose probe is
   * still out, so a re-add finds them in phase).
   */
  reconfigure(next: SlotPacerOptions, draining: Iterable<E>): void {
    const old = this.#opts;
    this.#opts = { ...next };
    if (next.ratePerSec !== old.ratePerSec || next.burst !== old.burst) {
      this.#bucket.setRate(next.ratePerSec, next.burst);
      let requeued = 0;
      for (const e of this.#heap.values()) {
        if (!e.paced) continue;
        this.#bucket.cancel();
        e.paced = false;
        e.dueMs = e.slotMs;
        requeued++;
      }
      if (requeued > 0) this.#rebuildHeap();
    }
    if (next.intervalMs !== old.intervalMs) this.#resetSlots(this.#clock.now(), true, draining);
    if (next.ratePerSec !== old.ratePerSec || next.intervalMs !== old.intervalMs) {
      this.#rateWarned = false;
      this.checkRate();
    }
  }

  /** Warns once (after a 1 s debounce, so a discovery burst is summarised) when the rate cannot serve every device at its interval. */
  checkRate(): void {
    if (!this.#running) return;
    const { ratePerSec } = this.#opts;
    const { devices, perSec } = this.#load();
    if (this.#rateWarned) {
      if (perSec <= 0.9 * ratePerSec) {
        this.#rateWarned = false;
        this.#log.info(
          { count: devices, rate_limit: ratePerSec },
          'ping_rate_limit now serves every device at its ping_interval',
        );
      }
      return;
    }
    if (perSec <= ratePerSec || this.#rateTimer !== undefined) return;
    this.#rateTimer = this.#clock.setTimeout(() => this.#warnRate(), 1000);
  }

  #warnRate(): void {
    this.#rateTimer = undefined;
    if (!this.#running || this.#rateWarned) return;
    const { intervalMs, ratePerSec } = this.#opts;
    const { devices: count, ownInterval, perSec: need } = this.#load();
    if (need <= ratePerSec) return;
    this.#rateWarned = true;
    const effectiveMs = Math.ceil((intervalMs * need) / ratePerSec);
    const what =
      ownInterval === 0
        ? `every ${intervalMs} ms; each device is pinged about every ${effectiveMs} ms`
        : `at their intervals (${count - ownInterval} every ${intervalMs} ms, ${ownInterval} at their own, ${Math.ceil(need)}/s in all); each device is pinged about ${Math.round((100 * need) / ratePerSec) / 100} times less often (every ${effectiveMs} ms at ${intervalMs} ms)`;
    this.#log.warn(
      {
        count,
        own_interval_count: ownInterval,
        interval_ms: intervalMs,
        rate_limit: ratePerSec,
        needed_rate: Math.ceil(need),
        effective_interval_ms: effectiveMs,
      },
      `ping_rate_limit ${ratePerSec}/s cannot ping ${count} devices ${what} (raise ping_rate_limit to at least ${Math.ceil(need)})`,
    );
  }

  /** Arms the one clock timer for the earliest due device, unless an earlier one is armed. */
  #arm(): void {
    if (!this.#running || this.#firing) return;
    const top = this.#heap.peek();
    if (top === undefined) return;
    if (this.#timer !== undefined && this.#armedDueMs <= top.dueMs) return;
    this.#timer?.cancel();
    const now = this.#clock.now();
    const delay = Math.min(Math.max(0, top.dueMs - now), MAX_TIMER_DELAY_MS);
    this.#armedDueMs = now + delay;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedDueMs = Number.POSITIVE_INFINITY;
    if (!this.#running) return;
    this.#checkClockJump();
    const now = this.#clock.now();
    const max = this.#opts.maxDispatchPerTick;
    this.#firing = true;
    try {
      for (let n = 0; n < max; n++) {
        const top = this.#heap.popDue(now);
        if (top === undefined) break;
        try {
          this.#serve(top, now);
        } catch (err) {
          this.#errors.error('serve', { err, ip: top.ip }, 'ping slot failed; device stays scheduled');
          if (!top.removed && !this.#heap.has(top)) this.reschedule(top, top.slotMs, now);
        }
      }
    } finally {
      this.#firing = false;
    }
    this.#arm();
  }

  /** Restores heap order after due times changed in place, and re-arms the timer for the new top. */
  #rebuildHeap(): void {
    this.#heap.rebuild();
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#arm();
  }

  /**
   * Moves every device in the heap to its first slot at or after `now`; with `rephase`, recomputes
   * the phases of the devices at the global interval (also of `others`).
   */
  #resetSlots(now: number, rephase: boolean, others: Iterable<E>): void {
    for (const e of this.#heap.values()) {
      const intervalMs = this.intervalOf(e);
      if (rephase && e.ownIntervalMs === undefined) e.phase = phaseMs(e.ip, intervalMs);
      if (e.paced) continue;
      e.slotMs = slotAfter(e.phase, intervalMs, now - 1);
      e.dueMs = e.slotMs;
    }
    if (rephase)
      for (const e of others) if (e.ownIntervalMs === undefined) e.phase = phaseMs(e.ip, this.#opts.intervalMs);
    this.#rebuildHeap();
  }

  #checkClockJump(): void {
    const wall = this.#clock.now();
    const mono = monoMs(this.#clock);
    const driftMs = wall - this.#lastWallMs - (mono - this.#lastMonoMs);
    this.#lastWallMs = wall;
    this.#lastMonoMs = mono;
    if (Math.abs(driftMs) <= this.#opts.clockJumpThresholdMs) return;
    this.#log.warn({ jump_ms: Math.round(driftMs) }, 'wall clock jumped; rescheduling every device from now');
    for (const e of this.#heap.values()) if (e.paced) e.dueMs += driftMs;
    this.#resetSlots(wall, false, []);
    this.#onClockJump();
  }
}
