import { lookup, lookupService } from 'node:dns/promises';
import { Histogram, Registry } from 'prom-client';
import { systemClock, type Clock, type TimerHandle } from '../internal/clock/clock.js';
import { errorMessage, NetscanError } from '../internal/errors/errors.js';
import { DeviceSeries } from '../internal/health/device-series.js';
import {
  HealthServer,
  type HealthDocument,
  type Readiness,
  type ReloadResult,
} from '../internal/health/health-server.js';
import { IcmpPinger } from '../internal/icmp/pinger.js';
import { openNativeIcmpSocket } from '../internal/icmp/native-socket.js';
import { IcmpSocketOpener } from '../internal/icmp/open.js';
import type { Logger } from '../internal/log/log.js';
import { Reconciler } from '../internal/reconcile/reconciler.js';
import { PingScheduler } from '../internal/schedule/ping-scheduler.js';
import { ProbeThread } from '../internal/schedule/probe-thread.js';
import type { IntervalSendLag } from '../internal/schedule/stats.js';
import { spawnProbeWorker } from '../internal/schedule/probe-thread-worker.js';
import { SnmpEnricher } from '../internal/snmp/enricher.js';
import type { SnmpSession } from '../internal/snmp/session.js';
import { DeviceStore } from '../internal/state/device-store.js';
import { agentFigures, healthReportPoint, statusSample } from './agent-figures.js';
import { applyReload, prepareReload, ReloadTally, reloadFromLoader } from './agent-reload.js';
import { namingSnmpState, rttObserver, targetTags, withoutAgent, type AgentStages } from './agent-stages.js';
import type { Config } from './config/schema.js';
import {
  deviceStoreOptions,
  healthServerOptions,
  probeThreadOptions,
  reconcilerOptions,
  schedulerOptions,
  snmpEnricherOptions,
} from './config/stage-options.js';
import { DeviceTags } from './device-tags.js';
import { DiscoveryLoop, networkCidrs } from './discovery-loop.js';
import { TargetLoop } from './target-loop.js';
import { OutputSlot } from './output-slot.js';
import { HealthIntervals } from './health-intervals.js';
import { MemoryWatch } from './memory-watch.js';
import { StatusLog } from './status-log.js';
import { buildHealthDocument, registerAgentMetrics, type AgentFigures } from './telemetry.js';

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
  /** Deadline for the final flush at shutdown, ms. */
  closeDeadlineMs: number;
  /** Re-reads and validates the config file for SIGHUP and POST /-/reload (cmd/ supplies it). */
  loadConfig?: () => Promise<{ config: Config; warnings: readonly string[] }>;
}

/**
 * The composition root: builds every stage from the config and wires the pipeline
 * sweep -> state -> reconciler -> ping schedulers -> writer, with SNMP enrichment and health.
 * Starts sink-first (outputs, state, monitoring, SNMP, health, then the sweep) and stops
 * source-first, each stage in its own try/catch, the outputs last with a bounded final flush.
 */
export class Agent {
  #opts: AgentOptions;
  #stages: AgentStages | undefined;
  #startedMs = 0;
  #ready = false;
  #startPromise: Promise<void> | undefined;
  /** The start itself (without the stop-on-failure wrapper), so a stop can wait for it. */
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #healthTimer: TimerHandle | undefined;
  #statusLog: StatusLog | undefined;
  #abort = new AbortController();
  readonly #memory = new MemoryWatch();
  readonly #reloads = new ReloadTally();
  #intervals: HealthIntervals | undefined;
  #series: DeviceSeries | undefined;
  #reloading: Promise<unknown> = Promise.resolve();
  /** True when the caller fixed the close deadline; otherwise it follows `shutdown_timeout`, reloads included. */
  readonly #closeDeadlineGiven: boolean;

  constructor(opts: Partial<AgentOptions> & Pick<AgentOptions, 'config' | 'logger'>) {
    this.#opts = { clock: systemClock, version: '0.0.0', closeDeadlineMs: opts.config.shutdown_timeout, ...opts };
    this.#closeDeadlineGiven = opts.closeDeadlineMs !== undefined;
  }

  /** The health server's bound port (0 when disabled or not started). */
  get healthPort(): number {
    return this.#stages?.health?.port ?? 0;
  }

