import { z } from 'zod';
import { bool, duration, durationDefault, intIn, msg, positive, str, typeName } from './schema-fields.js';

export { splitMessage } from './schema-fields.js';

/**
 * The one source of truth for configuration keys, types, defaults and ranges. Every key of the
 * Go netscan config.yml is accepted with the same meaning and default (see MANUAL.md,
 * "Migrating from Go netscan" for the few deliberate differences); new keys extend it.
 * Durations are parsed here, once, into milliseconds. The Config type is derived from it.
 */

/** An IPv4 CIDR such as 127.0.0.0/24 (checked further in validate-networks.ts); trimmed, as the checks read it. */
const cidrList = z.array(str('an IPv4 CIDR such as "127.0.0.0/24"').trim(), {
  error: (iss) => msg(`must be a list of CIDR strings, not a ${typeName(iss.input)}`, 'a YAML list of CIDRs'),
});

const MINUTE = 60_000;
const SECOND = 1000;

/** Tag keys netscan writes itself; `labels` may not use them. */
export const reservedTagKeys: readonly string[] = ['ip', 'name', 'agent'];

/** Extra tags for a network's or a target's points (keys checked in validate-networks.ts). */
const labelMap = z.record(z.string(), str('a string (quote numbers and booleans)'), {
  error: (iss) =>
    msg(`must be a map of tag names to strings, not a ${typeName(iss.input)}`, 'a YAML map such as {site: "lab"}'),
});

/** A `networks` entry: a CIDR string, or `{cidr, labels}`; the output is always the object. */
const networkEntry = z.preprocess(
  (v) => (typeof v === 'string' ? { cidr: v } : v),
  z.strictObject(
    {
      // Trimmed as the checks read it: the sweep refuses " 127.0.0.0/24" at every sweep.
      cidr: str('an IPv4 CIDR such as "127.0.0.0/24" or an IPv6 prefix up to /112').trim(),
      labels: labelMap.default({}),
    },
    {
      error: (iss) =>
        msg(
          `must be a CIDR string or a {cidr, labels} map, not a ${typeName(iss.input)}`,
          'a CIDR string or {cidr, labels}',
        ),
    },
  ),
);

/** A `targets` entry: a host name or address, or `{host, labels, ping_interval}`. */
const targetEntry = z.preprocess(
  (v) => (typeof v === 'string' ? { host: v } : v),
  z.strictObject(
    {
      /** Host name (resolved through the system resolver) or IPv4/IPv6 address. */
      host: str('a host name or an IPv4 or IPv6 address').trim(),
      labels: labelMap.default({}),
      /** The target's own ping period, with the limits of the global `ping_interval`; absent = the global one. */
      ping_interval: duration(SECOND).optional(),
    },
    {
      error: (iss) =>
        msg(
          `must be a host string or a {host, labels, ping_interval} map, not a ${typeName(iss.input)}`,
          'a host string or {host, labels, ping_interval}',
        ),
    },
  ),
);

const snmpVersionText = (v: unknown): unknown => (v === 1 || v === 3 ? String(v) : v);

/** One SNMP credential tried in order (v1, v2c or v3); secrets are env-expanded and redacted. */
const snmpCredential = z.strictObject({
  /** Label used in logs and remembered per device instead of the secret. */
  name: str().optional(),
  // YAML reads an unquoted `version: 3` as a number: take 1 and 3 as the strings they mean.
  version: z
    .preprocess(
      snmpVersionText,
      z.enum(['1', '2c', '3'], { error: msg('must be "1", "2c" or "3"', '"1", "2c" or "3"') }),
    )
    .default('2c'),
  community: str().optional(),
  username: str().optional(),
  security_level: z
    .enum(['authNoPriv', 'authPriv'], { error: msg('is not a supported security level', 'authNoPriv or authPriv') })
    .optional(),
  // MD5 and DES are refused: both are broken (RFC 3414's originals, superseded by RFC 7860/3826).
  auth_protocol: z
    .enum(['sha', 'sha224', 'sha256', 'sha384', 'sha512'], {
      error: msg('is not a supported auth protocol', 'sha, sha224, sha256, sha384 or sha512'),
    })
    .default('sha'),
  auth_key: str().optional(),
  priv_protocol: z
    .enum(['aes'], { error: msg('is not a supported privacy protocol', 'aes (AES-128, RFC 3826)') })
    .default('aes'),
  priv_key: str().optional(),
});

