import type { Clock, TimerHandle } from '../clock/clock.js';
import { backoffDelayMs, type BackoffOptions, type ClassifiedWriteError } from './classify.js';

/** What the writer is doing: `writing` normally; `spooling`/`buffering` while the server fails (with/without a spool). */
export type WriterState = 'idle' | 'writing' | 'spooling' | 'buffering' | 'stopped';

/**
 * Where the writer is in its life: `idle` (not started, or its start failed), `starting` (the
 * spool is opening), `running`, `draining` (close() sends what is queued), `halted` (the close
 * deadline passed: no new request), `closed` (close() before any start: nothing ran).
 */
export type Phase = 'idle' | 'starting' | 'running' | 'draining' | 'halted' | 'closed';

/** While failing, requests wait for the backoff, then one probe may go; its outcome decides. */
export type Probe =
  { readonly kind: 'backoff' } | { readonly kind: 'due' } | { readonly kind: 'in_flight'; readonly ticket: number };

/** Whether the server takes our requests. */
export type Output =
  | { readonly kind: 'writing' }
  | {
      readonly kind: 'failing';
      /** The last failure (redacted). */
      readonly error: ClassifiedWriteError;
      /** Consecutive failed probes, for the backoff. */
      readonly failures: number;
      /** When the outage began, ms since the epoch. */
      readonly sinceMs: number;
      readonly probe: Probe;
    };

/** The spool's own trouble: it refused a batch (`broken` until `retryAtMs`), or a read failed. */
export interface SpoolHealth {
  /** `broken` keeps sealed batches in memory until `retryAtMs` (a full disk may be cleaned up meanwhile). */
  readonly write: { readonly kind: 'ok' } | { readonly kind: 'broken'; readonly retryAtMs: number };
  /** `failing` from a failed read until the next successful one (one log line per episode). */
  readonly read: 'ok' | 'failing';
}

/** The whole state of {@link OutputHealth} at one moment. */
export interface OutputHealthState {
  readonly phase: Phase;
  readonly output: Output;
  readonly spool: SpoolHealth;
}

/** Options for {@link OutputHealth}. */
export interface OutputHealthOptions extends BackoffOptions {
  /** Time source for the probe timer and the spool retry. */
  clock: Clock;
  /** Random source in [0, 1) for backoff jitter. */
  random: () => number;
  /** Whether the writer has a spool (a failing writer without one is `buffering`). */
  hasSpool: boolean;
  /** Called when a probe becomes due (senders wake up). */
  onProbeDue: () => void;
}

/** What {@link OutputHealth.fail} decided, for the writer's log line. */
export interface FailVerdict {
  /** The retry delay armed, in ms. */
  delayMs: number;
  /** True when the output was writing, or the failure class changed: worth one log line. */
  newEpisode: boolean;
}

/** How long a spool that failed to take a batch is left alone before it is tried again. */
export const SPOOL_RETRY_MS = 30_000;

// A Retry-After beyond this is treated as this: the spool holds the data meanwhile anyway.
const MAX_RETRY_AFTER_MS = 300_000;

const lifecycle: Readonly<Record<Phase, readonly Phase[]>> = {
  idle: ['starting', 'closed'],
  starting: ['running', 'idle', 'draining'],
  running: ['draining'],
  // A start whose spool failed to open while close() waited for it: nothing ran.
  draining: ['halted', 'closed'],
  halted: [],
  closed: [],
};

/**
 * The writer's state machine: its phase, the output's health (writing, or failing with one
 * probe per backoff period), and the spool's own trouble. Every change is a named transition;
 * an illegal phase change throws (a programmer error). Owns the probe timer.
 */
export class OutputHealth {
  readonly #o: OutputHealthOptions;
  #phase: Phase = 'idle';
  #output: Output = { kind: 'writing' };
  #spool: SpoolHealth = { write: { kind: 'ok' }, read: 'ok' };
  #tickets = 0;
  #probeTimer: TimerHandle | undefined;

  constructor(opts: OutputHealthOptions) {
    this.#o = opts;
  }

