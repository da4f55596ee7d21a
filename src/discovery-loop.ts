import type { Clock, TimerHandle } from '../internal/clock/clock.js';
import { errorMessage } from '../internal/errors/errors.js';
import type { Logger } from '../internal/log/log.js';
import type { Pinger } from '../internal/model/ping.js';
import { inShard, inShardIpv6, type Shard } from '../internal/sweep/shard.js';
import { AddressMatch, targetInShard } from '../internal/targets/address-match.js';
import { Sweeper, type SweepSummary } from '../internal/sweep/sweeper.js';
import type { Config } from './config/schema.js';
import { sweeperConfigKeys, sweeperOptions } from './config/stage-options.js';
import type { AgentFigures } from './telemetry.js';

/** The CIDR texts of the `networks` entries. */
export const networkCidrs = (config: Config): string[] => config.networks.map((n) => n.cidr);

/** The addresses this agent sweeps and owns: configured networks (both families) minus exclusions, within its shard. */
export class Ownership {
  readonly #set: AddressMatch;
  readonly #shard: Shard;
  constructor(config: Config) {
    this.#set = new AddressMatch(networkCidrs(config), config.exclude);
    this.#shard = config.shard;
  }
  owns(ip: string): boolean {
    return this.#set.has(ip) && targetInShard(ip, this.#shard);
  }
}

/** The slice of the device store discovery feeds. */
export interface DiscoveredDevices {
  /** Records that `ip` answered a sweep. */
  markSeen(ip: string): unknown;
  /** Every device IP in the state. */
  ips(): IterableIterator<string>;
  /** Forgets `ip`. */
  remove(ip: string): unknown;
  /** True for a configured target's address: kept whatever the networks say. */
  isPinned(ip: string): boolean;
}

/** Collaborators of {@link DiscoveryLoop}. */
export interface DiscoveryLoopDeps {
  /** Time source of the sweep schedule. */
  clock: Clock;
  /** Parent logger. */
  logger: Logger;
  /** Sends the sweeps' echo requests. */
  pinger: Pinger;
  /** Where hosts that answered go. */
  devices: DiscoveredDevices;
  /** Aborts a running sweep when the agent stops. */
  signal: AbortSignal;
  /** Called after every sweep that completed. */
  afterSweep: () => void;
}

/**
 * Discovery: sweeps the configured networks every `icmp_discovery_interval` (from the schedule,
 * never overlapping) and feeds the hosts that answer, within this agent's shard, to the device
 * store. A reload changing the targets sweeps at once (or when the running sweep ends) and
 * removes the devices no longer owned.
 */
export class DiscoveryLoop {
  readonly #deps: DiscoveryLoopDeps;
  #config: Config;
  #ownership: Ownership;
  #sweeper: Sweeper;
  /** Takes over at the next sweep: a sweeper holds its settings for the whole sweep. */
  #nextSweeper: Sweeper | undefined;
  #timer: TimerHandle | undefined;
  #current: Promise<void> | undefined;
  #nextSweepMs = 0;
  #last: (SweepSummary & { startedMs: number }) | undefined;
  #total = 0;
  #errors = 0;
  #sweepAgain = false;
  #halted = false;

  constructor(config: Config, deps: DiscoveryLoopDeps) {
    this.#deps = deps;
    this.#config = config;
    this.#ownership = new Ownership(config);
    this.#sweeper = this.#buildSweeper(config);
  }

  /** Arms the first sweep, at once. */
  start(): void {
    this.#arm(0);
  }

  /** Sweeps no more: cancels the next sweep; a running one finishes (see {@link stop}). Idempotent. */
  halt(): void {
    this.#halted = true;
    this.#timer?.cancel();
  }

  /** Halts, aborts the running sweep and waits for it. Idempotent. */
  async stop(): Promise<void> {
    this.halt();
    try {
      await this.#sweeper.stop();
    } finally {
      await this.#current;
    }
  }

  /** True when `ip` is inside the configured networks and this agent's shard. */
  owns(ip: string): boolean {
    return this.#ownership.owns(ip);
  }

