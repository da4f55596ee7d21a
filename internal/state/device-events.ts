import type { Logger } from '../log/log.js';
import type { DeviceEvent, DeviceListener } from '../model/device.js';

/**
 * The device store's listeners and its queue of pending events. Events are queued while a store
 * operation runs and delivered by {@link flush} when it has finished, so listeners always see a
 * consistent store and may call back into it.
 */
export class DeviceEventQueue {
  readonly #log: Logger;
  #listeners: readonly DeviceListener[] = [];
  readonly #queue: DeviceEvent[] = [];
  #flushing = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Whether anyone listens; callers skip building events when nobody does. */
  get listening(): boolean {
    return this.#listeners.length > 0;
  }

  /** Adds a listener; returns the unsubscribe function (idempotent). */
  subscribe(listener: DeviceListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** Queues an event when someone listens. */
  push(ev: DeviceEvent): void {
    if (this.#listeners.length > 0) this.#queue.push(ev);
  }

  // Events queued by listeners (re-entrant calls) are delivered by this same loop, after the ones
  // already queued.
  /** Delivers queued events in order; a listener that throws is logged and the others still run. */
  flush(): void {
    if (this.#flushing || this.#queue.length === 0) return;
    this.#flushing = true;
    try {
      for (let i = 0; i < this.#queue.length; i++) {
        const ev = this.#queue[i]!;
        for (const l of this.#listeners) {
          try {
            l(ev);
          } catch (err) {
            this.#log.error({ err, event: ev.type, ip: ev.ip }, 'device event listener threw; continuing');
          }
        }
      }
    } finally {
      this.#queue.length = 0;
      this.#flushing = false;
    }
  }
}
