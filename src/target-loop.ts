import type { Clock, TimerHandle } from '../internal/clock/clock.js';
import { errorMessage } from '../internal/errors/errors.js';
import type { Logger } from '../internal/log/log.js';
import type { PointSink } from '../internal/model/point.js';
import { dnsFailurePoint } from '../internal/model/points.js';
import { canonicalIp } from '../internal/net/ipv6.js';
import { Exclusions, targetInShard } from '../internal/targets/address-match.js';
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

/** The slice of the ping scheduler targets need. */
export interface TargetIntervals {
  /** Pings `ip` every `intervalMs` (a target's own `ping_interval`), or with undefined at the global interval. */
  setDeviceInterval(ip: string, intervalMs: number | undefined): void;
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
  /** Where a target's own `ping_interval` goes, per address (the ping scheduler). */
  intervals: TargetIntervals;
}

/** Target figures for /health and /metrics. */
export interface TargetFigures {
  /** Targets of this agent (its shard's share of `targets`). */
  configured: number;
  /** Targets whose address is being pinged (two names on one address count twice). */
  resolved: number;
  /** Targets whose name does not resolve now. */
  unresolved: number;
  /** Targets whose name resolves into an `exclude` entry now: not pinged. */
  excluded: number;
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
 * with reason `dns` each time. A target with its own `ping_interval` is pinged at it (also when the
 * sweep found the same address). A name that resolves into an `exclude` entry is not pinged: it is
 * counted, logged once when that starts and once when it ends, and pinged again as soon as it
 * resolves outside the exclusions. Reload adds and removes targets without a restart.
 */
export class TargetLoop {
  readonly #deps: TargetLoopDeps;
  readonly #log: Logger;
  #config: Config;
  readonly #resolver: TargetResolver;
  /** Labels and name per configured host. */
  #specs = new Map<string, TargetTags>();
  /** The own `ping_interval` of each configured host that has one, ms. */
  #intervals = new Map<string, number>();
  #exclusions: Exclusions;
  /** Which target holds each pinned address (the first one, when two names share an address). */
  readonly #holders = new Map<string, string>();
  /** Hosts whose address lies in an exclude entry, with that address (not pinned). */
  readonly #excluded = new Map<string, string>();
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
    this.#exclusions = new Exclusions(config.exclude);
    this.#resolver = new TargetResolver({ lookup: deps.lookup, family: config.ip_family });
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
    // A new family: every name is looked up again now; only the addresses that change move.
    if (old.ip_family !== config.ip_family) {
      this.#resolver.setFamily(config.ip_family);
      this.#nextResolveMs = this.#deps.clock.now();
    }
    this.#takeTargets(config);
    if (JSON.stringify(old.exclude) !== JSON.stringify(config.exclude)) {
      this.#exclusions = new Exclusions(config.exclude);
      this.#reapplyExclusions();
    }
    if (old.ping_interval !== config.ping_interval) this.#armDns();
    if (old.target_resolve_interval !== config.target_resolve_interval) this.#nextResolveMs = this.#deps.clock.now();
    const pending = this.#resolver.pending();
    return pending.length > 0 || this.#nextResolveMs <= this.#deps.clock.now() ? this.#runCycle() : Promise.resolve();
  }

