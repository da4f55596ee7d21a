import { writeErrorClasses, type ClassifiedWriteError, type WriteErrorClass } from './classify.js';
import type { WriterState } from './output-health.js';

/** Why points were dropped. Every drop is counted under one of these. */
export type DropReason =
  /** The memory queue was full (no spool, or the spool could not keep up): oldest points dropped. */
  | 'buffer_full'
  /** The spool reached spool_max_bytes: oldest spooled points dropped. */
  | 'spool_full'
  /** The server refused the batch as invalid (400/422). */
  | 'rejected'
  /** A single line was too large for the server (413 after splitting down to one line). */
  | 'too_large'
  /** The point had no representable field (NaN, Infinity, empty measurement). */
  | 'invalid'
  /** Written after close(). */
  | 'closed'
  /** Could not be sent before the close deadline and there is no spool. */
  | 'shutdown';

/** Every drop reason, in a fixed order. */
export const dropReasons: readonly DropReason[] = [
  'buffer_full',
  'spool_full',
  'rejected',
  'too_large',
  'invalid',
  'closed',
  'shutdown',
];

/** Counters and gauges of one writer (a plain object, safe to serialise). */
export interface WriterStats {
  /** Points passed to write(). */
  pointsReceived: number;
  /** Points the server acknowledged. */
  pointsWritten: number;
  /** Points dropped, all reasons. */
  pointsDropped: number;
  /** Points dropped, by reason. */
  droppedByReason: Record<DropReason, number>;
  /** Points appended to the spool since start (cumulative). */
  pointsSpooled: number;
  /** Points in the spool now, not in a request and not yet acknowledged by the server. */
  spoolPoints: number;
  /** Bytes of the spool on disk now. */
  spoolBytes: number;
  /** Points in memory now, waiting for a request or the spool. */
  queueDepth: number;
  /** Points in requests now. */
  inFlightPoints: number;
  /** Requests acknowledged (Go `influxdb_successful_batches`). */
  batchesOk: number;
  /** Requests that failed, any class, every attempt (Go `influxdb_failed_batches`). */
  batchesFailed: number;
  /** Failed requests by class. */
  writeErrors: Record<WriteErrorClass, number>;
  /** Last failure, one line; undefined if none yet. */
  lastError: string | undefined;
  /** Time of the last failure, ms since the epoch; 0 if none. */
  lastErrorMs: number;
  /** Time of the last acknowledged request, ms since the epoch; 0 if none. */
  lastSuccessMs: number;
  /** Current state. */
  state: WriterState;
}

/** The cumulative counters of {@link WriterStats}: they only grow, unlike the gauges (queue depth, spool size). */
const counterKeys = [
  'pointsReceived',
  'pointsWritten',
  'pointsDropped',
  'pointsSpooled',
  'batchesOk',
  'batchesFailed',
] as const;

/** The gauges of {@link WriterStats}: what a writer holds right now. */
const gaugeKeys = ['spoolPoints', 'spoolBytes', 'queueDepth', 'inFlightPoints'] as const;

/** Stats of a writer that has done nothing yet. */
export function emptyWriterStats(): WriterStats {
  return {
    pointsReceived: 0,
    pointsWritten: 0,
    pointsDropped: 0,
    droppedByReason: Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DropReason, number>,
    pointsSpooled: 0,
    spoolPoints: 0,
    spoolBytes: 0,
    queueDepth: 0,
    inFlightPoints: 0,
    batchesOk: 0,
    batchesFailed: 0,
    writeErrors: Object.fromEntries(writeErrorClasses.map((c) => [c, 0])) as Record<WriteErrorClass, number>,
    lastError: undefined,
    lastErrorMs: 0,
    lastSuccessMs: 0,
    state: 'idle',
  };
}

/**
 * Adds the cumulative counters of `from` to `into` and returns `into`. Gauges are left alone: a
 * closed writer's spool is replayed by its successor, which reports it.
 */
export function addWriterCounters(into: WriterStats, from: WriterStats): WriterStats {
  for (const k of counterKeys) into[k] += from[k];
  for (const r of dropReasons) into.droppedByReason[r] += from.droppedByReason[r];
  for (const c of writeErrorClasses) into.writeErrors[c] += from.writeErrors[c];
  return into;
}