  /** Removes devices this agent no longer owns (networks, exclusions or shard changed). */
  retainOwned(why: string): void {
    const { devices, logger } = this.#deps;
    const gone = [...devices.ips()].filter((ip) => !this.#ownership.owns(ip) && !devices.isPinned(ip));
    for (const ip of gone) devices.remove(ip);
    if (gone.length > 0)
      logger.info({ count: gone.length, reason: why }, 'devices outside the configured networks or shard removed');
  }

  /** Takes the new targets (for the next hosts that answer) and sweep settings (for the next sweep). */
  reconfigure(config: Config, ownership: Ownership): void {
    const old = this.#config;
    this.#config = config;
    this.#ownership = ownership;
    if (sweeperConfigKeys.some((k) => old[k] !== config[k])) this.#nextSweeper = this.#buildSweeper(config);
  }

  /** After a reload from `old`: sweeps the changed targets now, or re-arms the next sweep for a changed interval. */
  followTargets(old: Config): void {
    const config = this.#config;
    if (!sameJson([old.networks, old.exclude, old.shard], [config.networks, config.exclude, config.shard])) {
      this.retainOwned('reload');
      if (!this.#current) this.#arm(0);
      else this.#sweepAgain = true;
    } else if (old.icmp_discovery_interval !== config.icmp_discovery_interval && !this.#current) {
      this.#armFromSchedule();
    }
  }

  /** Sweep figures for /health and /metrics. */
  figures(): AgentFigures['sweep'] {
    return {
      running: this.#current !== undefined,
      progress: this.#sweeper.progress(),
      total: this.#total,
      errors: this.#errors,
      skipped: this.#sweeper.skippedSweeps,
      nextMs: this.#nextSweepMs,
      last: this.#last,
    };
  }

  #buildSweeper(config: Config): Sweeper {
    const { pinger, clock, logger } = this.#deps;
    return new Sweeper({ pinger, clock, logger, ...sweeperOptions(config) });
  }

  #arm(delayMs: number): void {
    const { clock, logger } = this.#deps;
    this.#timer?.cancel();
    this.#nextSweepMs = clock.now() + delayMs;
    this.#timer = clock.setTimeout(() => {
      this.#current = this.#sweepOnce()
        .catch((err: unknown) => {
          this.#errors++;
          logger.error(
            { stage: 'sweep', err: errorMessage(err) },
            'discovery sweep failed; retrying at the next interval',
          );
        })
        .finally(() => {
          this.#current = undefined;
          if (this.#halted) return;
          if (this.#sweepAgain) {
            // The targets changed while this sweep ran: sweep the new ones now, not an interval later.
            this.#sweepAgain = false;
            this.#arm(0);
            return;
          }
          this.#armFromSchedule();
        });
    }, delayMs);
  }

  /** From the schedule, not from the end of the sweep; an overrun starts the next one at once. */
  #armFromSchedule(): void {
    const { clock } = this.#deps;
    // The interval is read now: a reload during the sweep may have changed it.
    const started = this.#last?.startedMs ?? clock.now();
    this.#arm(Math.max(0, started + this.#config.icmp_discovery_interval - clock.now()));
  }

  async #sweepOnce(): Promise<void> {
    if (this.#halted) return;
    const config = this.#config;
    if (config.networks.length === 0) return;
    if (this.#nextSweeper) {
      this.#sweeper = this.#nextSweeper;
      this.#nextSweeper = undefined;
    }
    const { clock, devices, signal } = this.#deps;
    const startedMs = clock.now();
    const summary = await this.#sweeper.sweep(
      {
        cidrs: networkCidrs(config),
        exclude: config.exclude,
        accept: inShard(config.shard),
        acceptIpv6: inShardIpv6(config.shard),
      },
      (host) => {
        if (this.#ownership.owns(host.ip)) devices.markSeen(host.ip);
      },
      signal,
    );
    if (summary.skipped) return;
    this.#total++;
    this.#last = { ...summary, startedMs };
    this.#deps.afterSweep();
  }
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
