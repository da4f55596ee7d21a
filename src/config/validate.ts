import { formatCidr, isLinkLocalNetwork, isMulticastNetwork, parseCidr } from '../../internal/sweep/cidr.js';
import { formatDuration, parseDuration } from './duration.js';
import { redactUrlCredentials } from '../../internal/log/log.js';
import { parseIpv4 } from '../../internal/icmp/ipv4.js';
import { parseIpv6 } from '../../internal/net/ipv6.js';
import { MAX_IPV6_SWEEP_ADDRESSES, MIN_IPV6_SWEEP_PREFIX, parseIpv6Cidr } from '../../internal/sweep/cidr6.js';
import { badCommunityCharPosition } from '../../internal/snmp/credentials.js';
import type { Config } from './schema.js';
import { checkLabels, line, num, obj, str, type Findings, type Raw } from './findings.js';
import { checkOwnIntervalRate, checkTargets } from './validate-targets.js';

/**
 * Checks the schema cannot express: CIDR semantics, relationships between keys, and the Go
 * netscan's SNMP community and InfluxDB rules. Runs on the raw (env-expanded) YAML object, so
 * it reports alongside schema problems instead of after them; every check guards its own
 * types. Warnings never stop validation (the Go version returned at its first warning).
 */

/** 240.0.0.0: class E (reserved) and the limited broadcast address. */
const CLASS_E = 0xf0000000;

function checkNetworks(raw: Raw, f: Findings): void {
  const nets = raw.networks;
  const targets = raw.targets;
  if (
    (nets === undefined || (Array.isArray(nets) && nets.length === 0)) &&
    !(Array.isArray(targets) && targets.length > 0)
  ) {
    f.warnings.push(
      line(
        'networks',
        'is empty: nothing will be discovered (devices restored from the state file are still monitored)',
      ),
    );
  }
  if (Array.isArray(nets)) {
    nets.forEach((n, i) => {
      const entry = obj(n);
      const s = str(n) ?? str(entry?.cidr);
      if (entry) checkLabels(`networks[${i}].labels`, entry.labels, f);
      if (s === undefined) return; // the schema reports the type
      const path = entry ? `networks[${i}].cidr` : `networks[${i}]`;
      if (s.includes(':')) return checkIpv6Network(path, s.trim(), f);
      const c = parseCidr(s.trim());
      const allowed = 'an IPv4 CIDR a.b.c.d/n with n from 8 to 32';
      if (!c) return void f.errors.push(line(path, 'invalid CIDR notation', JSON.stringify(s), allowed));
      if (c.prefix < 8)
        return void f.errors.push(
          line(path, `network range too broad (/${c.prefix}), maximum allowed is /8`, JSON.stringify(s), allowed),
        );
      if (c.network === 0)
        return void f.errors.push(line(path, 'network address is unspecified (0.0.0.0)', JSON.stringify(s), allowed));
      if (isMulticastNetwork(c))
        return void f.errors.push(line(path, 'multicast networks not allowed', JSON.stringify(s), allowed));
      if (c.network >= CLASS_E)
        return void f.errors.push(
          line(path, 'reserved (class E / broadcast) networks not allowed', JSON.stringify(s), allowed),
        );
      if (isLinkLocalNetwork(c))
        return void f.errors.push(line(path, 'link-local networks not allowed', JSON.stringify(s), allowed));
      if (c.hostBitsSet)
        f.warnings.push(line(path, `has host bits set; scanning the network ${formatCidr(c)}`, JSON.stringify(s)));
    });
  }
  const ex = raw.exclude;
  if (Array.isArray(ex)) {
    ex.forEach((n, i) => {
      const s = str(n);
      if (s === undefined) return;
      const t = s.trim();
      const ok = t.includes(':')
        ? parseIpv6Cidr(t, { allowBareAddress: true }) !== undefined
        : parseCidr(t, { allowBareAddress: true }) !== undefined;
      if (!ok)
        f.errors.push(
          line(`exclude[${i}]`, 'invalid CIDR or address', JSON.stringify(s), 'an IPv4 or IPv6 address or CIDR'),
        );
    });
  }
  checkTargets(raw, f);
}

function checkIpv6Network(path: string, s: string, f: Findings): void {
  const allowed = `an IPv6 prefix of /${MIN_IPV6_SWEEP_PREFIX} or longer (${MAX_IPV6_SWEEP_ADDRESSES} addresses at most)`;
  const c = parseIpv6Cidr(s, { allowBareAddress: true });
  if (!c) return void f.errors.push(line(path, 'invalid IPv6 prefix', JSON.stringify(s), allowed));
  if (c.prefix < MIN_IPV6_SWEEP_PREFIX) {
    return void f.errors.push(
      line(
        path,
        `IPv6 prefix /${c.prefix} is too large to sweep; list the hosts to monitor under targets instead`,
        JSON.stringify(s),
        allowed,
      ),
    );
  }
  const top16 = Number(c.network >> 112n);
  if (top16 >>> 8 === 0xff)
    return void f.errors.push(line(path, 'multicast networks not allowed', JSON.stringify(s), allowed));
  if ((top16 & 0xffc0) === 0xfe80)
    return void f.errors.push(line(path, 'link-local networks not allowed', JSON.stringify(s), allowed));
}

