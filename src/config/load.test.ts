import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigFile, parseConfigText } from './load.js';
import { parse, stringify } from 'yaml';
import { ConfigError } from '../../internal/errors/errors.js';

const testdata = (name: string): string => fileURLToPath(new URL(`./testdata/${name}`, import.meta.url));
const base =
  'networks: ["127.0.0.0/24"]\nicmp_discovery_interval: 5m\nping_interval: 5s\nping_rate_limit: 20000\nping_burst_limit: 20000\n';
/** The valid base config with the snippet's top-level keys replacing the base's. */
const withBase = (snippet: string): string => stringify({ ...(parse(base) as object), ...(parse(snippet) as object) });

function problems(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfigText(yaml, { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems];
  }
  return [];
}

function warnings(yaml: string, env: Record<string, string> = {}): string[] {
  return [...parseConfigText(yaml, { env }).warnings];
}

test('accepts the Go netscan example config with its environment variables set', async () => {
  const env = { SNMP_COMMUNITY: 'n3tscan', INFLUXDB_TOKEN: 'tok', INFLUXDB_ORG: 'org' };
  const { config, warnings: w } = await loadConfigFile(testdata('go-example.yml'), env);
  assert.equal(config.ping_interval, 2000);
  assert.equal(config.icmp_discovery_interval, 300_000);
  assert.equal(config.snmp?.community, 'n3tscan');
  assert.equal(config.snmp?.timeout, 5000);
  assert.equal(config.influxdb?.token, 'tok');
  assert.equal(config.influxdb?.org, 'org');
  assert.equal(config.snmp_interval, 86_400_000);
  assert.equal(config.max_devices, 20000);
  assert.ok(
    w.some((l) => l.startsWith('ping_rate_limit: serves at most 128 devices')),
    w.join('\n'),
  );
});

test('accepts every key of the Go config and applies Go defaults where keys are absent', async () => {
  const env = {
    SNMP_COMMUNITY: 'n3tscan',
    INFLUXDB_URL: 'http://127.0.0.1:8086',
    INFLUXDB_TOKEN: 't',
    INFLUXDB_ORG: 'o',
    INFLUXDB_BUCKET: 'b',
    INFLUXDB_HEALTH_BUCKET: 'h',
  };
  const { config } = await loadConfigFile(testdata('go-all-keys.yml'), env);
  assert.equal(config.influxdb?.health_bucket, 'h');
  assert.equal(config.influxdb?.url, 'http://127.0.0.1:8086');
  const { config: d } = parseConfigText(base, { env: {} });
  assert.deepEqual(
    [
      d.discovery_interval,
      d.icmp_workers,
      d.snmp_workers,
      d.ping_timeout,
      d.ping_max_consecutive_fails,
      d.ping_backoff_duration,
      d.snmp_interval,
      d.snmp_rate_limit,
      d.snmp_burst_limit,
      d.snmp_max_consecutive_fails,
      d.snmp_backoff_duration,
      d.health_check_port,
      d.health_report_interval,
      d.max_concurrent_pingers,
      d.max_concurrent_snmp_pollers,
      d.max_devices,
      d.min_scan_interval,
      d.memory_limit_mb,
    ],
    [
      4 * 3_600_000,
      64,
      32,
      3000,
      10,
      300_000,
      3_600_000,
      10,
      50,
      5,
      3_600_000,
      8080,
      10_000,
      20000,
      20000,
      20000,
      60_000,
      16384,
    ],
  );
  const { config: d2 } = parseConfigText('icmp_discovery_interval: 5m\nping_interval: 2s\n', { env: {} });
  assert.equal(d2.ping_rate_limit, 64);
  assert.equal(d2.ping_burst_limit, 256);
});

