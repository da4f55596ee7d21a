import type { Clock, TimerHandle } from '../internal/clock/clock.js';
import { errorMessage } from '../internal/errors/errors.js';
import type { Logger } from '../internal/log/log.js';
import type { PointSink } from '../internal/model/point.js';
import { dnsFailurePoint } from '../internal/model/points.js';
import { canonicalIp } from '../internal/net/ipv6.js';
import { targetInShard } from '../internal/targets/address-match.js';
import { TargetResolver, type AddressChange, type LookupAll } from '../internal/targets/target-resolver.js';
import type { Config } from './config/schema.js';
import type { TargetTags } from './device-tags.js';

/** The slice of the device store targets need. */
export interface TargetDevices {
  /** Holds `ip` in the state (added if unknown), never evicted or pruned. */
  pin(ip: string): void;
  /** Releases `ip` to the usual eviction and pruning. */
  unpin(ip: string): void;
  /** Forgets `ip`. */
  remove(ip: string): unknown;
}

/** Collaborators of {@link TargetLoop}. */
export interface TargetLoopDeps {
  /** Time source of the resolve and dns-failure schedules. */
  clock: Clock;
  /** Parent logger. */
  logger: Logger;
  /** The system resolver (dns.promises.lookup) or a fake. */
  lookup: LookupAll;
  /** The device store: targets' addresses are pinned in it, so the reconciler schedules their pings. */
  devices: TargetDevices;
  /** True when the networks own `ip` too: such a device stays when its target goes. */
  owns: (ip: string) => boolean;
  /** Where each target's name and labels go, per address. */
  tags: { setTarget(ip: string, tags: TargetTags): void; clearTarget(ip: string): void };
  /** Where `ping` points with reason `dns` go. */
  sink: PointSink;
}

/** Target figures for /health and /metrics. */
export interface TargetFigures {
  /** Targets of this agent (its shard's share of `targets`). */
  configured: number;
  /** Targets with an address being pinged. */
  resolved: number;
  /** Targets whose name does not resolve now. */
  unresolved: number;
  /** `ping` points with reason dns written since start. */
  dnsFailures: number;
  /** Resolution cycles completed since start. */
  cycles: number;
  /** Duration of the last full resolution cycle, ms. */
  lastCycleMs: number;
}

/**
 * Monitors the configured `targets` without a sweep: resolves them at start and every
 * `target_resolve_interval` (the system resolver gives no TTL), pins each address in the device
 * store (so it is pinged, and never evicted or pruned while configured), and follows a changed
 * address: the old one stops, the new one is pinged under the same `name` tag. A name that does
 * not resolve is looked up again every `ping_interval` and, while it fails, writes a `ping` point
 * with reason `dns` each time. Reload adds and removes targets without a restart.
 */
export class TargetLoop {
  readonly #deps: TargetLoopDeps;
  readonly #log: Logger;
  #config: Config;
  #resolver: TargetResolver;
  /** Labels and name per configured host. */
  #specs = new Map<string, TargetTags>();
  /** Which target holds each pinned address (the first one, when two names share an address). */
  readonly #holders = new Map<string, string>();
  #resolveTimer: TimerHandle | undefined;
  #dnsTimer: TimerHandle | undefined;
  #cycle: Promise<void> = Promise.resolve();
  #nextResolveMs = 0;
  #stopped = false;
  #dnsFailures = 0;
  #cycles = 0;
  #lastCycleMs = 0;