const weakCommunities = new Set(['private', 'admin', 'password', '123456', 'community']);

function checkCommunity(path: string, value: unknown, f: Findings): void {
  const s = str(value);
  if (s === undefined) return;
  const allowed = '1 to 32 characters from A-Z a-z 0-9 . _ -';
  if (s === '')
    return void f.errors.push(
      line(path, 'snmp community string cannot be empty (an unset environment variable expands to "")', '""', allowed),
    );
  if (s.length > 32)
    return void f.errors.push(
      line(path, `snmp community string too long (max 32 characters)`, `${s.length} characters`, allowed),
    );
  const bad = badCommunityCharPosition(s);
  if (bad > 0)
    return void f.errors.push(
      line(path, `snmp community string contains an invalid character at position ${bad}`, undefined, allowed),
    );
  if (weakCommunities.has(s))
    return void f.errors.push(
      line(
        path,
        'snmp community string is a common default value and should be changed for security',
        '[redacted]',
        'a community that is not a well-known default',
      ),
    );
  if (s === 'public')
    f.warnings.push(line(path, "using the default SNMP community 'public'; consider changing it for security"));
}

function checkSnmp(raw: Raw, f: Findings): void {
  const snmp = obj(raw.snmp);
  if (!snmp || snmp.enabled === false) return;
  const creds = Array.isArray(snmp.credentials) ? snmp.credentials : [];
  if (snmp.community === undefined && creds.length === 0) {
    f.errors.push(
      line(
        'snmp.community',
        'is required when SNMP is enabled',
        'nothing',
        'a community string, or snmp.credentials, or snmp.enabled: false',
      ),
    );
  }
  checkCommunity('snmp.community', snmp.community, f);
  creds.forEach((c, i) => {
    const cred = obj(c);
    if (!cred) return;
    const p = `snmp.credentials[${i}]`;
    const version = String(cred.version ?? '2c');
    if (version === '3') {
      if (!str(cred.username))
        f.errors.push(line(`${p}.username`, 'is required for SNMPv3', 'nothing', 'a USM user name'));
      const level = str(cred.security_level) ?? (cred.priv_key ? 'authPriv' : 'authNoPriv');
      if ((str(cred.auth_key) ?? '').length < 8) {
        f.errors.push(
          line(
            `${p}.auth_key`,
            `is required for ${level} and must have at least 8 characters`,
            '[redacted]',
            'a key of 8 or more characters',
          ),
        );
      }
      if (level === 'authPriv' && (str(cred.priv_key) ?? '').length < 8) {
        f.errors.push(
          line(
            `${p}.priv_key`,
            'is required for authPriv and must have at least 8 characters',
            '[redacted]',
            'a key of 8 or more characters',
          ),
        );
      }
    } else if (cred.community === undefined) {
      f.errors.push(line(`${p}.community`, `is required for SNMP v${version}`, 'nothing', 'a community string'));
    } else {
      checkCommunity(`${p}.community`, cred.community, f);
    }
  });
}

function checkInflux(raw: Raw, f: Findings): void {
  checkInfluxSection(obj(raw.influxdb), 'influxdb', f);
  if (!Array.isArray(raw.outputs)) return;
  const seen = new Set<string>();
  raw.outputs.forEach((entry, i) => {
    const db = obj(entry);
    checkInfluxSection(db, `outputs[${i}]`, f);
    const name = str(db?.name);
    if (name === undefined) return;
    if (seen.has(name))
      f.errors.push(
        line(`outputs[${i}].name`, 'is used by an earlier output', JSON.stringify(name), 'a name unique among outputs'),
      );
    seen.add(name);
  });
}