test('reports each rule with its exact message', () => {
  // Validation fixtures only: every network below is parsed and rejected, none is ever pinged.
  const table: Array<[string, string]> = [
    [
      'networks: ["127.0.0.0/33"]',
      'networks[0]: invalid CIDR notation (got "127.0.0.0/33"; allowed an IPv4 CIDR a.b.c.d/n with n from 8 to 32)',
    ],
    [
      // A range the validator must refuse; parsed only, never pinged.
      'networks: ["10.0.0.0/7"]',
      'networks[0]: network range too broad (/7), maximum allowed is /8 (got "10.0.0.0/7"; allowed an IPv4 CIDR a.b.c.d/n with n from 8 to 32)',
    ],
    [
      'networks: ["224.0.0.0/24"]',
      'networks[0]: multicast networks not allowed (got "224.0.0.0/24"; allowed an IPv4 CIDR a.b.c.d/n with n from 8 to 32)',
    ],
    [
      'networks: ["169.254.0.0/16"]',
      'networks[0]: link-local networks not allowed (got "169.254.0.0/16"; allowed an IPv4 CIDR a.b.c.d/n with n from 8 to 32)',
    ],
    [
      'networks: ["0.0.0.0/8"]',
      'networks[0]: network address is unspecified (0.0.0.0) (got "0.0.0.0/8"; allowed an IPv4 CIDR a.b.c.d/n with n from 8 to 32)',
    ],
    [
      'networks: "127.0.0.0/24"',
      'networks: must be a list of CIDR strings, not a string (got "127.0.0.0/24"; allowed a YAML list of CIDRs)',
    ],
    [
      'exclude: ["127.0.0.300"]',
      'exclude[0]: invalid CIDR or address (got "127.0.0.300"; allowed an IPv4 or IPv6 address or CIDR)',
    ],
    ['icmp_workers: 0', 'icmp_workers: must be between 1 and 2000 (got 0; allowed an integer from 1 to 2000)'],
    ['icmp_workers: 2001', 'icmp_workers: must be between 1 and 2000 (got 2001; allowed an integer from 1 to 2000)'],
    ['icmp_workers: 1.5', 'icmp_workers: must be a whole number (got 1.5; allowed an integer from 1 to 2000)'],
    [
      'icmp_workers: many',
      'icmp_workers: must be a number, not a string (got "many"; allowed an integer from 1 to 2000)',
    ],
    ['snmp_workers: 1001', 'snmp_workers: must be between 1 and 1000 (got 1001; allowed an integer from 1 to 1000)'],
    [
      'discovery_interval: 30s',
      'discovery_interval: must be at least 1m0s (got "30s"; allowed a duration like "1m0s" of at least 1m0s)',
    ],
    [
      'icmp_discovery_interval: 30s',
      'icmp_discovery_interval: must be at least 1m0s (got "30s"; allowed a duration like "1m0s" of at least 1m0s)',
    ],
    [
      'ping_interval: 500ms',
      'ping_interval: must be at least 1s (got "500ms"; allowed a duration like "1s" of at least 1s)',
    ],
    [
      'ping_interval: 2',
      'ping_interval: a bare number is not a duration; add a unit, e.g. "2s" (got 2; allowed a duration like "1s" of at least 1s)',
    ],
    [
      'ping_interval: 2 seconds',
      'ping_interval: invalid duration "2 seconds" (got "2 seconds"; allowed a duration like "1s" of at least 1s)',
    ],
    [
      'ping_timeout: 2m',
      'ping_timeout: must be at most 1m0s (got "2m"; allowed a duration like "1s" of at least 1ms and at most 1m0s)',
    ],
    [
      'ping_timeout: -1s',
      'ping_timeout: must be at least 1ms (got "-1s"; allowed a duration like "1s" of at least 1ms and at most 1m0s)',
    ],
    ['snmp_daily_schedule: "25:00"', 'snmp_daily_schedule: hour must be between 00 and 23 (got 25; allowed 00-23)'],
    [
      'snmp_daily_schedule: "2:00"',
      'snmp_daily_schedule: time must be in HH:MM format (got "2:00"; allowed "HH:MM" with hour 00-23 and minute 00-59)',
    ],
    ['snmp_daily_schedule: "12:60"', 'snmp_daily_schedule: minute must be between 00 and 59 (got 60; allowed 00-59)'],
    [
      'snmp: {community: c0mm, port: 0}',
      'snmp.port: must be between 1 and 65535 (got 0; allowed an integer from 1 to 65535)',
    ],
    [
      'snmp: {community: c0mm, timeout: 500ms}',
      'snmp.timeout: must be at least 1s (got "500ms"; allowed a duration like "1s" of at least 1s)',
    ],
    [
      'snmp: {community: c0mm, retries: 11}',
      'snmp.retries: must be between 0 and 10 (got 11; allowed an integer from 0 to 10)',
    ],
    [
      'snmp: {port: 161}',
      'snmp.community: is required when SNMP is enabled (got nothing; allowed a community string, or snmp.credentials, or snmp.enabled: false)',
    ],
    [
      'snmp: {community: "${UNSET_VAR}"}',
      'snmp.community: snmp community string cannot be empty (an unset environment variable expands to "") (got ""; allowed 1 to 32 characters from A-Z a-z 0-9 . _ -)',
    ],
    [
      'snmp: {community: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}',
      'snmp.community: snmp community string too long (max 32 characters) (got 33 characters; allowed 1 to 32 characters from A-Z a-z 0-9 . _ -)',
    ],
    [
      'snmp: {community: "a b"}',
      'snmp.community: snmp community string contains an invalid character at position 2 (allowed 1 to 32 characters from A-Z a-z 0-9 . _ -)',
    ],
    [
      'snmp: {community: private}',
      'snmp.community: snmp community string is a common default value and should be changed for security (got [redacted]; allowed a community that is not a well-known default)',
    ],
    [
      'snmp: {credentials: [{version: "3", auth_key: longenough}]}',
      'snmp.credentials[0].username: is required for SNMPv3 (got nothing; allowed a USM user name)',
    ],
    [
      'snmp: {credentials: [{version: "3", username: u, auth_protocol: md5, auth_key: longenough}]}',
      'snmp.credentials[0].auth_protocol: is not a supported auth protocol (got "md5"; allowed sha, sha224, sha256, sha384 or sha512)',
    ],
    [
      'snmp: {credentials: [{version: "3", username: u, auth_key: longenough, priv_protocol: des, priv_key: longenough}]}',
      'snmp.credentials[0].priv_protocol: is not a supported privacy protocol (got "des"; allowed aes (AES-128, RFC 3826))',
    ],
    [
      'snmp: {community: c0mm, max_in_flight: 0}',
      'snmp.max_in_flight: must be between 1 and 10000 (got 0; allowed an integer from 1 to 10000)',
    ],
    [
      'snmp: {credentials: [{version: "3", username: u, security_level: authPriv, auth_key: short, priv_key: longenough}]}',
      'snmp.credentials[0].auth_key: is required for authPriv and must have at least 8 characters (got [redacted]; allowed a key of 8 or more characters)',
    ],
    [
      'snmp: {credentials: [{version: "2c"}]}',
      'snmp.credentials[0].community: is required for SNMP v2c (got nothing; allowed a community string)',
    ],
    [
      'snmp: {community: c0mm, version: "3"}',
      'snmp.version: must be "1" or "2c" (use credentials for v3) (got "3"; allowed "1" or "2c")',
    ],
    [
      'influxdb: {token: t, org: o, bucket: b}',
      'influxdb.url: is required when the influxdb section is present (got nothing; allowed an http:// or https:// URL)',
    ],
    [
      'influxdb: {url: "ftp://x", token: t, org: o, bucket: b}',
      'influxdb.url: URL must use http or https scheme (got "ftp:"; allowed http or https)',
    ],
    [
      'influxdb: {url: "not a url", token: t, org: o, bucket: b}',
      'influxdb.url: invalid URL format (got "not a url"; allowed an http:// or https:// URL)',
    ],
    [
      'influxdb: {url: "http://admin:S3CRETPW@db host:8086", token: t, org: o, bucket: b}',
      'influxdb.url: invalid URL format (got "http://[redacted]@db host:8086"; allowed an http:// or https:// URL)',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8086", org: o, bucket: b}',
      'influxdb.token: is required for InfluxDB v2 (got nothing; allowed a non-empty string)',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8086", token: "${NOPE}", org: o, bucket: b}',
      'influxdb.token: is required for InfluxDB v2 (got "" (is the environment variable set?); allowed a non-empty string)',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8086", token: t, bucket: b}',
      'influxdb.org: is required for InfluxDB v2 (got nothing; allowed a non-empty string)',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8086", token: t, org: o}',
      'influxdb.bucket: is required for InfluxDB v2 (got nothing; allowed a non-empty string)',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8428", version: v1}',
      'influxdb.database: is required for InfluxDB v1 (got nothing; allowed a database name (or influxdb.bucket))',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8086", token: t, org: o, bucket: b, batch_size: -5}',
      'influxdb.batch_size: must be between 1 and 100000 (got -5; allowed an integer from 1 to 100000)',
    ],
    ['wal: "yes"', 'wal: must be true or false, not "yes" (got "yes"; allowed true or false)'],
    [
      'wal_sync_interval: "2m"',
      'wal_sync_interval: must be at most 1m0s (got "2m"; allowed a duration like "1s" of at least 10ms and at most 1m0s)',
    ],
    [
      'influxdb: {url: "http://127.0.0.1:8086", token: t, org: o, bucket: b, flush_interval: "-1s"}',
      'influxdb.flush_interval: must be at least 10ms (got "-1s"; allowed a duration like "1s" of at least 10ms)',
    ],
    [
      'health_check_port: 70000',
      'health_check_port: must be between 0 and 65535 (got 70000; allowed an integer from 0 to 65535)',
    ],
    [
      'health_report_interval: "-10s"',
      'health_report_interval: must be at least 100ms (got "-10s"; allowed a duration like "1s" of at least 100ms)',
    ],
    [
      'max_concurrent_pingers: 0',
      'max_concurrent_pingers: must be between 1 and 100000 (got 0; allowed an integer from 1 to 100000)',
    ],
    [
      'max_concurrent_snmp_pollers: 100001',
      'max_concurrent_snmp_pollers: must be between 1 and 100000 (got 100001; allowed an integer from 1 to 100000)',
    ],
    ['max_devices: 0', 'max_devices: must be between 1 and 100000 (got 0; allowed an integer from 1 to 100000)'],
    [
      'min_scan_interval: 10s',
      'min_scan_interval: must be at least 30s (got "10s"; allowed a duration like "30s" of at least 30s)',
    ],
    [
      'memory_limit_mb: 32768',
      'memory_limit_mb: must be between 64 and 16384 (got 32768; allowed an integer from 64 to 16384)',
    ],
    ['ping_rate_limit: 0', 'ping_rate_limit: must be greater than 0 (got 0; allowed a number greater than 0)'],
    [
      'ping_burst_limit: 0',
      'ping_burst_limit: must be between 1 and 10000000 (got 0; allowed an integer from 1 to 10000000)',
    ],
    [
      'ping_max_consecutive_fails: 0',
      'ping_max_consecutive_fails: must be between 1 and 1000000 (got 0; allowed an integer from 1 to 1000000)',
    ],
    [
      'ping_backoff_duration: 30s',
      'ping_backoff_duration: must be at least 1m0s (got "30s"; allowed a duration like "1m0s" of at least 1m0s)',
    ],
    [
      'snmp_interval: 30s',
      'snmp_interval: must be at least 1m0s (got "30s"; allowed a duration like "1m0s" of at least 1m0s)',
    ],
    ['snmp_rate_limit: -1', 'snmp_rate_limit: must be greater than 0 (got -1; allowed a number greater than 0)'],
    [
      'snmp_burst_limit: 0',
      'snmp_burst_limit: must be between 1 and 1000000 (got 0; allowed an integer from 1 to 1000000)',
    ],
    [
      'snmp_max_consecutive_fails: 0',
      'snmp_max_consecutive_fails: must be between 1 and 1000000 (got 0; allowed an integer from 1 to 1000000)',
    ],
    [
      'snmp_backoff_duration: 1s',
      'snmp_backoff_duration: must be at least 1m0s (got "1s"; allowed a duration like "1m0s" of at least 1m0s)',
    ],
    ['shard: {index: 2, count: 2}', 'shard.index: must be less than shard.count (got 2; allowed 0 to 1)'],
    ['ping_intervall: 2s', 'ping_intervall: unknown key; did you mean "ping_interval"?'],
    ['batch_size: 100', 'batch_size: unknown key; did you mean "influxdb.batch_size"? (it belongs in another section)'],
    [
      'influxdb: {url: "http://127.0.0.1:8086", token: t, org: o, bucket: b, bukcet: x}',
      'influxdb.bukcet: unknown key; did you mean "bucket"?',
    ],
    ['frobnicate: 1', 'frobnicate: unknown key; remove it or check the spelling'],
    [
      'sweep_timeout: 0s',
      'sweep_timeout: must be at least 10ms (got "0s"; allowed a duration like "1s" of at least 10ms and at most 1m0s)',
    ],
    [
      'prometheus: {per_device: 1}',
      'prometheus.per_device: must be true or false, not 1 (got 1; allowed true or false)',
    ],
    ['prometheus: {per_devices: true}', 'prometheus.per_devices: unknown key; did you mean "per_device"?'],
    [
      'outputs: [{url: "http://127.0.0.1:8086", token: t, org: o, bucket: b}]',
      'outputs[0].name: is required (got nothing; allowed a name of letters, digits, "-" and "_")',
    ],
    [
      'outputs: [{name: a, url: "http://127.0.0.1:8086", token: t, org: o, bucket: b}, {name: a, version: v1, url: "http://127.0.0.1:8428", database: d}]',
      'outputs[1].name: is used by an earlier output (got "a"; allowed a name unique among outputs)',
    ],
    [
      'outputs: [{name: "a b", version: v1, url: "http://127.0.0.1:8428", database: d}]',
      'outputs[0].name: must be 1 to 64 letters, digits, "-" or "_" (got "a b"; allowed a name of letters, digits, "-" and "_")',
    ],
    [
      'outputs: [{name: vm, version: v1, database: d}]',
      'outputs[0].url: is required (got nothing; allowed an http:// or https:// URL)',
    ],
    [
      'outputs: [{name: vm, url: "http://127.0.0.1:8086", token: "${NOPE}", org: o, bucket: b}]',
      'outputs[0].token: is required for InfluxDB v2 (got "" (is the environment variable set?); allowed a non-empty string)',
    ],
    [
      'summary_naming: influx',
      'summary_naming: is not a known summary naming (got "influx"; allowed netscan or telegraf)',
    ],
    [
      'status_log_interval: 10ms',
      'status_log_interval: must be at least 1s (got "10ms"; allowed a duration like "1s" of at least 1s, or "0" to disable)',
    ],
    ['ping_failed_rtt_zero: 0', 'ping_failed_rtt_zero: must be true or false, not 0 (got 0; allowed true or false)'],
    [
      'send_lag_degraded_threshold: 0s',
      'send_lag_degraded_threshold: must be at least 1ms (got "0s"; allowed a duration like "1s" of at least 1ms)',
    ],
    [
      'ping_raw_points: yes please',
      'ping_raw_points: must be true or false, not "yes please" (got "yes please"; allowed true or false)',
    ],
  ];
  for (const [snippet, want] of table) {
    const got = problems(withBase(snippet));
    assert.deepEqual(got, [want], `for ${snippet}`);
  }
});