/** Adds up the stats of writers running side by side (counters and gauges; the latest error; the first state that is not `writing`). */
export function sumWriterStats(list: readonly WriterStats[]): WriterStats {
  const out = emptyWriterStats();
  for (const s of list) {
    addWriterCounters(out, s);
    for (const k of gaugeKeys) out[k] += s[k];
    if (s.lastErrorMs > out.lastErrorMs) {
      out.lastErrorMs = s.lastErrorMs;
      out.lastError = s.lastError;
    }
    out.lastSuccessMs = Math.max(out.lastSuccessMs, s.lastSuccessMs);
  }
  out.state = list.find((s) => s.state !== 'writing')?.state ?? (list.length > 0 ? 'writing' : 'idle');
  return out;
}

/** Where a batch waits when it is not in a request: the memory queue or the spool. */
export type Holding = 'memory' | 'spool';

/** What the ledger sees from outside, for {@link Ledger.check} to compare with its own books. */
export interface LedgerObservation {
  /** Points the memory queue actually holds (open and sealed batches). */
  queuedPoints?: number;
}

/**
 * The writer's books. Every point received is in exactly one place, so
 *
 *     received + recovered = written + dropped + queued + spooling + inFlight + spooled
 *
 * where `recovered` is what a previous run left in the spool, `queued` is in memory, `spooling`
 * is being appended to the spool, and `spooled` is in the spool but not in a request. Points
 * move only through the named transitions below, each taking from one place what it adds to
 * another; {@link check} verifies the identity and that no place went negative. Transitions
 * never throw: a bug shows up in check(), not as a writer stopped mid-request.
 */
export class Ledger {
  #received = 0;
  #recovered = 0;
  #written = 0;
  #dropped = 0;
  #droppedBy = Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DropReason, number>;
  #queued = 0;
  #spooling = 0;
  #inFlight = 0;
  #inFlightFromSpool = 0;
  #spooled = 0;
  #spooledTotal = 0;
  #batchesOk = 0;
  #batchesFailed = 0;
  #writeErrors = Object.fromEntries(writeErrorClasses.map((c) => [c, 0])) as Record<WriteErrorClass, number>;
  #lastError: string | undefined;
  #lastErrorMs = 0;
  #lastSuccessMs = 0;

  /** Points in memory. */
  get queued(): number {
    return this.#queued;
  }

  /** Points being appended to the spool. */
  get spooling(): number {
    return this.#spooling;
  }

  /** Points dropped so far, all reasons. */
  get dropped(): number {
    return this.#dropped;
  }

  /** write() took a point into the memory queue. */
  accept(): void {
    this.#received++;
    this.#queued++;
  }

  /** write() refused a point (`closed`, `invalid`). */
  refuse(reason: DropReason): void {
    this.#received++;
    this.#drop(reason, 1);
  }

  /** Points left the memory queue unsent (`buffer_full`, `shutdown`). */
  dropQueued(reason: DropReason, n: number): void {
    this.#queued -= n;
    this.#drop(reason, n);
  }

  /** A sealed batch left memory for the spool; its append is under way. */
  spoolBegin(n: number): void {
    this.#queued -= n;
    this.#spooling += n;
  }

  /** The append finished: the batch is in the spool, and `lost` spooled points were dropped to make room. */
  spoolEnd(n: number, lost: number): void {
    this.#spooling -= n;
    this.#spooled += n;
    this.#spooledTotal += n;
    this.dropSpooled('spool_full', lost);
  }

  /** Points in the spool (not in a request) are gone (`spool_full`). */
  dropSpooled(reason: DropReason, n: number): void {
    this.#spooled -= n;
    this.#drop(reason, n);
  }

  /** The append failed: the batch is back in memory. */
  spoolRefused(n: number): void {
    this.#spooling -= n;
    this.#queued += n;
  }

  /** The spool holds `n` points from a previous run. */
  recover(n: number): void {
    this.#recovered += n;
    this.#spooled += n;
  }

  /** A batch went into a request. */
  send(n: number, from: Holding): void {
    if (from === 'memory') {
      this.#queued -= n;
    } else {
      this.#spooled -= n;
      this.#inFlightFromSpool += n;
    }
    this.#inFlight += n;
  }

