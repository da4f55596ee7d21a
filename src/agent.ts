import { Histogram, Registry } from 'prom-client';
import { systemClock, type Clock, type TimerHandle } from '../internal/clock/clock.js';
import { errorMessage, NetscanError } from '../internal/errors/errors.js';
import { HealthServer, type HealthDocument, type Readiness, type ReloadResult } from '../internal/health/health-server.js';
import { IcmpPinger } from '../internal/icmp/pinger.js';
import { openNativeIcmpSocket } from '../internal/icmp/native-socket.js';
import { IcmpSocketOpener } from '../internal/icmp/open.js';
import { parseIpv4 } from '../internal/icmp/ipv4.js';
import type { Logger } from '../internal/log/log.js';
import type { PingOptions, PingOutcome, Pinger } from '../internal/model/ping.js';
import type { PointSink } from '../internal/model/point.js';
import { Reconciler } from '../internal/reconcile/reconciler.js';
import { PingScheduler, type PingSchedulerOptions } from '../internal/schedule/ping-scheduler.js';
import { SnmpEnricher } from '../internal/snmp/enricher.js';
import { NetSnmpSession } from '../internal/snmp/session.js';
import { DeviceStore } from '../internal/state/device-store.js';
import { AddressSet, parseCidr, type Ipv4Cidr } from '../internal/sweep/cidr.js';
import { inShard } from '../internal/sweep/shard.js';
import { Sweeper, type SweepSummary } from '../internal/sweep/sweeper.js';
import { dropReasons, type WriterStats } from '../internal/writer/influx-writer.js';
import { writeErrorClasses } from '../internal/writer/classify.js';
import { healthPoint } from '../internal/writer/points.js';
import type { Config } from './config/schema.js';
import { snmpCredentials } from './snmp-config.js';
import { outputConfigKeys, Outputs, type OutputConfig } from './outputs.js';
import { buildHealthDocument, icmpTotals, registerAgentMetrics, type AgentFigures } from './telemetry.js';

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

/** The stages of one running agent. */
interface Stages {
  outputs: Outputs;
  sink: SwitchableSink;
  store: DeviceStore;
  engine: IcmpPinger;
  /** Opens the engine's sockets of the kind icmp_mode picks, and reports it. */
  icmpSockets: IcmpSocketOpener;
  scheduler: PingScheduler;
  reconciler: Reconciler;
  sweeper: Sweeper;
  enricher: SnmpEnricher | undefined;
  health: HealthServer | undefined;
  registry: Registry;
  rtt: Histogram;
}

/** A sink whose target can be replaced on reload while stages keep their reference. */
class SwitchableSink implements PointSink {
  target: PointSink;
  constructor(target: PointSink) {
    this.target = target;
  }
  write(point: Parameters<PointSink['write']>[0]): number {
    return this.target.write(point);
  }
}

/** Wraps the engine for monitoring so every RTT lands in the fleet-wide histogram. */
class ObservedPinger implements Pinger {
  readonly #inner: Pinger;
  readonly #rtt: Histogram;
  constructor(inner: Pinger, rtt: Histogram) {
    this.#inner = inner;
    this.#rtt = rtt;
  }
  async ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    const o = await this.#inner.ping(ip, opts);
    if (o.ok) this.#rtt.observe(o.rttMs / 1000);
    return o;
  }
}

/** The addresses this agent owns: configured networks minus exclusions, within its shard. */
class Ownership {
  readonly #set: AddressSet;
  readonly #shard: (ip: number) => boolean;
  constructor(config: Config) {
    const parse = (list: readonly string[]): Ipv4Cidr[] => list.map((c) => parseCidr(c.trim(), { allowBareAddress: true })).filter((c): c is Ipv4Cidr => c !== undefined);
    this.#set = AddressSet.fromCidrs(parse(config.networks), parse(config.exclude));
    this.#shard = inShard(config.shard);
  }
  owns(ip: string): boolean {
    const n = parseIpv4(ip);
    return n !== undefined && this.#set.has(n) && this.#shard(n);
  }
}