test('a config with only networks loads, with a sweep every 5m and a ping every 5s per device', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-minimal-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'networks: [127.0.0.0/30]\n');
    const { config, warnings } = await loadConfigFile(file, {});
    assert.deepEqual(warnings, []);
    assert.equal(config.icmp_discovery_interval, 5 * 60_000);
    assert.equal(config.ping_interval, 5000);
    assert.equal(config.status_log_interval, 60_000);
    assert.equal(config.ping_failed_rtt_zero, false);
    assert.equal(config.summary_naming, 'netscan');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const influx =
  'influxdb: {url: "http://127.0.0.1:8086", token: t, org: o, bucket: b, batch_size: 5000, flush_interval: 5s}\n';

test('max_buffer_points below 2 x influxdb.batch_size is refused, naming both numbers', () => {
  assert.deepEqual(problems(`${base}${influx}max_buffer_points: 1000\n`), [
    'max_buffer_points: must be at least 2 x influxdb.batch_size (5000): one batch is sent while the next one fills, or points are dropped (got 1000; allowed >= 10000, or a smaller influxdb.batch_size)',
  ]);
  assert.deepEqual(problems(`${base}${influx}max_buffer_points: 10000\n`), []);
  assert.deepEqual(problems(`${base}max_buffer_points: 1000\n`), [], 'without influxdb the batch size does not apply');
});