const snmpSection = z.strictObject({
  /** Turns SNMP enrichment off without removing the section. */
  enabled: bool().default(true),
  community: str().optional(),
  port: intIn(1, 65535).default(161),
  timeout: durationDefault('5s', SECOND),
  retries: intIn(0, 10).default(0),
  version: z
    .preprocess(
      snmpVersionText,
      z.enum(['1', '2c'], { error: msg('must be "1" or "2c" (use credentials for v3)', '"1" or "2c"') }),
    )
    .default('2c'),
  credentials: z.array(snmpCredential, { error: msg('must be a list of credentials', 'a YAML list') }).default([]),
  deadline: durationDefault('10s', SECOND, { maxMs: 10 * MINUTE }),
  /** Device queries in flight at once; size it >= snmp_rate_limit x deadline when many agents may be dead. */
  max_in_flight: intIn(1, 10_000).default(50),
  /** Re-query this soon after sysUpTime went backwards (a reboot). */
  reboot_recheck: durationDefault('1m', SECOND),
  /** Longest string kept from an agent, in UTF-8 bytes. */
  max_string_bytes: intIn(16, 65_536).default(1024),
});

const influxSection = z.strictObject({
  /** Turns the InfluxDB output off without removing the section. */
  enabled: bool().default(true),
  url: str().optional(),
  token: str().optional(),
  org: str().optional(),
  bucket: str().optional(),
  health_bucket: str().default('health'),
  batch_size: intIn(1, 100_000).default(5000),
  flush_interval: durationDefault('5s', 10),
  /** `v2` (/api/v2/write with token) or `v1` (/write?db= for InfluxDB 1.x and VictoriaMetrics). */
  version: z.enum(['v1', 'v2'], { error: msg('must be "v1" or "v2"', '"v1" or "v2"') }).default('v2'),
  database: str().optional(),
  username: str().optional(),
  password: str().optional(),
  max_in_flight_writes: intIn(1, 64).default(4),
  timeout: durationDefault('10s', 100),
  gzip: bool().default(true),
  /** Byte cap of one request body. */
  max_batch_bytes: intIn(1024, 1024 ** 3).default(4 * 1024 * 1024),
  /** First retry delay after a failed write. */
  retry_min_delay: durationDefault('1s', 10),
  /** Cap of the retry delay (also the longest wait before noticing the server is back). */
  retry_max_delay: durationDefault('10s', 10),
  /** v1: database for health_metrics (default: database). */
  health_database: str().default(''),
  /** v1: retention policy (`rp`); server default when empty. */
  retention_policy: str().default(''),
});

/** What /metrics exposes beyond the agent's own figures. */
const prometheusSection = z.strictObject({
  /** Per-device series (up, sent, received, RTT histogram, info) labelled with ip and name; opt-in. */
  per_device: bool().default(false),
});

/** One entry of `outputs`: an influxdb section with a name and, optionally, its own spool directory. */
const outputEntry = influxSection.extend({
  /** Names the output in logs, /health and its default spool directory (`<spool_dir>/<name>`). */
  name: z
    .string({
      error: (iss) =>
        msg(
          iss.input === undefined ? 'is required' : `must be a string, not a ${typeName(iss.input)}`,
          'a name of letters, digits, "-" and "_"',
        ),
    })
    .regex(/^[A-Za-z0-9_-]{1,64}$/, {
      error: msg('must be 1 to 64 letters, digits, "-" or "_"', 'a name of letters, digits, "-" and "_"'),
    }),
  /** Spool directory of this output; default `<spool_dir>/<name>`. */
  spool_dir: str().optional(),
});

const shardSection = z.strictObject({
  index: intIn(0, 65535).default(0),
  count: intIn(1, 65536).default(1),
});