function checkInfluxSection(db: Raw | undefined, at: string, f: Findings): void {
  if (!db || db.enabled === false) return;
  const url = str(db.url);
  if (url === undefined || url === '') {
    if (db.url === undefined || url === '')
      f.errors.push(
        line(
          `${at}.url`,
          at === 'influxdb' ? 'is required when the influxdb section is present' : 'is required',
          url === '' ? '"" (is the environment variable set?)' : 'nothing',
          'an http:// or https:// URL',
        ),
      );
  } else if (url.length > 2048) {
    f.errors.push(
      line(`${at}.url`, 'URL too long (max 2048 characters)', `${url.length} characters`, 'an http:// or https:// URL'),
    );
  } else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      f.errors.push(
        line(
          `${at}.url`,
          'invalid URL format',
          JSON.stringify(redactUrlCredentials(url)),
          'an http:// or https:// URL',
        ),
      );
    }
    if (parsed && parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      f.errors.push(
        line(`${at}.url`, 'URL must use http or https scheme', JSON.stringify(parsed.protocol), 'http or https'),
      );
    } else if (parsed && !parsed.hostname) {
      f.errors.push(
        line(
          `${at}.url`,
          'URL must include a valid host',
          JSON.stringify(url),
          'an http:// or https:// URL with a host',
        ),
      );
    }
  }
  const version = str(db.version) ?? 'v2';
  if (version === 'v2') {
    for (const k of ['token', 'org', 'bucket']) {
      const v = db[k];
      if (v === undefined || v === '')
        f.errors.push(
          line(
            `${at}.${k}`,
            `is required for InfluxDB v2`,
            v === '' ? '"" (is the environment variable set?)' : 'nothing',
            'a non-empty string',
          ),
        );
    }
  }
  const retryMin = typeof db.retry_min_delay === 'string' ? safeDuration(db.retry_min_delay) : 1000;
  const retryMax = typeof db.retry_max_delay === 'string' ? safeDuration(db.retry_max_delay) : 10_000;
  if (retryMin !== undefined && retryMax !== undefined && retryMax < retryMin) {
    f.errors.push(
      line(
        `${at}.retry_max_delay`,
        `must not be shorter than ${at}.retry_min_delay`,
        formatDuration(retryMax),
        `>= ${formatDuration(retryMin)}`,
      ),
    );
  }
  if (version === 'v1' && !str(db.database) && !str(db.bucket)) {
    f.errors.push(
      line(`${at}.database`, 'is required for InfluxDB v1', 'nothing', `a database name (or ${at}.bucket)`),
    );
  }
}

function safeDuration(s: string): number | undefined {
  try {
    return parseDuration(s);
  } catch {
    return undefined; // the schema reports the syntax
  }
}

function checkLegacy(raw: Raw, f: Findings): void {
  const sched = raw.snmp_daily_schedule;
  if (typeof sched === 'string' && sched !== '') {
    const m = /^(\d{2}):(\d{2})$/.exec(sched);
    if (!m)
      f.errors.push(
        line(
          'snmp_daily_schedule',
          'time must be in HH:MM format',
          JSON.stringify(sched),
          '"HH:MM" with hour 00-23 and minute 00-59',
        ),
      );
    else if (Number(m[1]) > 23)
      f.errors.push(line('snmp_daily_schedule', 'hour must be between 00 and 23', m[1], '00-23'));
    else if (Number(m[2]) > 59)
      f.errors.push(line('snmp_daily_schedule', 'minute must be between 00 and 59', m[2], '00-59'));
    else
      f.warnings.push(line('snmp_daily_schedule', 'is deprecated and ignored; devices are polled every snmp_interval'));
  }
  // Only a value that differs from the default suggests the operator expects an effect.
  for (const [k, def] of [
    ['snmp_workers', 32],
    ['max_concurrent_snmp_pollers', 20_000],
  ] as const) {
    const v = num(raw[k]);
    if (v !== undefined && v !== def)
      f.warnings.push(
        line(k, 'is accepted for compatibility with Go netscan but has no effect (see snmp.max_in_flight)', String(v)),
      );
  }
  for (const [k, def] of [
    ['discovery_interval', 4 * 3_600_000],
    ['min_scan_interval', 60_000],
  ] as const) {
    const v = str(raw[k]);
    let ms: number | undefined;
    try {
      ms = v === undefined ? undefined : parseDuration(v);
    } catch {
      ms = undefined; // the schema reports the syntax
    }
    if (ms !== undefined && ms !== def)
      f.warnings.push(line(k, 'is accepted for compatibility with Go netscan but has no effect', JSON.stringify(v)));
  }
}

/** Linux IFNAMSIZ (16) less the terminating NUL. */
const MAX_INTERFACE_NAME = 15;