test('max_buffer_points below 2 x the batch_size of an outputs entry is refused too (each output has a buffer that size)', () => {
  const outputs =
    'outputs: [{name: a, url: "http://127.0.0.1:8086", token: t, org: o, bucket: b, batch_size: 500},' +
    ' {name: b, url: "http://127.0.0.1:8087", token: t, org: o, bucket: b, batch_size: 5000}]\n';
  assert.deepEqual(problems(`${base}${outputs}max_buffer_points: 1000\n`), [
    'max_buffer_points: must be at least 2 x outputs[1].batch_size (5000): one batch is sent while the next one fills, or points are dropped (got 1000; allowed >= 10000, or a smaller outputs[1].batch_size)',
  ]);
  assert.deepEqual(problems(`${base}${outputs}max_buffer_points: 10000\n`), []);
});

test("max_buffer_points below one flush_interval of the networks' devices is warned about with the numbers", () => {
  const fleet =
    'networks: ["127.0.0.0/22"]\nicmp_discovery_interval: 5m\nping_interval: 1s\nping_rate_limit: 20000\nping_burst_limit: 20000\n';
  assert.deepEqual(
    warnings(`${fleet}${influx}max_buffer_points: 10000\n`).filter((l) => l.startsWith('max_buffer_points')),
    [],
  );
  const small =
    'influxdb: {url: "http://127.0.0.1:8086", token: t, org: o, bucket: b, batch_size: 1000, flush_interval: 10s}\n';
  const tight = warnings(`${fleet}${small}max_buffer_points: 10000\n`);
  assert.deepEqual(
    tight.filter((l) => l.startsWith('max_buffer_points')),
    [
      'max_buffer_points: holds less than one influxdb.flush_interval (10s) of points: 1022 devices at ping_interval 1s write about 11242; the rest spills to the spool or is dropped (got 10000; allowed >= 11242, or a shorter influxdb.flush_interval)',
    ],
  );
});

