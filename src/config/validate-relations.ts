/** Cross-key checks: limits, intervals and buffer sizes that only make sense together. */
import { parseCidr } from '../../internal/sweep/cidr.js';
import { targetInShard } from '../../internal/targets/address-match.js';
import { formatDuration } from './duration.js';
import { line, num, obj, type Findings, type Raw } from './findings.js';
import type { Config } from './schema.js';
import { checkOwnIntervalRate } from './validate-targets.js';

/** Rate against burst limits, `shard.index` against `shard.count`, and ping timing against the rate limit. */
export function checkRelations(raw: Raw, cfg: Config | undefined, f: Findings): void {
  for (const kind of ['ping', 'snmp']) {
    const rate = num(raw[`${kind}_rate_limit`]) ?? (kind === 'ping' ? 64 : 10);
    const burst = num(raw[`${kind}_burst_limit`]) ?? (kind === 'ping' ? 256 : 50);
    if (burst < rate)
      f.warnings.push(
        line(
          `${kind}_burst_limit`,
          `should be >= ${kind}_rate_limit to avoid immediate throttling`,
          String(burst),
          `>= ${rate}`,
        ),
      );
  }
  const shard = obj(raw.shard);
  const idx = num(shard?.index);
  const count = num(shard?.count) ?? 1;
  // A count below 1 is the schema's to report ("allowed 0 to -1" would help nobody).
  if (idx !== undefined && count >= 1 && idx >= count)
    f.errors.push(line('shard.index', 'must be less than shard.count', String(idx), `0 to ${count - 1}`));
  if (!cfg) return;
  if (cfg.ping_timeout >= cfg.ping_interval) {
    f.warnings.push(
      line(
        'ping_timeout',
        `is not shorter than ping_interval (${formatDuration(cfg.ping_interval)}); a device that stops answering is probed every ${formatDuration(Math.ceil(cfg.ping_timeout / cfg.ping_interval + 1e-9) * cfg.ping_interval)}`,
        formatDuration(cfg.ping_timeout),
      ),
    );
  }
  cfg.targets.forEach((t, i) => {
    if (t.ping_interval === undefined || cfg.ping_timeout < t.ping_interval) return;
    f.warnings.push(
      line(
        `targets[${i}].ping_interval`,
        `is not longer than ping_timeout (${formatDuration(cfg.ping_timeout)}); while the target does not answer it is probed every ${formatDuration(Math.ceil(cfg.ping_timeout / t.ping_interval + 1e-9) * t.ping_interval)}`,
        JSON.stringify(formatDuration(t.ping_interval)),
      ),
    );
  });
  const capacity = Math.floor((cfg.ping_rate_limit * cfg.ping_interval) / 1000);
  // A device count the networks cannot reach is no reason to warn (a /30 holds 4 addresses). With
  // shards, this agent pings only its share: the targets it owns, and about 1/count of the networks.
  const mine = cfg.targets.filter((t) => targetInShard(t.host, cfg.shard));
  const swept = cfg.networks.length > 0 ? networkAddresses(cfg.networks.map((n) => n.cidr)) : 0;
  const reachable = Math.ceil(swept / cfg.shard.count) + mine.length;
  const own = mine.flatMap((t) => (t.ping_interval === undefined ? [] : [t.ping_interval]));
  if (own.length > 0)
    return checkOwnIntervalRate(cfg, own, Math.min(cfg.max_devices, cfg.max_concurrent_pingers, reachable), f);
  if (capacity < Math.min(cfg.max_devices, cfg.max_concurrent_pingers, reachable)) {
    f.warnings.push(
      line(
        'ping_rate_limit',
        `serves at most ${capacity} devices at ping_interval ${formatDuration(cfg.ping_interval)}; beyond that the effective interval stretches (max_devices is ${cfg.max_devices})`,
        String(cfg.ping_rate_limit),
        `>= ${Math.ceil((Math.min(cfg.max_devices, cfg.max_concurrent_pingers) * 1000) / cfg.ping_interval)} to keep the interval for max_devices`,
      ),
    );
  }
}

/** Addresses in `networks` (overlaps counted twice); Infinity when one is not an IPv4 CIDR. */
function networkAddresses(networks: readonly string[]): number {
  let n = 0;
  for (const cidr of networks) {
    const m = /^\d{1,3}(?:\.\d{1,3}){3}\/(\d{1,2})$/.exec(cidr.trim());
    if (!m) return Infinity;
    n += 2 ** (32 - Number(m[1]));
  }
  return networks.length === 0 ? Infinity : n;
}

/** Hosts a sweep of `networks` can find (an upper bound of the fleet); undefined when none parse. */
function networkHosts(networks: readonly string[]): number | undefined {
  let hosts = 0;
  for (const n of networks) {
    const c = parseCidr(n.trim());
    if (c) hosts += c.prefix >= 31 ? 2 ** (32 - c.prefix) : 2 ** (32 - c.prefix) - 2;
  }
  return hosts > 0 ? hosts : undefined;
}

/**
 * The in-memory queue of each output (`influxdb` and every `outputs` entry, each max_buffer_points
 * long) must hold a batch being sent and the next one filling, and, to drop nothing while the output
 * keeps up, what one flush_interval produces at the fleet size the config allows.
 */
export function checkBuffer(cfg: Config | undefined, f: Findings): void {
  if (!cfg) return;
  const sections = [
    ...(cfg.influxdb?.enabled ? [{ at: 'influxdb', db: cfg.influxdb }] : []),
    ...cfg.outputs.flatMap((db, i) => (db.enabled ? [{ at: `outputs[${i}]`, db }] : [])),
  ];
  const buffer = cfg.max_buffer_points;
  for (const { at, db } of sections) {
    const batch = db.batch_size;
    if (buffer < 2 * batch) {
      f.errors.push(
        line(
          'max_buffer_points',
          `must be at least 2 x ${at}.batch_size (${batch}): one batch is sent while the next one fills, or points are dropped`,
          String(buffer),
          `>= ${2 * batch}, or a smaller ${at}.batch_size`,
        ),
      );
      continue;
    }
    const hosts = networkHosts(cfg.networks.map((n) => n.cidr));
    if (hosts === undefined) continue;
    const devices = Math.min(hosts, cfg.max_devices, cfg.max_concurrent_pingers);
    const perFlush =
      (cfg.ping_raw_points ? Math.ceil(db.flush_interval / cfg.ping_interval) : 0) +
      (cfg.summary_interval > 0 ? Math.ceil(db.flush_interval / cfg.summary_interval) : 0);
    const need = devices * perFlush;
    if (buffer < need) {
      f.warnings.push(
        line(
          'max_buffer_points',
          `holds less than one ${at}.flush_interval (${formatDuration(db.flush_interval)}) of points: ${devices} devices at ping_interval ${formatDuration(cfg.ping_interval)} write about ${need}; the rest spills to the spool or is dropped`,
          String(buffer),
          `>= ${need}, or a shorter ${at}.flush_interval`,
        ),
      );
    }
  }
}
