import { hostIp } from '../../internal/net/ipv6.js';
import { isHostName } from '../../internal/sweep/targets.js';
import { Exclusions, targetInShard } from '../../internal/targets/address-match.js';
import { formatDuration } from './duration.js';
import { checkLabels, line, num, obj, str, type Findings, type Raw } from './findings.js';
import type { Config } from './schema.js';

/** `targets`: hosts, labels, repeats, literal addresses inside `exclude`, and the count against max_devices. */
export function checkTargets(raw: Raw, f: Findings): void {
  const targets = raw.targets;
  if (!Array.isArray(targets)) return;
  const seen = new Map<string, number>();
  const excluded = new Exclusions(Array.isArray(raw.exclude) ? raw.exclude.map((e) => str(e) ?? '') : []);
  targets.forEach((t, i) => {
    const entry = obj(t);
    const host = str(t) ?? str(entry?.host);
    if (entry) checkLabels(`targets[${i}].labels`, entry.labels, f);
    if (host === undefined) return;
    const path = entry ? `targets[${i}].host` : `targets[${i}]`;
    // An address as the agent pings it (an IPv4-mapped one is its IPv4 address), a name in lower case.
    const ip = hostIp(host.trim());
    const key = ip ?? host.trim().toLowerCase().replace(/\.$/, '');
    if (ip === undefined && !isHostName(host.trim())) {
      return void f.errors.push(
        line(
          path,
          'is not an address or a host name',
          JSON.stringify(host),
          'an IPv4 or IPv6 address, or a host name such as "router.example"',
        ),
      );
    }
    const dup = seen.get(key);
    if (dup !== undefined)
      return void f.errors.push(line(path, `repeats targets[${dup}]`, JSON.stringify(host), 'each host once'));
    seen.set(key, i);
    const j = ip === undefined ? -1 : excluded.indexOf(ip);
    if (j >= 0)
      f.errors.push(
        line(
          path,
          `${ip} is inside exclude[${j}] (${JSON.stringify(excluded.entries[j])}), so it would never be pinged`,
          JSON.stringify(host),
          `an address outside every exclude entry: remove targets[${i}] or exclude[${j}]`,
        ),
      );
  });
  const max = num(raw.max_devices) ?? 20_000;
  const shard = obj(raw.shard);
  const index = num(shard?.index) ?? 0;
  const count = num(shard?.count) ?? 1;
  if (!Number.isInteger(index) || !Number.isInteger(count) || count <= 1 || index < 0 || index >= count) {
    if (targets.length > max)
      f.errors.push(
        line(
          'targets',
          `has more entries than max_devices (${max})`,
          `${targets.length} targets`,
          `at most ${max} targets, or a larger max_devices`,
        ),
      );
    return;
  }
  // Sharded, each agent holds only the targets it owns: that share must fit.
  const mine = targets.filter((t) => {
    const host = str(t) ?? str(obj(t)?.host);
    return host !== undefined && targetInShard(host.trim(), { index, count });
  }).length;
  if (mine > max)
    f.errors.push(
      line(
        'targets',
        `has more entries for this shard (${index} of ${count}) than max_devices (${max})`,
        `${mine} of ${targets.length} targets`,
        `at most ${max} targets per shard, or a larger max_devices`,
      ),
    );
}

/**
 * The rate warning when targets have their own `ping_interval`: each device counts at its own rate
 * (targets at theirs, up to `devices` minus those at ping_interval), so a fast target weighs more.
 */
export function checkOwnIntervalRate(cfg: Config, own: readonly number[], devices: number, f: Findings): void {
  const ownPerSec = own.reduce((n, ms) => n + 1000 / ms, 0);
  const others = Math.max(0, devices - own.length);
  const need = ownPerSec + (others * 1000) / cfg.ping_interval;
  if (need <= cfg.ping_rate_limit) return;
  f.warnings.push(
    line(
      'ping_rate_limit',
      `cannot serve ${own.length} targets at their own ping_interval (${Math.round(ownPerSec * 100) / 100} pings/s) and up to ${others} other devices at ping_interval ${formatDuration(cfg.ping_interval)}; beyond that every interval stretches`,
      String(cfg.ping_rate_limit),
      `>= ${Math.ceil(need)}`,
    ),
  );
}
