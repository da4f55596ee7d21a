import { hostname } from 'node:os';
import type { Point, PointSink } from '../internal/model/point.js';
import { measurements } from '../internal/model/points.js';
import { rawPingFields, type RawPing, type RawPingSink } from '../internal/schedule/raw-ping.js';
import { attachedTags, encodedTagSet, timestampText, writeRendered } from '../internal/writer/line-protocol.js';
import { AddressMatch } from '../internal/targets/address-match.js';
import type { Config } from './config/schema.js';

/** What a configured target adds to its device's points. */
export interface TargetTags {
  /** The configured host name; undefined for a target given as an address. */
  readonly name: string | undefined;
  /** The target's `labels`. */
  readonly labels: Readonly<Record<string, string>>;
}

/** A device's cached tags: those added to its points, and the whole set of a point tagged only `ip`. */
interface CachedTags {
  /** What {@link DeviceTags.tagsFor} answers. */
  readonly added: Readonly<Record<string, string>>;
  /** `added` plus `ip`, frozen with its line-protocol rendering attached (built on first use). */
  withIp: Readonly<Record<string, string>> | undefined;
}

/** Entries kept in the per-address tag cache (and reverse-DNS cache) before it is dropped and rebuilt on demand. */
const MAX_CACHED = 200_000;
/** Reverse lookups in flight at once (getnameinfo runs on libuv's thread pool). */
const MAX_REVERSE_IN_FLIGHT = 4;

/** Reverse lookup of one address: its name, or undefined when it has none. */
export type ReverseLookup = (ip: string) => Promise<string | undefined>;

/** The value of the `agent` tag: `agent_name`, else the machine's host name. */
export const agentName = (config: Config): string => config.agent_name || hostname();

/**
 * A sink in front of the outputs that puts identity on every point: `agent` on all of them
 * (health_metrics included, so sharded agents keep separate series), and on a device's points
 * (those with an `ip` tag) the labels of its network and target and its `name`: the target's
 * host name, else the SNMP sysName seen in its latest device_info point, else (with
 * `reverse_dns`) the address's reverse-DNS name, looked up once and cached. Tags are computed once
 * per address and cached, and so is the whole tag set of a point tagged only `ip` (ping,
 * ping_summary, device_info), frozen with its line-protocol rendering attached: such a point costs
 * one map lookup and one point copy, and the writer does not encode its tags again. Anything that
 * changes a device's tags (reload, target, sysName, reverse name) drops its cache entry. A raw
 * `ping` point from the probe thread ({@link writeRawPing}) also comes with its whole line rendered
 * from that cached tag part, its fields and its timestamp.
 */
export class DeviceTags implements RawPingSink {
  readonly #inner: PointSink;
  #agent: Readonly<Record<string, string>> = {};
  #networks: Array<{ match: AddressMatch; labels: Readonly<Record<string, string>> }> = [];
  readonly #targets = new Map<string, TargetTags>();
  readonly #sysNames = new Map<string, string>();
  readonly #cache = new Map<string, CachedTags>();
  /** Entries of #cache by a raw ping's `ipId`, valid while #cacheGen is #byIdGen. */
  #byId: Array<{ ip: string; entry: CachedTags } | undefined> = [];
  #byIdGen = 0;
  /** Counts removals from #cache. */
  #cacheGen = 0;
  readonly #reverseLookup: ReverseLookup | undefined;
  /** Reverse-DNS answers: a name, or null for none (or a lookup in flight). */
  readonly #reverse = new Map<string, string | null>();
  #reverseInFlight = 0;
  #reverseOn = false;

  constructor(inner: PointSink, config: Config, reverse?: ReverseLookup) {
    this.#inner = inner;
    this.#reverseLookup = reverse;
    this.reconfigure(config);
  }

  /** Takes a new agent name and network labels (a reload); cached tags are rebuilt. */
  reconfigure(config: Config): void {
    this.#agent = { agent: agentName(config) };
    this.#networks = config.networks
      .filter((n) => Object.keys(n.labels).length > 0)
      .map((n) => ({ match: new AddressMatch([n.cidr], config.exclude), labels: n.labels }));
    this.#reverseOn = config.reverse_dns && this.#reverseLookup !== undefined;
    this.#reverse.clear();
    this.#clearCache();
  }