  /** Figures for /health and /metrics, from memory. */
  figures(): TargetFigures {
    const unresolved = [...this.#resolver.failing()].length;
    // Names, not addresses: a name sharing an address another name holds is pinged too.
    let resolved = 0;
    for (const host of this.#specs.keys()) {
      const r = this.#resolver.resolution(host);
      if (r?.ok && this.#holders.has(r.ip)) resolved++;
    }
    return {
      configured: this.#resolver.size,
      resolved,
      unresolved,
      excluded: this.#excluded.size,
      dnsFailures: this.#dnsFailures,
      cycles: this.#cycles,
      lastCycleMs: this.#lastCycleMs,
    };
  }

  #takeTargets(config: Config): void {
    const mine = config.targets.filter((t) => targetInShard(t.host, config.shard));
    this.#specs = new Map(
      mine.map((t) => [t.host, { name: canonicalIp(t.host) === undefined ? t.host : undefined, labels: t.labels }]),
    );
    this.#intervals = new Map(mine.flatMap((t) => (t.ping_interval === undefined ? [] : [[t.host, t.ping_interval]])));
    for (const { host, ip } of this.#resolver.setHosts(this.#specs.keys()))
      this.#apply({ host, ip: undefined, previous: ip });
    // Labels and intervals may have changed for targets that stay.
    for (const [ip, host] of this.#holders) {
      const spec = this.#specs.get(host);
      if (spec) this.#deps.tags.setTarget(ip, spec);
      this.#deps.intervals.setDeviceInterval(ip, this.#intervals.get(host));
    }
  }

  /** The exclusions changed: held addresses now excluded are released, excluded ones now outside are pinged. */
  #reapplyExclusions(): void {
    for (const ip of [...this.#holders.keys()]) if (this.#exclusions.indexOf(ip) >= 0) this.#release(ip);
    // Every name resolving there is excluded now, not only the one that held the address: a name
    // left out would be counted nowhere and, its resolution unchanged, never pinged again.
    for (const host of this.#specs.keys()) {
      const r = this.#resolver.resolution(host);
      if (r?.ok && !this.#excluded.has(host) && this.#exclusions.indexOf(r.ip) >= 0) this.#exclude(host, r.ip);
    }
    for (const [host, ip] of [...this.#excluded]) {
      if (this.#exclusions.indexOf(ip) >= 0) continue;
      this.#apply({ host, ip, previous: undefined });
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
    const { devices, tags } = this.#deps;
    if (c.previous !== undefined && this.#holders.get(c.previous) === c.host) {
      // Another name on the same address takes it over (it was pinged once, under the first name).
      const heir = this.#heir(c.previous, c.host);
      if (heir === undefined) this.#release(c.previous);
      else {
        this.#holders.delete(c.previous);
        this.#apply({ host: heir, ip: c.previous, previous: undefined });
      }
    }
    const wasExcluded = this.#excluded.delete(c.host);
    if (c.ip !== undefined && this.#exclusions.indexOf(c.ip) >= 0) {
      this.#exclude(c.host, c.ip, wasExcluded);
      return;
    }
    // A target removed from the config (no address, no error) leaves without a line.
    if (wasExcluded && (c.ip !== undefined || c.error !== undefined))
      this.#log.info(
        { name: c.host, ip: c.ip ?? null },
        c.ip === undefined
          ? 'excluded target no longer resolves'
          : 'target resolves outside the exclusions again; pinging it',
      );
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
      // Before the pin: the scheduler then starts the device at its own interval.
      this.#deps.intervals.setDeviceInterval(c.ip, this.#intervals.get(c.host));
      devices.pin(c.ip);
      if (c.previous !== undefined)
        this.#log.info({ name: c.host, ip: c.ip, previous: c.previous }, 'target address changed');
    } else if (c.error !== undefined) {
      this.#log.warn({ name: c.host, previous: c.previous, err: c.error }, 'target name does not resolve');
    }
  }

  /** A configured target other than `host` that resolves to `ip` now, if any. */
  #heir(ip: string, host: string): string | undefined {
    for (const h of this.#specs.keys()) {
      const r = h === host ? undefined : this.#resolver.resolution(h);
      if (r?.ok && r.ip === ip) return h;
    }
    return undefined;
  }

  /** Stops pinging the target address `ip` (the device stays when the networks own it). */
  #release(ip: string): void {
    const { devices, tags, intervals, owns } = this.#deps;
    this.#holders.delete(ip);
    tags.clearTarget(ip);
    intervals.setDeviceInterval(ip, undefined);
    devices.unpin(ip);
    if (!owns(ip)) devices.remove(ip);
  }

  /** Records that `host` resolves into an exclusion; logs when that starts, not at every resolution. */
  #exclude(host: string, ip: string, already = false): void {
    this.#excluded.set(host, ip);
    const j = this.#exclusions.indexOf(ip);
    const entry = this.#exclusions.entries[j];
    if (already) {
      this.#log.debug({ name: host, ip, exclude: entry }, 'excluded target moved to another excluded address');
      return;
    }
    this.#log.warn(
      { name: host, ip, exclude: entry },
      `target ${host} resolves to ${ip}, inside exclude[${j}] (${entry}): it is not pinged while it resolves there (remove the exclude entry or the target)`,
    );
  }
}