test('reports all five mistakes of a broken file at once', async () => {
  await assert.rejects(loadConfigFile(testdata('five-mistakes.yml'), {}), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 5, err.problems.join('\n'));
    return true;
  });
});

test('warnings never stop validation: a public community and burst below rate still let later errors through', () => {
  const got = problems(
    `${base}snmp: {community: public}\nsnmp_burst_limit: 1\nsnmp_rate_limit: 5\nmax_devices: 0\ninfluxdb: {url: "http://127.0.0.1:8086"}\n`,
  );
  assert.deepEqual(got.sort(), [
    'influxdb.bucket: is required for InfluxDB v2 (got nothing; allowed a non-empty string)',
    'influxdb.org: is required for InfluxDB v2 (got nothing; allowed a non-empty string)',
    'influxdb.token: is required for InfluxDB v2 (got nothing; allowed a non-empty string)',
    'max_devices: must be between 1 and 100000 (got 0; allowed an integer from 1 to 100000)',
  ]);
  const w = warnings(`${base}snmp: {community: public}\nsnmp_burst_limit: 1\nsnmp_rate_limit: 5\nmax_devices: 100\n`);
  assert.deepEqual(w, [
    "snmp.community: using the default SNMP community 'public'; consider changing it for security",
    'snmp_burst_limit: should be >= snmp_rate_limit to avoid immediate throttling (got 1; allowed >= 5)',
  ]);
});