  #clearCache(): void {
    this.#cache.clear();
    this.#cacheGen++;
  }

  #forget(ip: string): void {
    if (this.#cache.delete(ip)) this.#cacheGen++;
  }

  /** The `agent` tag value. */
  get agent(): string {
    return this.#agent.agent!;
  }

  /** `ip` is the current address of a configured target. */
  setTarget(ip: string, tags: TargetTags): void {
    this.#targets.set(ip, tags);
    this.#forget(ip);
  }

  /** `ip` is no longer a configured target's address. */
  clearTarget(ip: string): void {
    this.#targets.delete(ip);
    this.#forget(ip);
  }

  /** The tags added to points of device `ip` (agent, labels, name). */
  tagsFor(ip: string): Readonly<Record<string, string>> {
    return this.#cached(ip).added;
  }

  #cached(ip: string): CachedTags {
    const hit = this.#cache.get(ip);
    if (hit) return hit;
    const out: Record<string, string> = {};
    for (const n of this.#networks) if (n.match.has(ip)) Object.assign(out, n.labels);
    const target = this.#targets.get(ip);
    if (target) Object.assign(out, target.labels);
    const name = target?.name ?? this.#sysNames.get(ip) ?? this.#reverseName(ip);
    if (name !== undefined) out.name = name;
    out.agent = this.#agent.agent!;
    const entry: CachedTags = { added: Object.freeze(out), withIp: undefined };
    // A reverse lookup not started (too many in flight) is asked for at the device's next point, so not cached.
    if (name === undefined && this.#reverseOn && !this.#reverse.has(ip)) return entry;
    if (this.#cache.size >= MAX_CACHED) this.#clearCache();
    this.#cache.set(ip, entry);
    return entry;
  }

  /** {@link #cached}, first looked for by `id` (a raw ping's `ipId`). */
  #cachedById(ip: string, id: number): CachedTags {
    if (id < 0) return this.#cached(ip);
    if (this.#byIdGen !== this.#cacheGen) {
      this.#byId = [];
      this.#byIdGen = this.#cacheGen;
    }
    const hit = this.#byId[id];
    if (hit !== undefined && hit.ip === ip) return hit.entry;
    const entry = this.#cached(ip);
    // Only an entry the cache holds (a reverse lookup not yet started is asked for again).
    if (this.#cache.get(ip) === entry) this.#byId[id] = { ip, entry };
    return entry;
  }

  write(point: Point): number {
    const tags = point.tags;
    const ip = tags.ip;
    if (ip === undefined) return this.#inner.write({ ...point, tags: { ...this.#agent, ...tags } });
    if (point.measurement === measurements.deviceInfo) this.#learnSysName(ip, point);
    const entry = this.#cached(ip);
    if (onlyIp(tags)) {
      entry.withIp ??= encodedTagSet({ ...entry.added, ip });
      return this.#inner.write({ ...point, tags: entry.withIp });
    }
    return this.#inner.write({ ...point, tags: { ...entry.added, ...tags } });
  }

  /** Writes `r`'s point as `write(rawPingPoint(r))` would, rendered here: no tag or field record to encode. */
  writeRawPing(r: RawPing): number {
    const entry = this.#cachedById(r.ip, r.ipId);
    const tags = (entry.withIp ??= encodedTagSet({ ...entry.added, ip: r.ip }));
    const point = { measurement: measurements.ping, tags, fields: rawPingFields(r), timeMs: r.timeMs };
    const line = rawPingLine(r, attachedTags(tags)!);
    return line === undefined ? this.#inner.write(point) : writeRendered(this.#inner, point, line);
  }

  /** The cached reverse-DNS name of `ip`; on a miss starts one lookup and answers undefined for now. */
  #reverseName(ip: string): string | undefined {
    if (!this.#reverseOn) return undefined;
    const known = this.#reverse.get(ip);
    if (known !== undefined) return known ?? undefined;
    if (this.#reverseInFlight >= MAX_REVERSE_IN_FLIGHT) return undefined;
    if (this.#reverse.size >= MAX_CACHED) this.#reverse.clear();
    this.#reverse.set(ip, null);
    this.#reverseInFlight++;
    this.#reverseLookup!(ip)
      .catch(() => undefined)
      .then((name) => {
        this.#reverseInFlight--;
        if (name === undefined || name === ip || !this.#reverse.has(ip)) return;
        this.#reverse.set(ip, name);
        this.#forget(ip);
      })
      .catch(() => undefined);
    return undefined;
  }

  #learnSysName(ip: string, point: Point): void {
    const f = point.fields.hostname;
    // device_info carries the IP as hostname when the agent returned no sysName (Go parity).
    const name = f?.type === 'string' && f.value !== '' && f.value !== ip ? f.value : undefined;
    if (name === this.#sysNames.get(ip)) return;
    if (name === undefined) this.#sysNames.delete(ip);
    else this.#sysNames.set(ip, name);
    this.#forget(ip);
  }
}

/**
 * The line toLineProtocol renders for `r`'s point with the tag part `tagText` (under every
 * LineProtocolOptions: it has no unsigned field), or undefined when it would render none.
 */
export function rawPingLine(r: RawPing, tagText: string): string | undefined {
  if (!Number.isFinite(r.timeMs)) return undefined;
  let fields: string;
  // Reasons are identifiers: nothing to escape inside the quotes.
  if (!r.ok) fields = `reason="${r.reason ?? 'agent_error'}",${r.rttZero ? 'rtt_ms=0,' : ''}success=F,suspended=F`;
  // A float that is not finite is left out of the line.
  else if (Number.isFinite(r.rttMs)) fields = `rtt_ms=${r.rttMs},success=T,suspended=F`;
  else fields = 'success=T,suspended=F';
  return `${measurements.ping}${tagText} ${fields} ${timestampText(Math.trunc(r.timeMs))}`;
}

/** True when `tags` has no key but `ip`. */
function onlyIp(tags: Readonly<Record<string, string>>): boolean {
  for (const key in tags) if (key !== 'ip') return false;
  return true;
}