/** The configuration schema. */
export const configSchema = z.strictObject({
  // Discovery (Go parity)
  networks: z
    .array(networkEntry, {
      error: (iss) => msg(`must be a list of CIDR strings, not a ${typeName(iss.input)}`, 'a YAML list of CIDRs'),
    })
    .default([]),
  /** Sweep period; 5m finds a new host within minutes at a sweep cost that a /16 still affords. */
  icmp_discovery_interval: durationDefault('5m', MINUTE),
  discovery_interval: durationDefault('4h', MINUTE),
  icmp_workers: intIn(1, 2000).default(64),
  snmp_workers: intIn(1, 1000).default(32),
  min_scan_interval: durationDefault('1m', 30 * SECOND),
  snmp_daily_schedule: str('"HH:MM"').default(''),
  // Discovery (new)
  exclude: cidrList.default([]),
  sweep_rate_limit: positive('packets per second, greater than 0').default(1000),
  sweep_timeout: durationDefault('1s', 10, { maxMs: MINUTE }),
  sweep_retries: intIn(0, 10).default(1),

  // What to monitor beyond the sweep (new)
  targets: z
    .array(targetEntry, {
      error: (iss) =>
        msg(`must be a list of targets, not a ${typeName(iss.input)}`, 'a YAML list of host names or addresses'),
    })
    .default([]),
  /** How often target names are resolved again (dns.lookup reports no TTL). */
  target_resolve_interval: durationDefault('5m', SECOND),
  /** Which address of a name is pinged: `auto` the first the resolver returns, `ipv4` A only, `ipv6` AAAA only. */
  ip_family: z
    .enum(['auto', 'ipv4', 'ipv6'], { error: msg('is not a known address family', 'auto, ipv4 or ipv6') })
    .default('auto'),
  /** Value of the `agent` tag on every point; "" means the host name of the machine. */
  agent_name: str().default(''),
  /** Name discovered devices without a target name or sysName by their reverse-DNS name (looked up once, cached). */
  reverse_dns: bool().default(false),

  // Monitoring (Go parity)
  /** Ping period per device; 5s: longer than ping_timeout's default 3s, and ping_rate_limit's default serves 320 devices. */
  ping_interval: durationDefault('5s', SECOND),
  ping_timeout: durationDefault('3s', 1, { maxMs: MINUTE }),
  ping_rate_limit: positive().default(64),
  ping_burst_limit: intIn(1, 10_000_000).default(256),
  ping_max_consecutive_fails: intIn(1, 1_000_000).default(10),
  ping_backoff_duration: durationDefault('5m', MINUTE),
  max_concurrent_pingers: intIn(1, 100_000).default(20_000),
  // Monitoring (new)
  ping_raw_points: bool().default(true),
  summary_interval: durationDefault('60s', SECOND, { allowZero: true }),
  overload_threshold: durationDefault('250ms', 1),
  /** A failed ping carries `rtt_ms=0` as in the Go netscan (true), or no `rtt_ms` at all (false). */
  ping_failed_rtt_zero: bool().default(false),
  /** Field names of the summary: netscan's `ping_summary`, or Telegraf's ping input fields in `ping`. */
  summary_naming: z
    .enum(['netscan', 'telegraf'], { error: msg('is not a known summary naming', 'netscan or telegraf') })
    .default('netscan'),
  /** A send this late after its slot, within the last health interval, makes /health `degraded`. */
  send_lag_degraded_threshold: durationDefault('1s', 1),
  /** Where the ping scheduler and its ICMP engine run: `main` (the event loop shared with HTTP, the writer, SNMP) or `worker` (a thread of their own, the default). */
  probe_thread: z
    .enum(['main', 'worker'], { error: msg('is not a known probe thread', 'main or worker') })
    .default('worker'),
  /** Nice value of the probe thread (probe_thread: worker), -20..19; below the agent's own needs CAP_SYS_NICE; 0 leaves the inherited one. */
  probe_thread_nice: intIn(-20, 19).default(0),

  // ICMP sockets and probes (new; sweep and monitoring alike)
  /** Socket kind: `raw` needs CAP_NET_RAW, `dgram` the process's group in net.ipv4.ping_group_range, `auto` tries raw then dgram. */
  icmp_mode: z
    .enum(['auto', 'raw', 'dgram'], { error: msg('is not a known ICMP socket mode', 'auto, raw or dgram') })
    .default('auto'),
  /** Echo payload in bytes, netscan's 16-byte stamp included (56 like ping(8); 1472 fills a 1500-byte IPv4 MTU). */
  icmp_payload_bytes: intIn(16, 1472).default(56),
  /** IP_TOS / IPv6 traffic class of every probe (DSCP << 2); 0 keeps the kernel default. */
  icmp_tos: intIn(0, 255).default(0),
  /** IP TTL / IPv6 hop limit of every probe; 0 keeps the kernel default (net.ipv4.ip_default_ttl). */
  icmp_ttl: intIn(0, 255).default(0),
  /** Local IPv4 address probes leave from; "" lets the routing table choose. */
  icmp_source_ipv4: str('an IPv4 address of this host, or ""').default(''),
  /** Local IPv6 address probes leave from; "" lets the routing table choose. */
  icmp_source_ipv6: str('an IPv6 address of this host, or ""').default(''),
  /** Network interface probes are sent through (SO_BINDTODEVICE); "" for any. */
  icmp_interface: str('an interface name such as "eth0", or ""').default(''),

  // SNMP (Go parity)
  snmp: snmpSection.optional(),
  snmp_interval: durationDefault('1h', MINUTE),
  snmp_rate_limit: positive().default(10),
  snmp_burst_limit: intIn(1, 1_000_000).default(50),
  snmp_max_consecutive_fails: intIn(1, 1_000_000).default(5),
  snmp_backoff_duration: durationDefault('1h', MINUTE),
  max_concurrent_snmp_pollers: intIn(1, 100_000).default(20_000),

  // Output (Go parity + new)
  influxdb: influxSection.optional(),
  /** More InfluxDB outputs, each with its own queue, spool, counters and health; every point goes to all of them. */
  outputs: z
    .array(outputEntry, {
      error: (iss) =>
        msg(`must be a list of outputs, not a ${typeName(iss.input)}`, 'a YAML list of influxdb sections with a name'),
    })
    .default([]),
  output_file: str().default(''),
  output_file_max_bytes: intIn(1024, 2 ** 40).default(100 * 1024 * 1024),
  output_file_max_files: intIn(0, 1000).default(5),
  max_buffer_points: intIn(1000, 100_000_000).default(200_000),
  spool_dir: str().default('data/spool'),
  spool_max_bytes: intIn(0, 2 ** 50).default(1024 * 1024 * 1024),
  /** Write-ahead log every accepted point in the spool directory, so kill -9 or a power cut loses at most wal_sync_interval. */
  wal: bool().default(true),
  /** Group commit period of the write-ahead log (one write and fdatasync each). */
  wal_sync_interval: durationDefault('1s', 10, { maxMs: MINUTE }),

  // State (Go parity + new)
  max_devices: intIn(1, 100_000).default(20_000),
  prune_after: durationDefault('24h', MINUTE),
  prune_interval: durationDefault('1h', SECOND),
  state_file: str().default('data/state.json'),
  state_snapshot_interval: durationDefault('5m', SECOND),

  // Operations (Go parity + new)
  health_check_port: intIn(0, 65535).default(8080),
  health_check_bind: str('an IP address to listen on').default('0.0.0.0'),
  health_report_interval: durationDefault('10s', 100),
  /** Period of the one-line status log (devices, pings/s, loss, output); 0 turns it off. */
  status_log_interval: durationDefault('1m', SECOND, { allowZero: true }),
  memory_limit_mb: intIn(64, 16384).default(16384),
  /** Bound on the final flush at shutdown; what is not acknowledged by then is spooled or counted. */
  shutdown_timeout: durationDefault('20s', 100, { maxMs: 10 * MINUTE }),
  shard: shardSection.default({ index: 0, count: 1 }),
  prometheus: prometheusSection.default({ per_device: false }),
});