test('loopback networks and networks up to /8 are valid', () => {
  const { config } = parseConfigText(
    `networks: ["127.0.0.0/8", "127.5.0.0/16"]\nicmp_discovery_interval: 5m\nping_interval: 2s\nping_rate_limit: 20000\nping_burst_limit: 20000\n`,
    { env: {} },
  );
  assert.deepEqual(
    config.networks.map((n) => n.cidr),
    ['127.0.0.0/8', '127.5.0.0/16'],
  );
});

test('secrets never appear in problems', () => {
  const text = problems(
    `${base}snmp: {community: "sup3r s3cret!"}\ninfluxdb: {url: "http://127.0.0.1:8086", token: [1], org: o, bucket: b}\n`,
  ).join('\n');
  assert.ok(!text.includes('sup3r'), text);
  assert.ok(text.includes('influxdb.token: must be a string, not a list (got [redacted]; allowed a string)'), text);
});

test('YAML syntax errors and empty files are config errors', () => {
  assert.match(problems('a: [1, 2\n')[0] ?? '', /^<inline>: YAML syntax error: /);
  assert.deepEqual(problems(''), ['<inline>: config file is empty']);
  assert.deepEqual(problems('- a\n- b\n'), ['<inline>: top level must be a mapping of keys, not a list']);
  assert.match(problems('a: 1\na: 2\n')[0] ?? '', /YAML syntax error: Map keys must be unique/);
});