function checkIcmp(raw: Raw, f: Findings): void {
  const v4 = str(raw.icmp_source_ipv4);
  if (v4 !== undefined && v4 !== '') {
    const allowed = 'an IPv4 address of this host, or "" for the routing table\'s choice';
    const n = parseIpv4(v4);
    if (n === undefined) f.errors.push(line('icmp_source_ipv4', 'is not an IPv4 address', JSON.stringify(v4), allowed));
    else if (n === 0 || n >= 0xe0000000)
      f.errors.push(line('icmp_source_ipv4', 'must be a unicast address', JSON.stringify(v4), allowed));
  }
  const v6 = str(raw.icmp_source_ipv6);
  if (v6 !== undefined && v6 !== '') {
    const allowed = 'an IPv6 address of this host, or "" for the routing table\'s choice';
    const b = parseIpv6(v6);
    if (b === undefined) f.errors.push(line('icmp_source_ipv6', 'is not an IPv6 address', JSON.stringify(v6), allowed));
    else if (b[0] === 0xff || b.every((x) => x === 0))
      f.errors.push(line('icmp_source_ipv6', 'must be a unicast address', JSON.stringify(v6), allowed));
  }
  const dev = str(raw.icmp_interface);
  // The kernel's dev_valid_name(): at most 15 bytes, not "." or "..", no '/', ':' or whitespace.
  if (
    dev !== undefined &&
    dev !== '' &&
    (Buffer.byteLength(dev) > MAX_INTERFACE_NAME || dev === '.' || dev === '..' || /[/:\s]/.test(dev))
  ) {
    f.errors.push(
      line(
        'icmp_interface',
        'is not a valid interface name',
        JSON.stringify(dev),
        `a name of 1 to ${MAX_INTERFACE_NAME} bytes without "/", ":" or spaces, such as "eth0", or ""`,
      ),
    );
  }
  const tos = num(raw.icmp_tos);
  // RFC 3168: the low two bits of the TOS byte are ECN, which a sender does not set for a non-ECN-capable probe.
  if (tos !== undefined && Number.isInteger(tos) && tos >= 0 && tos <= 255 && (tos & 3) !== 0) {
    f.warnings.push(
      line(
        'icmp_tos',
        `sets the ECN bits (${tos & 3}); a DSCP goes in the upper six bits (DSCP x 4, e.g. 184 for EF)`,
        String(tos),
      ),
    );
  }
}

function checkRelations(raw: Raw, cfg: Config | undefined, f: Findings): void {
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
  if (idx !== undefined && idx >= count)
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
  const capacity = Math.floor((cfg.ping_rate_limit * cfg.ping_interval) / 1000);
  // A device count the networks cannot reach is no reason to warn (a /30 holds 4 addresses).
  const reachable =
    (cfg.networks.length > 0 ? networkAddresses(cfg.networks.map((n) => n.cidr)) : 0) + cfg.targets.length;
  const own = cfg.targets.flatMap((t) => (t.ping_interval === undefined ? [] : [t.ping_interval]));
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
 * The in-memory queue must hold a batch being sent and the next one filling, and, to drop nothing
 * while the output keeps up, what one flush_interval produces at the fleet size the config allows.
 */
function checkBuffer(cfg: Config | undefined, f: Findings): void {
  const db = cfg?.influxdb;
  if (!cfg || !db || !db.enabled) return;
  const buffer = cfg.max_buffer_points;
  const batch = db.batch_size;
  if (buffer < 2 * batch) {
    f.errors.push(
      line(
        'max_buffer_points',
        `must be at least 2 x influxdb.batch_size (${batch}): one batch is sent while the next one fills, or points are dropped`,
        String(buffer),
        `>= ${2 * batch}, or a smaller influxdb.batch_size`,
      ),
    );
    return;
  }
  const hosts = networkHosts(cfg.networks.map((n) => n.cidr));
  if (hosts === undefined) return;
  const devices = Math.min(hosts, cfg.max_devices, cfg.max_concurrent_pingers);
  const perFlush =
    (cfg.ping_raw_points ? Math.ceil(db.flush_interval / cfg.ping_interval) : 0) +
    (cfg.summary_interval > 0 ? Math.ceil(db.flush_interval / cfg.summary_interval) : 0);
  const need = devices * perFlush;
  if (buffer < need) {
    f.warnings.push(
      line(
        'max_buffer_points',
        `holds less than one influxdb.flush_interval (${formatDuration(db.flush_interval)}) of points: ${devices} devices at ping_interval ${formatDuration(cfg.ping_interval)} write about ${need}; the rest spills to the spool or is dropped`,
        String(buffer),
        `>= ${need}, or a shorter influxdb.flush_interval`,
      ),
    );
  }
}

/** Runs every semantic check; `cfg` is the schema-parsed config when the schema accepted it. */
export function semanticChecks(raw: Raw, cfg: Config | undefined): Findings {
  const f: Findings = { errors: [], warnings: [] };
  checkNetworks(raw, f);
  checkSnmp(raw, f);
  checkInflux(raw, f);
  checkLegacy(raw, f);
  checkIcmp(raw, f);
  checkRelations(raw, cfg, f);
  checkBuffer(cfg, f);
  return f;
}