  /** The server acknowledged `n` points of a request. */
  written(n: number, from: Holding): void {
    this.#leaveRequest(n, from);
    this.#written += n;
  }

  /** `n` points of a request are dropped (`rejected`, `too_large`, or `spool_full` when their segment went meanwhile). */
  dropSent(reason: DropReason, n: number, from: Holding): void {
    this.#leaveRequest(n, from);
    this.#drop(reason, n);
  }

  /** `n` points of a request were not delivered and wait again, in memory or in the spool. */
  unsent(n: number, from: Holding, to: Holding): void {
    this.#leaveRequest(n, from);
    if (to === 'memory') this.#queued += n;
    else this.#spooled += n;
  }

  /** A request was acknowledged. */
  requestOk(nowMs: number): void {
    this.#batchesOk++;
    this.#lastSuccessMs = nowMs;
  }

  /** A request failed (`message` already redacted). */
  requestFailed(error: Pick<ClassifiedWriteError, 'errorClass' | 'message'>, nowMs: number): void {
    this.#batchesFailed++;
    this.#writeErrors[error.errorClass]++;
    this.#lastError = error.message;
    this.#lastErrorMs = nowMs;
  }

  /** The books as {@link WriterStats}, with what only the writer knows. */
  stats(extra: { state: WriterState; spoolBytes: number }): WriterStats {
    return {
      pointsReceived: this.#received,
      pointsWritten: this.#written,
      pointsDropped: this.#dropped,
      droppedByReason: { ...this.#droppedBy },
      pointsSpooled: this.#spooledTotal,
      spoolPoints: this.#spooled,
      spoolBytes: extra.spoolBytes,
      queueDepth: this.#queued + this.#spooling,
      inFlightPoints: this.#inFlight,
      batchesOk: this.#batchesOk,
      batchesFailed: this.#batchesFailed,
      writeErrors: { ...this.#writeErrors },
      lastError: this.#lastError,
      lastErrorMs: this.#lastErrorMs,
      lastSuccessMs: this.#lastSuccessMs,
      state: extra.state,
    };
  }

  /**
   * Throws an Error naming every broken rule: the identity, a place gone negative, the drop
   * reasons not adding up, or (given `seen`) a queue holding other than what the books say.
   * A few additions: cheap enough for a test to call after every step.
   */
  check(seen: LedgerObservation = {}): void {
    const problems: string[] = [];
    const places = {
      received: this.#received,
      recovered: this.#recovered,
      written: this.#written,
      dropped: this.#dropped,
      queued: this.#queued,
      spooling: this.#spooling,
      inFlight: this.#inFlight,
      inFlightFromSpool: this.#inFlightFromSpool,
      spooled: this.#spooled,
    };
    for (const [k, v] of Object.entries(places)) if (!Number.isSafeInteger(v) || v < 0) problems.push(`${k} is ${v}`);
    if (this.#inFlightFromSpool > this.#inFlight)
      problems.push(`inFlightFromSpool ${this.#inFlightFromSpool} > inFlight ${this.#inFlight}`);
    const byReason = dropReasons.reduce((n, r) => n + this.#droppedBy[r], 0);
    if (byReason !== this.#dropped) problems.push(`dropped ${this.#dropped} but by reason ${byReason}`);
    const inn = this.#received + this.#recovered;
    const out = this.#written + this.#dropped + this.#queued + this.#spooling + this.#inFlight + this.#spooled;
    if (inn !== out)
      problems.push(
        `received + recovered = ${inn} but written + dropped + queued + spooling + inFlight + spooled = ${out}`,
      );
    if (seen.queuedPoints !== undefined && seen.queuedPoints !== this.#queued)
      problems.push(`queued ${this.#queued} but the queue holds ${seen.queuedPoints}`);
    if (problems.length > 0)
      throw new Error(`writer books do not balance: ${problems.join('; ')} ${JSON.stringify(places)}`);
  }

  #leaveRequest(n: number, from: Holding): void {
    this.#inFlight -= n;
    if (from === 'spool') this.#inFlightFromSpool -= n;
  }

  #drop(reason: DropReason, n: number): void {
    this.#dropped += n;
    this.#droppedBy[reason] += n;
  }
}