test('shard settings come from the environment, including a StatefulSet pod name', () => {
  const { config } = parseConfigText(base, { env: { NETSCAN_SHARD_INDEX: 'netscan-3', NETSCAN_SHARD_COUNT: '4' } });
  assert.deepEqual(config.shard, { index: 3, count: 4 });
});

test('a bad shard value from the environment is reported under the variable that set it', () => {
  // The file has no shard section: an error naming only shard.index sent the operator to the wrong place.
  assert.deepEqual(problems(base, { NETSCAN_SHARD_INDEX: 'web-x', NETSCAN_SHARD_COUNT: '3' }), [
    'shard.index (from NETSCAN_SHARD_INDEX): must be a number, not a string (got "web-x"; allowed an integer from 0 to 65535)',
  ]);
  assert.deepEqual(problems(base, { NETSCAN_SHARD_INDEX: 'netscan-5', NETSCAN_SHARD_COUNT: '3' }), [
    'shard.index (from NETSCAN_SHARD_INDEX): must be less than shard.count (got 5; allowed 0 to 2)',
  ]);
  assert.deepEqual(
    problems(
      `${base}shard: {index: 1}
`,
      { NETSCAN_SHARD_COUNT: '0' },
    ),
    ['shard.count (from NETSCAN_SHARD_COUNT): must be between 1 and 65536 (got 0; allowed an integer from 1 to 65536)'],
  );
  assert.deepEqual(
    problems(`${base}shard: {index: 4, count: 3}
`),
    ['shard.index: must be less than shard.count (got 4; allowed 0 to 2)'],
  );
});

test('relative paths resolve against the config file directory', async () => {
  const { config } = await loadConfigFile(testdata('go-all-keys.yml'), {
    SNMP_COMMUNITY: 'n3tscan',
    INFLUXDB_URL: 'http://127.0.0.1:8086',
    INFLUXDB_TOKEN: 't',
    INFLUXDB_ORG: 'o',
    INFLUXDB_BUCKET: 'b',
  });
  assert.equal(config.state_file, fileURLToPath(new URL('./testdata/data/state.json', import.meta.url)));
});

test('ICMP socket and probe keys default to auto mode, a 56-byte payload and the kernel defaults', () => {
  const { config } = parseConfigText(base, { env: {} });
  assert.deepEqual(
    [
      config.icmp_mode,
      config.icmp_payload_bytes,
      config.icmp_tos,
      config.icmp_ttl,
      config.icmp_source_ipv4,
      config.icmp_source_ipv6,
      config.icmp_interface,
    ],
    ['auto', 56, 0, 0, '', '', ''],
  );
  const { config: set, warnings: w } = parseConfigText(
    withBase(
      '{icmp_mode: dgram, icmp_payload_bytes: 1472, icmp_tos: 184, icmp_ttl: 1, icmp_source_ipv4: "127.0.0.1", icmp_source_ipv6: "::1", icmp_interface: "lo"}',
    ),
    { env: {} },
  );
  assert.deepEqual(
    [
      set.icmp_mode,
      set.icmp_payload_bytes,
      set.icmp_tos,
      set.icmp_ttl,
      set.icmp_source_ipv4,
      set.icmp_source_ipv6,
      set.icmp_interface,
    ],
    ['dgram', 1472, 184, 1, '127.0.0.1', '::1', 'lo'],
  );
  assert.deepEqual(w, []);
});