  constructor(config: Config, deps: TargetLoopDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ stage: 'targets' });
    this.#config = config;
    this.#resolver = this.#buildResolver(config);
    this.#takeTargets(config);
  }

  /** Resolves every target now, then on the schedule. The returned promise settles after the first cycle. */
  start(): Promise<void> {
    this.#nextResolveMs = this.#deps.clock.now();
    this.#armDns();
    return this.#runCycle();
  }

  /** Cancels the timers and waits for a running cycle. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#resolveTimer?.cancel();
    this.#dnsTimer?.cancel();
    await this.#cycle;
  }

  /** Applies a reloaded config: removed targets stop, new ones are resolved now, intervals and family follow. */
  reconfigure(config: Config): Promise<void> {
    const old = this.#config;
    this.#config = config;
    if (old.ip_family !== config.ip_family) {
      for (const { host, ip } of this.#resolver.setHosts([])) this.#apply({ host, ip: undefined, previous: ip });
      this.#resolver = this.#buildResolver(config);
    }
    this.#takeTargets(config);
    if (old.ping_interval !== config.ping_interval) this.#armDns();
    if (old.target_resolve_interval !== config.target_resolve_interval) this.#nextResolveMs = this.#deps.clock.now();
    const pending = this.#resolver.pending();
    return pending.length > 0 || this.#nextResolveMs <= this.#deps.clock.now() ? this.#runCycle() : Promise.resolve();
  }

  /** Figures for /health and /metrics, from memory. */
  figures(): TargetFigures {
    const unresolved = [...this.#resolver.failing()].length;
    return {
      configured: this.#resolver.size,
      resolved: this.#holders.size,
      unresolved,
      dnsFailures: this.#dnsFailures,
      cycles: this.#cycles,
      lastCycleMs: this.#lastCycleMs,
    };
  }

  #buildResolver(config: Config): TargetResolver {
    return new TargetResolver({ lookup: this.#deps.lookup, family: config.ip_family });
  }

  #takeTargets(config: Config): void {
    const mine = config.targets.filter((t) => targetInShard(t.host, config.shard));
    this.#specs = new Map(
      mine.map((t) => [t.host, { name: canonicalIp(t.host) === undefined ? t.host : undefined, labels: t.labels }]),
    );
    for (const { host, ip } of this.#resolver.setHosts(this.#specs.keys()))
      this.#apply({ host, ip: undefined, previous: ip });
    // Labels may have changed for targets that stay.
    for (const [ip, host] of this.#holders) {
      const spec = this.#specs.get(host);
      if (spec) this.#deps.tags.setTarget(ip, spec);
    }
  }

  /** One full resolution (cycles never overlap: a cycle asked for while one runs follows it). */
  #runCycle(): Promise<void> {
    this.#cycle = this.#cycle.then(async () => {
      if (this.#stopped) return;
      const { clock } = this.#deps;
      this.#resolveTimer?.cancel();
      const startedMs = clock.now();
      try {
        const changes = await this.#resolver.resolveAll(undefined, (c) => this.#apply(c));
        this.#cycles++;
        this.#lastCycleMs = clock.now() - startedMs;
        this.#log.debug(
          { count: this.#resolver.size, changed: changes.length, duration_ms: this.#lastCycleMs },
          'targets resolved',
        );
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'target resolution failed; retrying at the next interval');
      }
      if (this.#stopped) return;
      // From the schedule, not from the end of the cycle.
      this.#nextResolveMs = Math.max(startedMs + this.#config.target_resolve_interval, clock.now());
      this.#resolveTimer = clock.setTimeout(() => {
        this.#runCycle().catch((err: unknown) =>
          this.#log.error({ err: errorMessage(err) }, 'target resolution failed'),
        );
      }, this.#nextResolveMs - clock.now());
    });
    return this.#cycle;
  }

  /** Every ping_interval: looks up the failing names again; each still failing writes a dns point. */
  #armDns(): void {
    this.#dnsTimer?.cancel();
    if (this.#stopped) return;
    this.#dnsTimer = this.#deps.clock.setTimeout(() => {
      const failing = [...this.#resolver.failing()];
      const run = failing.length === 0 ? Promise.resolve() : this.#retryFailing(failing);
      run
        .catch((err: unknown) => this.#log.error({ err: errorMessage(err) }, 'target re-resolution failed'))
        .finally(() => this.#armDns());
    }, this.#config.ping_interval);
  }

  async #retryFailing(hosts: readonly string[]): Promise<void> {
    await this.#resolver.resolveAll(hosts, (c) => {
      if (!this.#stopped) this.#apply(c);
    });
    if (this.#stopped) return;
    const nowMs = this.#deps.clock.now();
    for (const host of hosts) {
      const r = this.#resolver.resolution(host);
      const spec = this.#specs.get(host);
      if (r && !r.ok && spec) {
        this.#dnsFailures++;
        this.#deps.sink.write(dnsFailurePoint(host, spec.labels, nowMs));
      }
    }
  }

  #apply(c: AddressChange): void {
    const { devices, tags, owns } = this.#deps;
    if (c.previous !== undefined && this.#holders.get(c.previous) === c.host) {
      this.#holders.delete(c.previous);
      tags.clearTarget(c.previous);
      devices.unpin(c.previous);
      if (!owns(c.previous)) devices.remove(c.previous);
    }
    if (c.ip !== undefined) {
      const holder = this.#holders.get(c.ip);
      if (holder !== undefined && holder !== c.host) {
        this.#log.warn(
          { name: c.host, ip: c.ip, held_by: holder },
          'two targets resolve to the same address; it is pinged once, under the first name',
        );
        return;
      }
      this.#holders.set(c.ip, c.host);
      tags.setTarget(c.ip, this.#specs.get(c.host) ?? { name: undefined, labels: {} });
      devices.pin(c.ip);
      if (c.previous !== undefined)
        this.#log.info({ name: c.host, ip: c.ip, previous: c.previous }, 'target address changed');
    } else if (c.error !== undefined) {
      this.#log.warn({ name: c.host, previous: c.previous, err: c.error }, 'target name does not resolve');
    }
  }
}
