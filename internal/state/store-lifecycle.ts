import { NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { StorePersistence } from './store-persistence.js';

/** A part of the device store with a timer that runs only while the store is started. */
export interface TimedPart {
  /** Arms the part's timer. */
  start(): void;
  /** Cancels the part's timer. */
  stop(): void;
}

/** What {@link StoreLifecycle} starts and stops. */
export interface StoreLifecycleParts {
  /** The state file: restored at start, snapshotted while running, written a last time at stop. */
  persistence: Pick<StorePersistence, 'restore' | 'start' | 'stopTimer' | 'finalSnapshot'>;
  /** The prune timer. */
  retention: TimedPart;
  /** The suspension expiry timer. */
  breakers: TimedPart;
  /** The store's logger. */
  log: Logger;
  /** Fields of the 'device state started' line. */
  startedFields: () => Record<string, unknown>;
}

/**
 * Start and stop of the device store, each idempotent: start restores the state file, then arms
 * the prune, snapshot and expiry timers; stop cancels them, waits for a start in progress and
 * writes the final snapshot, but only after a restore (a store that never restored must not
 * overwrite the file). A stopped store does not start again.
 */
export class StoreLifecycle {
  readonly #parts: StoreLifecycleParts;
  #startPromise: Promise<void> | undefined = undefined;
  #stopPromise: Promise<void> | undefined = undefined;
  #stopRequested = false;
  #restored = false;

  constructor(parts: StoreLifecycleParts) {
    this.#parts = parts;
  }

  /** Starts once; later calls share the first call's completion. Rejects after {@link stop}. */
  start(): Promise<void> {
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  /** Stops once; later calls share the first call's completion. */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  async #start(): Promise<void> {
    if (this.#stopRequested)
      throw new NetscanError('ERR_STATE', 'DeviceStore cannot start after stop()', { stage: 'state' });
    const { persistence, retention, breakers, log } = this.#parts;
    await persistence.restore();
    this.#restored = true;
    if (this.#stopRequested) return;
    retention.start();
    persistence.start();
    breakers.start();
    log.info(this.#parts.startedFields(), 'device state started');
  }

  async #stop(): Promise<void> {
    this.#stopRequested = true;
    if (this.#startPromise !== undefined) await this.#startPromise.catch(() => undefined);
    const { persistence, retention, breakers } = this.#parts;
    retention.stop();
    persistence.stopTimer();
    breakers.stop();
    // A store that never restored must not overwrite the file.
    if (this.#restored) await persistence.finalSnapshot();
  }
}