function schedulerOptions(c: Config): Partial<PingSchedulerOptions> {
  return {
    intervalMs: c.ping_interval,
    timeoutMs: c.ping_timeout,
    ratePerSec: c.ping_rate_limit,
    burst: c.ping_burst_limit,
    maxConsecutiveFails: c.ping_max_consecutive_fails,
    backoffMs: c.ping_backoff_duration,
    summaryIntervalMs: c.summary_interval,
    rawPoints: c.ping_raw_points,
    overloadThresholdMs: c.overload_threshold,
  };
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function buildSweeper(c: Config, engine: IcmpPinger, clock: Clock, logger: Logger): Sweeper {
  return new Sweeper({
    pinger: engine, clock, logger, ratePps: c.sweep_rate_limit, maxInFlight: c.icmp_workers, timeoutMs: c.sweep_timeout, retries: c.sweep_retries,
  });
}

const sweepKeys = ['sweep_rate_limit', 'icmp_workers', 'sweep_timeout', 'sweep_retries'] as const;

/** Adds the cumulative counters of `from` to `into` (gauges such as queue depth and spool size are left alone); returns `into`. */
function addCounters(into: WriterStats, from: WriterStats): WriterStats {
  for (const k of ['pointsReceived', 'pointsWritten', 'pointsDropped', 'pointsSpooled', 'batchesOk', 'batchesFailed'] as const) into[k] += from[k];
  for (const r of dropReasons) into.droppedByReason[r] += from.droppedByReason[r];
  for (const c of writeErrorClasses) into.writeErrors[c] += from.writeErrors[c];
  return into;
}

/** A copy of `like` with every counter at zero. */
function zeroCounters(like: WriterStats): WriterStats {
  const z = { ...like, droppedByReason: { ...like.droppedByReason }, writeErrors: { ...like.writeErrors } };
  for (const k of ['pointsReceived', 'pointsWritten', 'pointsDropped', 'pointsSpooled', 'batchesOk', 'batchesFailed'] as const) z[k] = 0;
  for (const r of dropReasons) z.droppedByReason[r] = 0;
  for (const c of writeErrorClasses) z.writeErrors[c] = 0;
  return z;
}

/** True when both configurations spool InfluxDB batches into the same directory. */
/**
 * True when outputs built from `a` and from `b` would use the same spool directory or the same
 * line-protocol file, which take one writer at a time (the spool's index of segments lives in memory).
 */
function sharesFiles(a: OutputConfig, b: OutputConfig): boolean {
  const spooled = (c: OutputConfig): boolean => Boolean(c.influxdb?.enabled && c.influxdb.url) && c.spool_dir !== '' && c.spool_max_bytes > 0;
  return (spooled(a) && spooled(b) && a.spool_dir === b.spool_dir) || (a.output_file !== '' && a.output_file === b.output_file);
}

/**
 * The composition root: builds every stage from the config and wires the pipeline
 * sweep -> state -> reconciler -> ping schedulers -> writer, with SNMP enrichment and health.
 * Starts sink-first (outputs, state, monitoring, SNMP, health, then the sweep) and stops
 * source-first, each stage in its own try/catch, the outputs last with a bounded final flush.
 */
export class Agent {
  #opts: AgentOptions;
  #stages: Stages | undefined;
  #startedMs = 0;
  #ready = false;
  #startPromise: Promise<void> | undefined;
  /** The start itself (without the stop-on-failure wrapper), so a stop can wait for it. */
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #sweepTimer: TimerHandle | undefined;
  #healthTimer: TimerHandle | undefined;
  #sweepAbort = new AbortController();
  #currentSweep: Promise<void> | undefined;
  #nextSweepMs = 0;
  #lastSweep: (SweepSummary & { startedMs: number }) | undefined;
  #sweepsTotal = 0;
  #sweepErrors = 0;
  #ownership: Ownership;
  #memoryWarned = false;
  #reloads = 0;
  #reloading: Promise<unknown> = Promise.resolve();
  #sweepAgain = false;
  #nextSweeper: Sweeper | undefined;
  /** Outputs replaced by a reload and still closing in the background, with what they were built from. */
  #retiring = new Map<Promise<void>, OutputConfig>();
  #retiredOutputs = new Set<Outputs>();
  #retiredTotals: WriterStats | undefined;
  /** True when the caller fixed the close deadline; otherwise it follows `shutdown_timeout`, reloads included. */
  readonly #closeDeadlineGiven: boolean;

  constructor(opts: Partial<AgentOptions> & Pick<AgentOptions, 'config' | 'logger'>) {
    this.#opts = { clock: systemClock, version: '0.0.0', closeDeadlineMs: opts.config.shutdown_timeout, ...opts };
    this.#closeDeadlineGiven = opts.closeDeadlineMs !== undefined;
    this.#ownership = new Ownership(this.#opts.config);
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
    logger.info({ version: this.#opts.version, networks: config.networks, shard: config.shard }, 'netscan starting');
    const registry = new Registry();
    const rtt = new Histogram({
      name: 'netscan_ping_rtt_seconds',
      help: 'Round-trip time of successful monitoring pings, all devices together.',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });

    const outputs = new Outputs(config, { clock, logger });
    const sink = new SwitchableSink(outputs);
    const store = new DeviceStore({
      clock, logger, maxDevices: config.max_devices, pruneAfterMs: config.prune_after, pruneIntervalMs: config.prune_interval,
      stateFile: config.state_file, snapshotIntervalMs: config.state_snapshot_interval,
    });
    const icmpSockets = new IcmpSocketOpener({ mode: config.icmp_mode, open: openNativeIcmpSocket, logger });
    const engine = new IcmpPinger({
      clock, logger, sourceIpv4: config.icmp_source_ipv4 || undefined, sourceIpv6: config.icmp_source_ipv6 || undefined,
      engine: {
        openSocket: icmpSockets.open, payloadBytes: config.icmp_payload_bytes, tos: config.icmp_tos || undefined,
        ttl: config.icmp_ttl || undefined, interfaceName: config.icmp_interface || undefined,
      },
    });
    const scheduler = new PingScheduler({ clock, pinger: new ObservedPinger(engine, rtt), sink, state: store, logger }, schedulerOptions(config));
    const reconciler = new Reconciler({ source: store, target: scheduler, clock, logger }, { maxMonitored: config.max_concurrent_pingers });
    const sweeper = buildSweeper(config, engine, clock, logger);
    const enricher = this.#buildEnricher(config, store, sink);
    this.#stages = { outputs, sink, store, engine, icmpSockets, scheduler, reconciler, sweeper, enricher, health: undefined, registry, rtt };

    // Sink first: nothing may produce a point before the outputs accept it.
    await outputs.start();
    logger.info({ outputs: outputs.names }, outputs.names.length ? 'outputs started' : 'no output configured: points are counted and dropped');
    await store.start();
    this.#retainOwned('config');
    await engine.start();
    scheduler.start(this.#sweepAbort.signal);
    reconciler.start();
    if (enricher) {
      await enricher.start();
      for (const ip of store.ips()) enricher.track(ip);
      enricher.follow(store);
    }
    registerAgentMetrics(registry, () => this.figures());
    if (config.health_check_port > 0) {
      const health = new HealthServer({
        port: config.health_check_port, host: config.health_check_bind, registry, logger,
        health: () => this.healthDocument(), readiness: () => this.readiness(), reload: () => this.reloadFromSource(),
      });
      this.#stages.health = health;
      await health.start();
    }
    this.#ready = true;
    this.#armHealthReport();
    this.#armSweep(0);
    logger.info({ devices: store.size, health_port: this.healthPort }, 'netscan started');
  }

  #buildEnricher(config: Config, store: DeviceStore, sink: PointSink): SnmpEnricher | undefined {
    const snmp = config.snmp;
    if (!snmp?.enabled) return undefined;
    return new SnmpEnricher(
      { clock: this.#opts.clock, session: new NetSnmpSession(), state: store, sink, logger: this.#opts.logger },
      {
        credentials: snmpCredentials(snmp), port: snmp.port, timeoutMs: snmp.timeout, retries: snmp.retries, deadlineMs: snmp.deadline,
        intervalMs: config.snmp_interval, ratePerSec: config.snmp_rate_limit, burst: config.snmp_burst_limit,
        maxInFlight: snmp.max_in_flight, maxConsecutiveFails: config.snmp_max_consecutive_fails, backoffMs: config.snmp_backoff_duration,
        rebootRecheckMs: snmp.reboot_recheck, maxStringBytes: snmp.max_string_bytes,
      },
    );
  }

  /** Removes devices this agent no longer owns (networks, exclusions or shard changed). */
  #retainOwned(why: string): void {
    const store = this.#stages?.store;
    if (!store) return;
    const gone = [...store.ips()].filter((ip) => !this.#ownership.owns(ip));
    for (const ip of gone) store.remove(ip);
    if (gone.length > 0) this.#opts.logger.info({ count: gone.length, reason: why }, 'devices outside the configured networks or shard removed');
  }

  #armSweep(delayMs: number): void {
    const { clock } = this.#opts;
    this.#sweepTimer?.cancel();
    this.#nextSweepMs = clock.now() + delayMs;
    this.#sweepTimer = clock.setTimeout(() => {
      this.#currentSweep = this.#sweepOnce()
        .catch((err: unknown) => {
          this.#sweepErrors++;
          this.#opts.logger.error({ stage: 'sweep', err: errorMessage(err) }, 'discovery sweep failed; retrying at the next interval');
        })
        .finally(() => {
          this.#currentSweep = undefined;
          if (this.#stopping) return;
          if (this.#sweepAgain) {
            // The targets changed while this sweep ran: sweep the new ones now, not an interval later.
            this.#sweepAgain = false;
            this.#armSweep(0);
            return;
          }
          // From the schedule, not from the end of the sweep; an overrun starts the next one at once.
          // The interval is read now: a reload during the sweep may have changed it.
          const started = this.#lastSweep?.startedMs ?? clock.now();
          this.#armSweep(Math.max(0, started + this.#opts.config.icmp_discovery_interval - clock.now()));
        });
    }, delayMs);
  }

  async #sweepOnce(): Promise<void> {
    const s = this.#stages;
    if (!s || this.#stopping) return;
    const { config, clock } = this.#opts;
    if (config.networks.length === 0) return;
    if (this.#nextSweeper) {
      s.sweeper = this.#nextSweeper;
      this.#nextSweeper = undefined;
    }
    const startedMs = clock.now();
    const summary = await s.sweeper.sweep(
      { cidrs: config.networks, exclude: config.exclude, accept: inShard(config.shard) },
      (host) => {
        if (this.#ownership.owns(host.ip)) s.store.markSeen(host.ip);
      },
      this.#sweepAbort.signal,
    );
    if (summary.skipped) return;
    this.#sweepsTotal++;
    this.#lastSweep = { ...summary, startedMs };
    this.#checkMemory();
  }

  #armHealthReport(): void {
    const { clock, config } = this.#opts;
    this.#healthTimer = clock.setTimeout(() => {
      try {
        this.#writeHealthPoint();
        this.#checkMemory();
      } catch (err) {
        this.#opts.logger.error({ stage: 'health', err: errorMessage(err) }, 'health report failed');
      }
      if (!this.#stopping) this.#armHealthReport();
    }, config.health_report_interval);
  }

  #writeHealthPoint(): void {
    const s = this.#stages;
    if (!s) return;
    const f = this.figures();
    s.sink.write(healthPoint({
      deviceCount: f.deviceCount, activePingers: f.scheduler.inFlight, suspendedDevices: f.pingSuspended,
      goroutines: f.tasks, memoryMb: f.memoryMb, rssMb: f.rssMb, influxdbOk: f.outputOk, pingsSentTotal: f.scheduler.pingsSentTotal,
      writer: f.writer, extra: {
        agent_overloaded: f.scheduler.overloadedTotal, agent_errors: f.scheduler.failuresByReason.agent_error,
        event_loop_delay_p99_ms: f.eventLoopDelayP99Ms,
        unmonitored_devices: f.reconciler.unmonitored, snmp_suspended_devices: f.snmpSuspended,
        effective_ping_interval_ms: f.scheduler.effectiveIntervalMs, skipped_ticks: f.scheduler.skippedTicksTotal,
        snmp_enriched_devices: f.snmp?.devicesEnriched ?? 0,
      },
    }, this.#opts.clock.now()));
  }

  /** Go parity: a soft limit, a warning when the heap passes it (and one line when it is back under). */
  #checkMemory(): void {
    const heapMb = process.memoryUsage().heapUsed / 1048576;
    const over = heapMb > this.#opts.config.memory_limit_mb;
    if (over !== this.#memoryWarned) {
      this.#memoryWarned = over;
      if (over) this.#opts.logger.warn({ memory_mb: Math.round(heapMb), limit_mb: this.#opts.config.memory_limit_mb }, 'Memory usage exceeds limit');
      else this.#opts.logger.info({ memory_mb: Math.round(heapMb), limit_mb: this.#opts.config.memory_limit_mb }, 'memory usage back under the limit');
    }
  }

  /** Every figure /health, /metrics and health_metrics report, from memory (no I/O). */
  figures(): AgentFigures {
    const s = this.#stages;
    if (!s) throw new NetscanError('ERR_INTERNAL', 'agent not started');
    const mem = process.memoryUsage();
    const scheduler = s.scheduler.stats();
    const writer = this.#writerStats(s);
    return {
      version: this.#opts.version,
      nowMs: this.#opts.clock.now(),
      uptimeMs: this.#opts.clock.now() - this.#startedMs,
      ready: this.readiness(),
      deviceCount: s.store.size,
      maxDevices: s.store.maxDevices,
      pingSuspended: s.store.pingSuspendedCount(),
      snmpSuspended: s.store.snmpSuspendedCount(),
      scheduler,
      reconciler: s.reconciler.stats(),
      writer,
      outputOk: writer.state === 'writing',
      outputHealthy: s.outputs.isHealthy(),
      icmp: icmpTotals(s.engine.stats()),
      icmpModeSetting: s.icmpSockets.setting,
      icmpSockets: s.icmpSockets.sockets(),
      snmp: s.enricher?.stats(),
      persistence: s.store.persistenceStats(),
      eventLoopDelayP99Ms: scheduler.stalls.loopDelayP99Ms,
      tasks: process.getActiveResourcesInfo().length,
      memoryMb: Math.floor(mem.heapUsed / 1048576),
      rssMb: Math.floor(mem.rss / 1048576),
      sweep: {
        running: this.#currentSweep !== undefined,
        progress: s.sweeper.progress(),
        total: this.#sweepsTotal,
        errors: this.#sweepErrors,
        skipped: s.sweeper.skippedSweeps,
        nextMs: this.#nextSweepMs,
        last: this.#lastSweep,
      },
      shard: this.#opts.config.shard,
      reloads: this.#reloads,
    };
  }

  /** The current outputs' stats, with the counters of outputs replaced by reloads added (counters never go back). */
  #writerStats(s: Stages): WriterStats {
    const w = s.outputs.stats();
    for (const r of [...this.#retiredOutputs].map((o) => o.stats())) addCounters(w, r);
    if (this.#retiredTotals) addCounters(w, this.#retiredTotals);
    return w;
  }

  /** The `/health` document. */
  healthDocument(): HealthDocument {
    return buildHealthDocument(this.figures());
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
  async reloadFromSource(): Promise<ReloadResult> {
    if (!this.#opts.loadConfig) return { ok: false, problems: ['reload is not available: the agent was started without a config file'] };
    try {
      const next = await this.#opts.loadConfig();
      await this.reload(next.config, next.warnings);
      return { ok: true, problems: [] };
    } catch (err) {
      const problems = err instanceof NetscanError && 'problems' in err ? [...(err as { problems: string[] }).problems] : [errorMessage(err)];
      this.#opts.logger.error({ problems }, 'configuration reload rejected; keeping the running configuration');
      return { ok: false, problems };
    }
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
    const { logger, clock } = this.#opts;
    for (const w of warnings) logger.warn({ warning: w }, 'configuration warning');
    if (!s) {
      this.#applyConfig(config);
      this.#ownership = new Ownership(config);
      return;
    }
    // Prepare everything that can fail before touching what runs.
    const ownership = new Ownership(config);
    const outputsChanged = outputConfigKeys.some((k) => !sameJson(old[k], config[k]));
    let newOutputs: Outputs | undefined;
    // The spool directory and the output file take one writer at a time: when the new outputs
    // reuse those of the current outputs, or of earlier ones still closing, those close first
    // (what they cannot send goes to the spool) and the new ones open after, replaying it.
    const stillClosing = [...this.#retiring].filter(([, built]) => sharesFiles(built, config)).map(([closing]) => closing);
    const handOver = outputsChanged && (sharesFiles(old, config) || stillClosing.length > 0);
    if (outputsChanged) {
      newOutputs = new Outputs(config, { clock, logger });
      if (!handOver) {
        const built = newOutputs;
        await built.start().catch(async (err: unknown) => {
          // Nothing runs on them yet: close what did start, keep the running outputs.
          await built.close(0).catch(() => undefined);
          throw err;
        });
      }
    }
    // The SNMP enricher and the state store take their settings at construction.
    const restartNeeded = ([
      'state_file', 'max_devices', 'prune_after', 'prune_interval', 'state_snapshot_interval', 'snmp', 'snmp_interval', 'snmp_rate_limit',
      'snmp_burst_limit', 'snmp_max_consecutive_fails', 'snmp_backoff_duration', 'health_check_port', 'health_check_bind',
      'icmp_mode', 'icmp_payload_bytes', 'icmp_tos', 'icmp_ttl', 'icmp_source_ipv4', 'icmp_source_ipv6', 'icmp_interface',
    ] as const)
      .filter((k) => !sameJson(old[k], config[k]));

    this.#applyConfig(config);
    this.#ownership = ownership;
    this.#reloads++;
    s.scheduler.reconfigure(schedulerOptions(config));
    s.reconciler.reconfigure({ maxMonitored: config.max_concurrent_pingers });
    // A sweeper holds its settings for the whole sweep: the next sweep uses a new one.
    if (sweepKeys.some((k) => old[k] !== config[k])) this.#nextSweeper = buildSweeper(config, s.engine, clock, logger);
    if (newOutputs) {
      const previous = s.outputs;
      // Points produced meanwhile wait in the new writers' memory queues until they start.
      s.outputs = newOutputs;
      s.sink.target = newOutputs;
      this.#retiredOutputs.add(previous);
      const closed = previous.close(this.#opts.closeDeadlineMs)
        .catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'closing the previous outputs failed'))
        .finally(() => {
          this.#retiredOutputs.delete(previous);
          this.#retiredTotals = addCounters(this.#retiredTotals ?? zeroCounters(previous.stats()), previous.stats());
        });
      if (handOver) {
        await Promise.all([closed, ...stillClosing]);
        try {
          await newOutputs.start();
        } catch (err) {
          logger.error({ err: errorMessage(err) }, 'the new outputs could not start; points are held in memory (bounded by max_buffer_points)');
        }
      } else {
        // stop() waits for it, so a shutdown cannot cut the previous outputs' final flush short.
        this.#retiring.set(closed, old);
        void closed.finally(() => this.#retiring.delete(closed));
      }
      logger.info({ outputs: newOutputs.names }, 'outputs replaced');
    }
    const targetsChanged = !sameJson([old.networks, old.exclude, old.shard], [config.networks, config.exclude, config.shard]);
    if (targetsChanged) {
      this.#retainOwned('reload');
      if (!this.#currentSweep) this.#armSweep(0);
      else this.#sweepAgain = true;
    } else if (old.icmp_discovery_interval !== config.icmp_discovery_interval && !this.#currentSweep) {
      const started = this.#lastSweep?.startedMs ?? clock.now();
      this.#armSweep(Math.max(0, started + config.icmp_discovery_interval - clock.now()));
    }
    if (restartNeeded.length > 0) logger.warn({ keys: restartNeeded }, 'these settings take effect after a restart');
    logger.info({ networks: config.networks }, 'configuration reloaded');
  }

  #applyConfig(config: Config): void {
    this.#opts = { ...this.#opts, config, closeDeadlineMs: this.#closeDeadlineGiven ? this.#opts.closeDeadlineMs : config.shutdown_timeout };
  }

  /** Stops every stage, source first; idempotent, and concurrent callers share one completion. */
  stop(): Promise<void> {
    this.#stopping ??= this.#doStop();
    return this.#stopping;
  }

  async #doStop(): Promise<void> {
    const { logger } = this.#opts;
    // A stop during start-up lets the start finish first, so no stage opens after its stop step.
    await this.#starting?.catch(() => undefined);
    this.#ready = false;
    this.#sweepTimer?.cancel();
    this.#healthTimer?.cancel();
    this.#sweepAbort.abort(new Error('agent stopping'));
    const s = this.#stages;
    if (!s) return;
    const step = async (name: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        logger.error({ stage: name, err: errorMessage(err) }, 'error while stopping');
      }
    };
    await step('sweep', () => s.sweeper.stop());
    await step('sweep', () => this.#currentSweep);
    await step('snmp', () => s.enricher?.stop());
    await step('reconcile', () => s.reconciler.stop());
    await step('schedule', () => s.scheduler.stop());
    await step('icmp', () => s.engine.stop());
    await step('state', () => s.store.stop());
    // A reload handing the outputs over finishes first, so the outputs closed below are the current ones.
    await step('reload', () => this.#reloading);
    await step('health', () => this.#writeHealthPoint());
    await step('writer', () => Promise.all([s.outputs.close(this.#opts.closeDeadlineMs), ...this.#retiring.keys()]));
    await step('health', () => s.health?.stop());
    const w = this.#writerStats(s);
    logger.info({ points_written: w.pointsWritten, points_spooled: w.spoolPoints, points_dropped: w.pointsDropped }, 'netscan stopped');
  }
}