test('reports each ICMP key rule with its exact message', () => {
  const table: Array<[string, string]> = [
    ['icmp_mode: datagram', 'icmp_mode: is not a known ICMP socket mode (got "datagram"; allowed auto, raw or dgram)'],
    ['icmp_mode: 1', 'icmp_mode: is not a known ICMP socket mode (got 1; allowed auto, raw or dgram)'],
    [
      'icmp_payload_bytes: 8',
      'icmp_payload_bytes: must be between 16 and 1472 (got 8; allowed an integer from 16 to 1472)',
    ],
    [
      'icmp_payload_bytes: 1500',
      'icmp_payload_bytes: must be between 16 and 1472 (got 1500; allowed an integer from 16 to 1472)',
    ],
    ['icmp_tos: 256', 'icmp_tos: must be between 0 and 255 (got 256; allowed an integer from 0 to 255)'],
    ['icmp_tos: EF', 'icmp_tos: must be a number, not a string (got "EF"; allowed an integer from 0 to 255)'],
    ['icmp_ttl: -1', 'icmp_ttl: must be between 0 and 255 (got -1; allowed an integer from 0 to 255)'],
    [
      'icmp_source_ipv4: "127.0.0.256"',
      'icmp_source_ipv4: is not an IPv4 address (got "127.0.0.256"; allowed an IPv4 address of this host, or "" for the routing table\'s choice)',
    ],
    [
      'icmp_source_ipv4: "::1"',
      'icmp_source_ipv4: is not an IPv4 address (got "::1"; allowed an IPv4 address of this host, or "" for the routing table\'s choice)',
    ],
    [
      'icmp_source_ipv4: "224.0.0.1"',
      'icmp_source_ipv4: must be a unicast address (got "224.0.0.1"; allowed an IPv4 address of this host, or "" for the routing table\'s choice)',
    ],
    [
      'icmp_source_ipv6: "127.0.0.1"',
      'icmp_source_ipv6: is not an IPv6 address (got "127.0.0.1"; allowed an IPv6 address of this host, or "" for the routing table\'s choice)',
    ],
    [
      'icmp_source_ipv6: "ff02::1"',
      'icmp_source_ipv6: must be a unicast address (got "ff02::1"; allowed an IPv6 address of this host, or "" for the routing table\'s choice)',
    ],
    [
      'icmp_source_ipv6: "::"',
      'icmp_source_ipv6: must be a unicast address (got "::"; allowed an IPv6 address of this host, or "" for the routing table\'s choice)',
    ],
    [
      'icmp_interface: "a-very-long-interface"',
      'icmp_interface: is not a valid interface name (got "a-very-long-interface"; allowed a name of 1 to 15 bytes without "/", ":" or spaces, such as "eth0", or "")',
    ],
    [
      'icmp_interface: "eth0:1"',
      'icmp_interface: is not a valid interface name (got "eth0:1"; allowed a name of 1 to 15 bytes without "/", ":" or spaces, such as "eth0", or "")',
    ],
    [
      'icmp_interface: 0',
      'icmp_interface: must be a string, not a number (got 0; allowed an interface name such as "eth0", or "")',
    ],
    ['icmp_mdoe: raw', 'icmp_mdoe: unknown key; did you mean "icmp_mode"?'],
  ];
  for (const [snippet, want] of table) assert.deepEqual(problems(withBase(snippet)), [want], `for ${snippet}`);
  assert.deepEqual(warnings(withBase('icmp_tos: 185')), [
    'icmp_tos: sets the ECN bits (1); a DSCP goes in the upper six bits (DSCP x 4, e.g. 184 for EF) (got 185)',
  ]);
});
