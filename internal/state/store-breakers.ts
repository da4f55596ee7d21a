import type { Clock, TimerHandle } from '../clock/clock.js';
import type { BreakerState } from '../model/device.js';
import type { DeviceEventQueue } from './device-events.js';
import type { DeviceSlots } from './device-slots.js';
import { Breaker, SuspensionTracker } from './suspensions.js';

/** A probe kind with its own circuit breaker. */
export type BreakerKind = 'ping' | 'snmp';

const NO_BREAKER: BreakerState = Object.freeze({ consecutiveFails: 0, suspendedUntilMs: 0 });

/** The public, frozen-when-idle view of a breaker. */
export function breakerView(b: Breaker | undefined): BreakerState {
  return b === undefined || (b.fails === 0 && b.untilMs === 0)
    ? NO_BREAKER
    : { consecutiveFails: b.fails, suspendedUntilMs: b.untilMs };
}

/** Options for {@link StoreBreakers}. */
export interface StoreBreakersOptions {
  /** The store's device records; breakers live in them by slot. */
  slots: DeviceSlots;
  /** The store's event queue ('suspended', 'resumed'). */
  events: DeviceEventQueue;
  /** Timer source for the expiry timer. */
  clock: Clock;
  /** The store's reading of the wall clock (it notices the clock stepping back). */
  now: () => number;
}

/**
 * The device store's ping and SNMP circuit breakers and their exact suspended counts: one
 * {@link SuspensionTracker} per kind, and while started one timer armed for the earliest
 * suspension end, so 'resumed' is emitted on time. Callers flush the event queue.
 */
export class StoreBreakers {
  readonly #slots: DeviceSlots;
  readonly #events: DeviceEventQueue;
  readonly #clock: Clock;
  readonly #now: () => number;
  // Heap owners are slot numbers. A slot is reused only after its device's breakers were
  // untracked, and the tracker reports only live nodes, so an owner always names the right device.
  readonly #ping = new SuspensionTracker<number>();
  readonly #snmp = new SuspensionTracker<number>();
  readonly #onPingEnd = (s: number): void => this.#emitResumed(this.#slots.ip(s), 'ping');
  readonly #onSnmpEnd = (s: number): void => this.#emitResumed(this.#slots.ip(s), 'snmp');
  #running = false;
  #timer: TimerHandle | undefined = undefined;
  #dueMs = Infinity;

  constructor(opts: StoreBreakersOptions) {
    this.#slots = opts.slots;
    this.#events = opts.events;
    this.#clock = opts.clock;
    this.#now = opts.now;
  }

  /** Suspensions counted now, without expiring any (for logs). */
  counted(kind: BreakerKind): number {
    return (kind === 'ping' ? this.#ping : this.#snmp).active;
  }

  /** Active suspensions of `kind` at `now`: expired ones are ended first (emitting 'resumed'). */
  activeCount(kind: BreakerKind, now: number): number {
    const tracker = kind === 'ping' ? this.#ping : this.#snmp;
    tracker.expire(now, kind === 'ping' ? this.#onPingEnd : this.#onSnmpEnd);
    return tracker.active;
  }

  /** Starts the expiry timer. */
  start(): void {
    this.#running = true;
    this.#onTimer();
  }

  /** Cancels the expiry timer. Idempotent. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** A success of `kind`: fails reset, suspension cleared ('resumed' if one was counted). */
  succeed(s: number, kind: BreakerKind): void {
    const b = kind === 'ping' ? this.#slots.pingBreaker(s) : this.#slots.snmpBreaker(s);
    if (b === undefined) return;
    b.fails = 0;
    b.untilMs = 0;
    if ((kind === 'ping' ? this.#ping : this.#snmp).untrack(b)) this.#emitResumed(this.#slots.ip(s), kind);
  }

  /** A failure of `kind` at `now`; returns true when it tripped the breaker. */
  fail(s: number, kind: BreakerKind, opts: { maxFails: number; backoffMs: number; now: number }): boolean {
    const { maxFails, backoffMs, now } = opts;
    const slots = this.#slots;
    const tracker = kind === 'ping' ? this.#ping : this.#snmp;
    let b = kind === 'ping' ? slots.pingBreaker(s) : slots.snmpBreaker(s);
    if (b === undefined) {
      b = new Breaker();
      if (kind === 'ping') slots.setPingBreaker(s, b);
      else slots.setSnmpBreaker(s, b);
    }
    // A suspension that ran out unread ends here, before any re-trip, so it is never counted twice (Go's bug R2).
    if (b.expiry !== undefined && b.untilMs <= now && tracker.untrack(b)) this.#emitResumed(slots.ip(s), kind);
    b.fails++;
    if (b.fails < maxFails) return false;
    b.fails = 0;
    b.untilMs = now + backoffMs;
    if (now < b.untilMs) this.suspend(s, kind, b);
    else if (tracker.untrack(b)) this.#emitResumed(slots.ip(s), kind);
    return true;
  }

  /** Counts `b` (of device slot `s`) as suspended until `b.untilMs` and emits 'suspended'. */
  suspend(s: number, kind: BreakerKind, b: Breaker): void {
    (kind === 'ping' ? this.#ping : this.#snmp).track(s, b);
    if (this.#events.listening)
      this.#events.push({ type: 'suspended', ip: this.#slots.ip(s), kind, untilMs: b.untilMs });
    this.#arm();
  }

  /** Stops counting the breakers of a device being removed (active or expired-but-unread: Go bugs D and R1). */
  untrack(s: number): void {
    const ping = this.#slots.pingBreaker(s);
    if (ping !== undefined) this.#ping.untrack(ping);
    const snmp = this.#slots.snmpBreaker(s);
    if (snmp !== undefined) this.#snmp.untrack(snmp);
  }

  // Suspensions already counted out may be active again under the earlier time: count them back
  // in (emitting 'suspended'), so counts stay equal to "now < untilMs". O(n), once per step.
  /** After the wall clock stepped back to `now`: re-counts suspensions active again. */
  recount(now: number): void {
    const slots = this.#slots;
    for (let s = slots.first; s >= 0; s = slots.next(s)) {
      const ping = slots.pingBreaker(s);
      if (ping !== undefined && ping.expiry === undefined && now < ping.untilMs) this.suspend(s, 'ping', ping);
      const snmp = slots.snmpBreaker(s);
      if (snmp !== undefined && snmp.expiry === undefined && now < snmp.untilMs) this.suspend(s, 'snmp', snmp);
    }
  }

  #emitResumed(ip: string, kind: BreakerKind): void {
    if (this.#events.listening) this.#events.push({ type: 'resumed', ip, kind });
  }

  // Pops every expired suspension (emitting 'resumed'), then sleeps until the earliest end time left.
  #onTimer(): void {
    this.#timer = undefined;
    this.#dueMs = Infinity;
    if (!this.#running) return;
    const now = this.#now();
    this.#ping.expire(now, this.#onPingEnd);
    this.#snmp.expire(now, this.#onSnmpEnd);
    this.#events.flush();
    this.#arm();
  }

  #arm(): void {
    if (!this.#running) return;
    const a = this.#ping.nextMs();
    const b = this.#snmp.nextMs();
    const next = a === undefined ? b : b === undefined ? a : Math.min(a, b);
    if (next === undefined || next >= this.#dueMs) return;
    this.#timer?.cancel();
    this.#dueMs = next;
    this.#timer = this.#clock.setTimeout(() => this.#onTimer(), next - this.#clock.now());
  }
}
