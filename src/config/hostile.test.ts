import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../internal/errors/errors.js';
import { parseConfigText } from './load.js';

// Hostile or broken input: always a ConfigError with one line per problem, never a crash,
// and never a secret in the text.
const base = 'networks: [127.0.0.0/24]\nicmp_discovery_interval: 5m\nping_interval: 2s\n';
function problems(text: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfigText(text, { env });
  } catch (e) {
    assert.ok(
      e instanceof ConfigError,
      `not a ConfigError: ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`,
    );
    return [...e.problems];
  }
  return [];
}

test('a YAML alias bomb is a config error, not a crash', () => {
  const levels = ['a: &a [1,2,3,4,5,6,7,8,9]'];
  for (const [prev, name] of [
    ['a', 'b'],
    ['b', 'c'],
    ['c', 'd'],
    ['d', 'e'],
    ['e', 'f'],
  ])
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
  const p = problems(`${levels.join('\n')}\n`);
  assert.equal(p.length, 1);
  assert.match(p[0]!, /YAML error: .*alias/i);
});

test('a self-referencing alias is reported, not a crash', () => {
  assert.deepEqual(problems(`${base}exclude: &n [*n]\n`).length > 0, true);
});

test('a secret under a mis-shaped section is never printed', () => {
  for (const text of [
    `${base}snmp:\n  credentials:\n    community: S3cretComm\n`,
    `${base}influxdb:\n  - url: http://127.0.0.1:8086\n  - token: SUPERSECRET\n`,
    `${base}influxdb: {url: "http://admin:pa/ss@influx:8086", token: t, org: o, bucket: b}\n`,
  ]) {
    const p = problems(text);
    assert.ok(p.length > 0);
    for (const line of p) assert.ok(!/S3cretComm|SUPERSECRET|pa\/ss/.test(line), line);
  }
});

test('durations too large for milliseconds are rejected, not read as Infinity', () => {
  assert.match(problems(base.replace('2s', `${'9'.repeat(400)}h`)).join('\n'), /ping_interval: .*too large/);
  assert.match(problems(base.replace('2s', '200000000d')).join('\n'), /ping_interval: .*too large/);
});

test('NaN and Infinity are named as such', () => {
  const nan = problems(`${base}icmp_workers: .nan\n`);
  assert.ok(nan.length > 0 && nan.every((l) => !/got null/.test(l)), nan.join('\n'));
  const inf = problems(base.replace('2s', '.inf'));
  assert.ok(inf.length > 0 && inf.every((l) => !/got null|Infinitys/.test(l)), inf.join('\n'));
});

test('shard environment variables never hide a bad shard value, and a stray index is reported as given', () => {
  assert.ok(problems(`${base}shard: 5\n`, { NETSCAN_SHARD_INDEX: '0' }).some((l) => l.startsWith('shard')));
  assert.ok(problems(base, { NETSCAN_SHARD_INDEX: '-1', NETSCAN_SHARD_COUNT: '2' }).some((l) => l.includes('"-1"')));
  assert.deepEqual(problems(base, { NETSCAN_SHARD_INDEX: 'netscan-1', NETSCAN_SHARD_COUNT: '2' }), []);
});

test('an unquoted SNMP version number (YAML reads `version: 3` as a number) means what it says', () => {
  const text = `${base}snmp:\n  community: n3tscan\n  version: 1\n  credentials:\n    - {version: 3, username: ops, security_level: authNoPriv, auth_protocol: sha256, auth_key: long-enough-key}\n`;
  const { config } = parseConfigText(text, { env: {} });
  assert.equal(config.snmp?.version, '1');
  assert.equal(config.snmp?.credentials[0]?.version, '3');
});