/** Validated configuration with every default applied and durations in milliseconds. */
export type Config = z.output<typeof configSchema>;
/** Configuration as written in the YAML file. */
export type ConfigInput = z.input<typeof configSchema>;

/** Dotted paths of every key the schema knows (`influxdb.url`, `snmp.credentials[].auth_key`, ...). */
export function schemaKeyPaths(): string[] {
  const out: string[] = [];
  const walk = (schema: z.ZodType, prefix: string): void => {
    const inner = unwrap(schema);
    if (inner instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
        const p = prefix ? `${prefix}.${k}` : k;
        out.push(p);
        walk(v, p);
      }
    } else if (inner instanceof z.ZodArray) {
      walk(inner.element as z.ZodType, `${prefix}[]`);
    }
  };
  walk(configSchema, '');
  return out;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable)
      s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = (s.in instanceof z.ZodTransform ? s.out : s.in) as z.ZodType;
    else return s;
  }
}

/** Keys whose string values get `$VAR` expansion (the Go six plus our new secrets). */
export const envExpandedPaths: readonly string[] = [
  'influxdb.url',
  'influxdb.token',
  'influxdb.org',
  'influxdb.bucket',
  'influxdb.health_bucket',
  'influxdb.database',
  'influxdb.health_database',
  'influxdb.username',
  'influxdb.password',
  'outputs[].url',
  'outputs[].token',
  'outputs[].org',
  'outputs[].bucket',
  'outputs[].health_bucket',
  'outputs[].database',
  'outputs[].health_database',
  'outputs[].username',
  'outputs[].password',
  'snmp.community',
  'snmp.credentials[].community',
  'snmp.credentials[].username',
  'snmp.credentials[].auth_key',
  'snmp.credentials[].priv_key',
];

/** Keys whose values are secrets: never logged, printed or exposed. */
export const secretPaths: readonly string[] = [
  'influxdb.token',
  'influxdb.password',
  'outputs[].token',
  'outputs[].password',
  'snmp.community',
  'snmp.credentials[].community',
  'snmp.credentials[].auth_key',
  'snmp.credentials[].priv_key',
];