  /** The running configuration. */
  get config(): Config {
    return this.#opts.config;
  }

  /** Starts every stage. Rejects (after stopping what started) if a stage cannot start. */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    this.#startPromise ??= this.#starting.catch(async (err: unknown) => {
      await this.stop();
      throw err;
    });
    return this.#startPromise;
  }

  async #start(): Promise<void> {
    const { config, logger, clock } = this.#opts;
    this.#startedMs = clock.now();
    const snmp = snmpEnricherOptions(config);
    // net-snmp takes ~0.4 s to load on a busy machine: only an agent that enriches loads it.
    const snmpSession: SnmpSession | undefined = snmp
      ? new (await import('../internal/snmp/session.js')).NetSnmpSession()
      : undefined;
    logger.info(
      {
        version: this.#opts.version,
        networks: networkCidrs(config),
        targets: config.targets.length,
        shard: config.shard,
      },
      'netscan starting',
    );
    const registry = new Registry();
    const rtt = new Histogram({
      name: 'netscan_ping_rtt_seconds',
      help: 'Round-trip time of successful monitoring pings, all devices together.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });

    const outputs = new OutputSlot(config, { clock, logger });
    const store = new DeviceStore({ clock, logger, ...deviceStoreOptions(config) });
    const icmpSockets = new IcmpSocketOpener({ mode: config.icmp_mode, open: openNativeIcmpSocket, logger });
    const engine = new IcmpPinger({
      clock,
      logger,
      sourceIpv4: config.icmp_source_ipv4 || undefined,
      sourceIpv6: config.icmp_source_ipv6 || undefined,
      engine: {
        openSocket: icmpSockets.open,
        payloadBytes: config.icmp_payload_bytes,
        tos: config.icmp_tos || undefined,
        ttl: config.icmp_ttl || undefined,
        interfaceName: config.icmp_interface || undefined,
      },
    });
    const reverse = (ip: string): Promise<string | undefined> => lookupService(ip, 0).then((r) => r.hostname);
    const tags = new DeviceTags(outputs, config, reverse);
    // Per-device series (prometheus.per_device) follow the scheduler's record, with the device's
    // name and labels as its points carry them (the agent tag is the scrape's job, not a label).
    const series = config.prometheus.per_device
      ? new DeviceSeries({ devices: store, labelsOf: (ip) => withoutAgent(tags.tagsFor(ip)) })
      : undefined;
    // probe_thread: worker moves the scheduler and an ICMP engine of its own to a thread (sweeps keep `engine`).
    const probe = probeThreadOptions(config);
    const scheduler =
      probe.thread === 'worker'
        ? new ProbeThread(
            {
              clock,
              sink: tags,
              state: store,
              logger,
              observer: series,
              rtt: (ms) => rtt.observe(ms / 1000),
              spawn: spawnProbeWorker(probe.engine),
            },
            schedulerOptions(config),
            { logLevel: logger.level, niceness: probe.niceness },
          )
        : new PingScheduler(
            { clock, pinger: engine, sink: tags, state: store, logger, observer: rttObserver(rtt, series) },
            schedulerOptions(config),
          );
    const reconciler = new Reconciler({ source: store, target: scheduler, clock, logger }, reconcilerOptions(config));
    const discovery = new DiscoveryLoop(config, {
      clock,
      logger,
      pinger: engine,
      devices: store,
      signal: this.#abort.signal,
      afterSweep: () => this.#memory.check(this.#opts.config.memory_limit_mb, logger),
    });
    if (this.#stopping) discovery.halt();
    this.#series = series;
    const targets = new TargetLoop(config, {
      clock,
      logger,
      lookup,
      devices: store,
      owns: (ip) => discovery.owns(ip),
      tags: targetTags(tags, series),
      sink: tags,
      intervals: scheduler,
    });
    const snmpState = series ? namingSnmpState(store, series) : store;
    const enricher =
      snmp &&
      snmpSession &&
      new SnmpEnricher({ clock, session: snmpSession, state: snmpState, sink: tags, logger }, snmp);
    this.#stages = {
      outputs,
      store,
      engine,
      icmpSockets,
      scheduler,
      reconciler,
      discovery,
      tags,
      targets,
      enricher,
      health: undefined,
      registry,
      rtt,
    };

    // Sink first: nothing may produce a point before the outputs accept it.
    await outputs.start();
    logger.info(
      { outputs: outputs.names },
      outputs.names.length ? 'outputs started' : 'no output configured: points are counted and dropped',
    );
    await store.start();
    // Restored devices outside the networks are kept until the targets have claimed theirs.
    targets
      .start()
      .then(() => discovery.retainOwned('config'))
      .catch((err: unknown) =>
        logger.error({ stage: 'targets', err: errorMessage(err) }, 'first target resolution failed'),
      );
    await engine.start();
    scheduler.start(this.#abort.signal);
    reconciler.start();
    if (enricher) {
      await enricher.start();
      for (const ip of store.ips()) enricher.track(ip);
      enricher.follow(store);
    }
    registerAgentMetrics(registry, () => this.figures());
    const listen = healthServerOptions(config);
    if (listen) {
      const health = new HealthServer({
        ...listen,
        registry,
        logger,
        health: () => this.healthDocument(),
        readiness: () => this.readiness(),
        reload: () => this.reloadFromSource(),
        extraMetrics: series && (() => series.render()),
      });
      this.#stages.health = health;
      await health.start();
    }
    this.#ready = true;
    this.#intervals = new HealthIntervals({ logger, resetMissedDevices: () => scheduler.resetMissedDevices() });
    this.#intervals.begin(this.figures());
    this.#armHealthReport();
    discovery.start();
    this.#startStatusLog();
    logger.info({ devices: store.size, health_port: this.healthPort }, 'netscan started');
  }

  /** (Re)starts the one-line status log at `status_log_interval`. */
  #startStatusLog(): void {
    this.#statusLog?.stop();
    const { clock, logger, config } = this.#opts;
    const sample = () => statusSample(this.figures());
    this.#statusLog = new StatusLog({ clock, logger, intervalMs: config.status_log_interval, sample });
    this.#statusLog.start();
  }

  #armHealthReport(): void {
    const { clock, config } = this.#opts;
    this.#healthTimer = clock.setTimeout(() => {
      const failed = (err: unknown): void =>
        this.#opts.logger.error({ stage: 'health', err: errorMessage(err) }, 'health report failed');
      try {
        this.#writeHealthPoint()?.catch(failed);
        this.#memory.check(this.#opts.config.memory_limit_mb, this.#opts.logger);
      } catch (err) {
        failed(err);
      }
      if (!this.#stopping) this.#armHealthReport();
    }, config.health_report_interval);
  }

  /** Writes health_metrics; with a probe thread, once the thread has closed its send-lag interval. */
  #writeHealthPoint(): Promise<void> | undefined {
    const s = this.#stages;
    if (!s) return undefined;
    const write = (lag: IntervalSendLag): void => {
      const f = this.figures();
      const figures = { ...f, scheduler: { ...f.scheduler, interval: lag } };
      s.tags.write(healthReportPoint(figures, this.#intervals?.close(figures), this.#opts.clock.now()));
    };
    if (s.scheduler instanceof ProbeThread) return s.scheduler.takeIntervalExact().then(write);
    write(s.scheduler.takeInterval());
    return undefined;
  }

  /** Every figure /health, /metrics and health_metrics report, from memory (no I/O). */
  figures(): AgentFigures {
    const s = this.#stages;
    if (!s) throw new NetscanError('ERR_INTERNAL', 'agent not started');
    return agentFigures({
      stages: s,
      clock: this.#opts.clock,
      version: this.#opts.version,
      startedMs: this.#startedMs,
      ready: this.readiness(),
      shard: this.#opts.config.shard,
      reloads: this.#reloads.figures(),
    });
  }

  /** The `/health` document. */
  healthDocument(): HealthDocument {
    const f = this.figures();
    const outputs = this.#stages?.outputs.status() ?? [];
    return {
      ...buildHealthDocument(f, [
        ...(this.#intervals?.reasons(f, this.#opts.config.send_lag_degraded_threshold) ?? []),
        ...(this.#stages?.scheduler instanceof ProbeThread ? this.#stages.scheduler.downReasons() : []),
      ]),
      outputs,
    };
  }

  /** Ready when the state is loaded, monitoring runs, and the output writes or safely spools. */
  readiness(): Readiness {
    const s = this.#stages;
    if (!s || !this.#ready) return { ready: false, reason: 'starting' };
    if (this.#stopping) return { ready: false, reason: 'shutting down' };
    if (!s.outputs.isHealthy()) return { ready: false, reason: 'output failing and not spooling' };
    return { ready: true };
  }

  /** Re-reads the config through `loadConfig` and applies it (SIGHUP, POST /-/reload). */
  reloadFromSource(): Promise<ReloadResult> {
    const settled = reloadFromLoader(this.#opts.loadConfig, (c, w) => this.reload(c, w), this.#opts.logger);
    return settled.then((r) => this.#reloads.settled(r));
  }

  /**
   * Applies a new validated configuration without losing state or restarting unchanged
   * schedules: networks, exclusions and shard (a sweep starts at once, or when the running one
   * ends; devices no longer owned are removed), sweep and ping settings, limits and outputs.
   * State, SNMP and health-listener settings are logged as needing a restart. Reloads are
   * applied one at a time.
   */
  reload(config: Config, warnings: readonly string[] = []): Promise<void> {
    // One reload at a time: an output handoff may wait for the previous writer's final flush.
    // A reload that arrives while the agent is starting (SIGHUP is handled from the first
    // instant) waits until every stage runs, so it never acts on half-started stages.
    const started = this.#startPromise?.catch(() => undefined);
    const run = this.#reloading.then(() => started).then(() => this.#reload(config, warnings));
    this.#reloading = run.catch(() => undefined);
    return run;
  }

  async #reload(config: Config, warnings: readonly string[]): Promise<void> {
    if (this.#stopping) throw new NetscanError('ERR_INTERNAL', 'the agent is stopping');
    const s = this.#stages;
    const old = this.#opts.config;
    const { logger } = this.#opts;
    for (const w of warnings) logger.warn({ warning: w }, 'configuration warning');
    if (!s) {
      this.#applyConfig(config);
      return;
    }
    // Prepare everything that can fail before touching what runs.
    const plan = await prepareReload(s, old, config);
    this.#applyConfig(config);
    this.#reloads.applied++;
    await applyReload(plan, {
      stages: s,
      logger,
      closeDeadlineMs: this.#opts.closeDeadlineMs,
      restartStatusLog: () => this.#startStatusLog(),
    });
    // Labels, agent_name and reverse_dns may have changed: the per-device series take them now.
    this.#series?.relabel();
  }

  #applyConfig(config: Config): void {
    this.#opts = {
      ...this.#opts,
      config,
      closeDeadlineMs: this.#closeDeadlineGiven ? this.#opts.closeDeadlineMs : config.shutdown_timeout,
    };
  }

  /** Stops every stage, source first; idempotent, and concurrent callers share one completion. */
  stop(): Promise<void> {
    this.#stages?.discovery.halt();
    this.#stopping ??= this.#doStop();
    return this.#stopping;
  }

  async #doStop(): Promise<void> {
    const { logger } = this.#opts;
    // A stop during start-up lets the start finish first, so no stage opens after its stop step.
    await this.#starting?.catch(() => undefined);
    this.#ready = false;
    this.#healthTimer?.cancel();
    this.#statusLog?.stop();
    this.#abort.abort(new Error('agent stopping'));
    const s = this.#stages;
    if (!s) return;
    const step = async (name: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        logger.error({ stage: name, err: errorMessage(err) }, 'error while stopping');
      }
    };
    await step('sweep', () => s.discovery.stop());
    await step('targets', () => s.targets.stop());
    await step('snmp', () => s.enricher?.stop());
    await step('reconcile', () => s.reconciler.stop());
    await step('schedule', () => s.scheduler.stop());
    await step('icmp', () => s.engine.stop());
    await step('state', () => s.store.stop());
    // A reload handing the outputs over finishes first, so the outputs closed below are the current ones.
    await step('reload', () => this.#reloading);
    await step('health', () => this.#writeHealthPoint());
    await step('writer', () => s.outputs.close(this.#opts.closeDeadlineMs));
    await step('health', () => s.health?.stop());
    const w = s.outputs.stats();
    logger.info(
      { points_written: w.pointsWritten, points_spooled: w.spoolPoints, points_dropped: w.pointsDropped },
      'netscan stopped',
    );
  }
}