  /** The whole state, for tests and diagnostics. */
  snapshot(): OutputHealthState {
    return { phase: this.#phase, output: this.#output, spool: this.#spool };
  }

  /** start() was called (or it was, before close()): senders may exist and batches may go to the spool. */
  get started(): boolean {
    return (
      this.#phase === 'starting' || this.#phase === 'running' || this.#phase === 'draining' || this.#phase === 'halted'
    );
  }

  /** close() was called: new points are refused and the spool is not read any more. */
  get closed(): boolean {
    return this.#phase === 'draining' || this.#phase === 'halted' || this.#phase === 'closed';
  }

  /** The close deadline passed: no request may start. */
  get halted(): boolean {
    return this.#phase === 'halted';
  }

  /** The last failure while failing; undefined while writing. */
  get failure(): ClassifiedWriteError | undefined {
    return this.#output.kind === 'failing' ? this.#output.error : undefined;
  }

  /** The spool refused a batch and is left alone until its retry time. */
  get spoolBroken(): boolean {
    return this.#spool.write.kind === 'broken';
  }

  /** The last spool read failed. */
  get spoolReadFailing(): boolean {
    return this.#spool.read === 'failing';
  }

  /** The state reported in stats and readiness. */
  reported(): WriterState {
    if (this.closed) return 'stopped';
    if (!this.started) return 'idle';
    if (this.#output.kind === 'writing') return 'writing';
    return this.#o.hasSpool && !this.spoolBroken ? 'spooling' : 'buffering';
  }

  /** Points are written or kept safely in the spool; false when failing without a (working) spool, on a config error, or stopped. */
  healthy(): boolean {
    const st = this.reported();
    return st === 'writing' || (st === 'spooling' && this.failure?.errorClass !== 'config');
  }

  /** idle → starting. */
  start(): void {
    this.#move('starting');
  }

  /** starting → running; false (and no change) when close() came first. */
  opened(): boolean {
    if (this.#phase !== 'starting') return false;
    this.#move('running');
    return true;
  }

  /** The spool would not open: starting → idle, or draining → closed when close() waits. */
  startFailed(): void {
    this.#move(this.#phase === 'draining' ? 'closed' : 'idle');
  }

  /** close(): idle → closed, starting/running → draining. */
  close(): void {
    this.#move(this.started ? 'draining' : 'closed');
  }

  /** draining → halted: the close deadline passed. */
  halt(): void {
    this.#move('halted');
  }

  /** Cancels the probe timer (the writer is done). */
  stopTimers(): void {
    this.#probeTimer?.cancel();
  }

  /** May a sender start a request now? All may while writing; one probe per backoff period while failing. */
  mayStartRequest(): boolean {
    return this.#output.kind === 'writing' || this.#output.probe.kind === 'due';
  }

  /**
   * A sender starts a request (after {@link mayStartRequest}): while failing it is the probe,
   * and the ticket returned names it; undefined while writing.
   */
  takeProbe(): number | undefined {
    if (this.#output.kind !== 'failing' || this.#output.probe.kind !== 'due') return undefined;
    const ticket = ++this.#tickets;
    this.#output = { ...this.#output, probe: { kind: 'in_flight', ticket } };
    return ticket;
  }

  /** The probe ended without a verdict (no batch to send, or it was not sent): the next one may go. */
  probeEnded(ticket: number | undefined): void {
    const out = this.#output;
    if (ticket === undefined || out.kind !== 'failing' || out.probe.kind !== 'in_flight' || out.probe.ticket !== ticket)
      return;
    this.#output = { ...out, probe: { kind: 'due' } };
  }

  /** A request succeeded: failing → writing. Returns how long the outage lasted, in ms, or undefined if there was none. */
  succeeded(nowMs: number): number | undefined {
    if (this.#output.kind !== 'failing') return undefined;
    const failedForMs = nowMs - this.#output.sinceMs;
    this.#output = { kind: 'writing' };
    this.#probeTimer?.cancel();
    return failedForMs;
  }

  /**
   * A request failed with a retryable class. Writing → failing, or the current probe failed:
   * back off again (Retry-After honoured). A failure of another request while failing changes
   * nothing (undefined): only the probe speaks for the output.
   */
  fail(error: ClassifiedWriteError, probe: number | undefined, nowMs: number): FailVerdict | undefined {
    const was = this.#output;
    if (was.kind === 'failing' && !(was.probe.kind === 'in_flight' && was.probe.ticket === probe)) return undefined;
    const failures = was.kind === 'failing' ? was.failures + 1 : 1;
    const delayMs =
      error.retryAfterMs === undefined
        ? backoffDelayMs(failures, this.#o, this.#o.random)
        : Math.min(error.retryAfterMs, MAX_RETRY_AFTER_MS);
    this.#output = {
      kind: 'failing',
      error,
      failures,
      sinceMs: was.kind === 'failing' ? was.sinceMs : nowMs,
      probe: { kind: 'backoff' },
    };
    // Driven by the timer alone: a real timer may fire a millisecond before the wall clock agrees.
    this.#probeTimer?.cancel();
    this.#probeTimer = this.#o.clock.setTimeout(() => this.#probeDue(), delayMs);
    return { delayMs, newEpisode: was.kind !== 'failing' || was.error.errorClass !== error.errorClass };
  }

  /** May sealed batches go to the spool now? A broken spool is tried again once its retry time came. */
  spoolWritable(nowMs: number): boolean {
    const w = this.#spool.write;
    if (w.kind === 'broken' && nowMs >= w.retryAtMs) this.#spool = { ...this.#spool, write: { kind: 'ok' } };
    return this.#spool.write.kind === 'ok';
  }

  /** The spool refused a batch: broken until {@link SPOOL_RETRY_MS} from now. True when it was not broken yet (log once). */
  spoolWriteFailed(nowMs: number): boolean {
    const first = this.#spool.write.kind === 'ok';
    this.#spool = { ...this.#spool, write: { kind: 'broken', retryAtMs: nowMs + SPOOL_RETRY_MS } };
    return first;
  }

  /** A spool read failed. True when the last one had not (log once per episode). */
  spoolReadFailed(): boolean {
    const first = this.#spool.read === 'ok';
    this.#spool = { ...this.#spool, read: 'failing' };
    return first;
  }

  /** A spool read succeeded. */
  spoolReadOk(): void {
    if (this.#spool.read !== 'ok') this.#spool = { ...this.#spool, read: 'ok' };
  }

  #probeDue(): void {
    const out = this.#output;
    if (out.kind !== 'failing' || out.probe.kind !== 'backoff') return;
    this.#output = { ...out, probe: { kind: 'due' } };
    this.#o.onProbeDue();
  }

  #move(to: Phase): void {
    if (!lifecycle[this.#phase].includes(to)) throw new Error(`writer: illegal transition ${this.#phase} -> ${to}`);
    this.#phase = to;
  }
}
