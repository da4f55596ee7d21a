import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../internal/errors/errors.js';
import { parseConfigText } from './load.js';
import { targetInShard } from '../../internal/targets/address-match.js';
import { parseTarget } from '../../internal/sweep/targets.js';

// Validation fixtures only: nothing below is resolved or pinged.
const base = 'icmp_discovery_interval: 5m\nping_interval: 5s\nping_rate_limit: 20000\nping_burst_limit: 20000\n';

function problems(yaml: string): string[] {
  try {
    parseConfigText(base + yaml, { env: {} });
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
}

test('reports each networks, labels and targets rule with its exact message', () => {
  // Validation fixtures only: parsed and refused, never pinged (multicast and link-local included).
  const table: Array<[string, string]> = [
    [
      'networks: ["fd00:1::/64"]',
      'networks[0]: IPv6 prefix /64 is too large to sweep; list the hosts to monitor under targets instead (got "fd00:1::/64"; allowed an IPv6 prefix of /112 or longer (65536 addresses at most))',
    ],
    [
      'networks: [{cidr: "fd00:1::/100"}]',
      'networks[0].cidr: IPv6 prefix /100 is too large to sweep; list the hosts to monitor under targets instead (got "fd00:1::/100"; allowed an IPv6 prefix of /112 or longer (65536 addresses at most))',
    ],
    [
      'networks: ["fd00:1::zz/120"]',
      'networks[0]: invalid IPv6 prefix (got "fd00:1::zz/120"; allowed an IPv6 prefix of /112 or longer (65536 addresses at most))',
    ],
    [
      'networks: ["ff02::/120"]',
      'networks[0]: multicast networks not allowed (got "ff02::/120"; allowed an IPv6 prefix of /112 or longer (65536 addresses at most))',
    ],
    [
      // A link-local prefix the validator must refuse; parsed only, never pinged.
      'networks: ["fe80::/120"]',
      'networks[0]: link-local networks not allowed (got "fe80::/120"; allowed an IPv6 prefix of /112 or longer (65536 addresses at most))',
    ],
    [
      'networks: [5]',
      'networks[0]: must be a CIDR string or a {cidr, labels} map, not a number (got 5; allowed a CIDR string or {cidr, labels})',
    ],
    [
      'networks: [{cidr: "127.0.0.0/24", labels: {ip: x}}]',
      'networks[0].labels.ip: is a tag netscan writes itself (got "ip"; allowed a tag name other than ip, name, agent, not starting with "_")',
    ],
    [
      'targets: [{host: router.example, labels: {agent: x}}]',
      'targets[0].labels.agent: is a tag netscan writes itself (got "agent"; allowed a tag name other than ip, name, agent, not starting with "_")',
    ],
    [
      'targets: [{host: router.example, labels: {name: x}}]',
      'targets[0].labels.name: is a tag netscan writes itself (got "name"; allowed a tag name other than ip, name, agent, not starting with "_")',
    ],
    [
      'targets: [{host: router.example, labels: {_x: y}}]',
      'targets[0].labels._x: is not a usable tag name (got "_x"; allowed a tag name other than ip, name, agent, not starting with "_")',
    ],
    [
      'targets: [{host: a.example, labels: {site: 3}}]',
      'targets[0].labels.site: must be a string, not a number (got 3; allowed a string (quote numbers and booleans))',
    ],
    [
      'targets: [{host: a.example, labels: [x]}]',
      'targets[0].labels: must be a map of tag names to strings, not a list (got a list; allowed a YAML map such as {site: "lab"})',
    ],
    [
      'targets: ["not a host!"]',
      'targets[0]: is not an address or a host name (got "not a host!"; allowed an IPv4 or IPv6 address, or a host name such as "router.example")',
    ],
    ['targets: [a.example, A.example.]', 'targets[1]: repeats targets[0] (got "A.example."; allowed each host once)'],
    ['targets: ["::1", "0:0::1"]', 'targets[1]: repeats targets[0] (got "0:0::1"; allowed each host once)'],
    [
      'targets: [{host: a.example, ping_interval: 500ms}]',
      'targets[0].ping_interval: must be at least 1s (got "500ms"; allowed a duration like "1s" of at least 1s)',
    ],
    [
      'targets: [{host: a.example, ping_interval: 5}]',
      'targets[0].ping_interval: a bare number is not a duration; add a unit, e.g. "5s" (got 5; allowed a duration like "1s" of at least 1s)',
    ],
    [
      'targets: [{host: a.example, ping_intervl: 5s}]',
      'targets[0].ping_intervl: unknown key; did you mean "ping_interval"?',
    ],
    [
      'targets: [7]',
      'targets[0]: must be a host string or a {host, labels, ping_interval} map, not a number (got 7; allowed a host string or {host, labels, ping_interval})',
    ],
    [
      'max_devices: 1\ntargets: [a.example, b.example]',
      'targets: has more entries than max_devices (1) (got 2 targets; allowed at most 1 targets, or a larger max_devices)',
    ],
    ['ip_family: ipv5', 'ip_family: is not a known address family (got "ipv5"; allowed auto, ipv4 or ipv6)'],
    [
      'target_resolve_interval: 10ms',
      'target_resolve_interval: must be at least 1s (got "10ms"; allowed a duration like "1s" of at least 1s)',
    ],
    ['agent_name: 7', 'agent_name: must be a string, not a number (got 7; allowed a string)'],
  ];
  for (const [yaml, expected] of table) assert.deepEqual(problems(yaml), [expected], yaml);
});

test('networks entries come out as {cidr, labels} and targets as {host, labels, ping_interval}', () => {
  const yaml =
    'networks: ["127.0.0.0/24", {cidr: "fd00:1::/120", labels: {site: lab}}]\ntargets: ["::1", {host: localhost, labels: {role: db}, ping_interval: 1m30s}]\n';
  const { config, warnings } = parseConfigText(base + yaml, { env: {} });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.networks, [
    { cidr: '127.0.0.0/24', labels: {} },
    { cidr: 'fd00:1::/120', labels: { site: 'lab' } },
  ]);
  assert.deepEqual(config.targets, [
    { host: '::1', labels: {} },
    { host: 'localhost', labels: { role: 'db' }, ping_interval: 90_000 },
  ]);
  assert.equal(config.ip_family, 'auto');
  assert.equal(config.target_resolve_interval, 300_000);
  assert.equal(config.agent_name, '');
});

test('targets alone do not warn that nothing is monitored', () => {
  const { warnings } = parseConfigText(base + 'targets: [localhost]\n', { env: {} });
  assert.deepEqual(warnings, []);
});

test('a literal target inside an exclude entry is an error naming both, reported with every other problem', () => {
  const yaml =
    'exclude: ["127.0.0.0/24", "fd00:1::/120", "127.0.1.7"]\n' +
    'targets: ["127.0.0.5", {host: "fd00:1::9", ping_interval: 500ms}, router.example, {host: "127.0.1.7", ping_interval: 2s}, "127.0.1.8"]\n';
  assert.deepEqual(problems(yaml), [
    'targets[1].ping_interval: must be at least 1s (got "500ms"; allowed a duration like "1s" of at least 1s)',
    'targets[0]: 127.0.0.5 is inside exclude[0] ("127.0.0.0/24"), so it would never be pinged (got "127.0.0.5"; allowed an address outside every exclude entry: remove targets[0] or exclude[0])',
    'targets[1].host: fd00:1::9 is inside exclude[1] ("fd00:1::/120"), so it would never be pinged (got "fd00:1::9"; allowed an address outside every exclude entry: remove targets[1] or exclude[1])',
    'targets[3].host: 127.0.1.7 is inside exclude[2] ("127.0.1.7"), so it would never be pinged (got "127.0.1.7"; allowed an address outside every exclude entry: remove targets[3] or exclude[2])',
  ]);
});

test('the rate warning counts each target at its own ping_interval', () => {
  const warningsOf = (yaml: string): readonly string[] =>
    parseConfigText('icmp_discovery_interval: 5m\nping_interval: 5s\nping_timeout: 500ms\n' + yaml, { env: {} })
      .warnings;
  const targets =
    'targets: [a.example, {host: b.example, ping_interval: 1s}, {host: c.example, ping_interval: 100s}]\n';
  assert.deepEqual(warningsOf('ping_rate_limit: 2\nping_burst_limit: 10\n' + targets), []);
  assert.deepEqual(warningsOf('ping_rate_limit: 1\nping_burst_limit: 10\n' + targets), [
    'ping_rate_limit: cannot serve 2 targets at their own ping_interval (1.01 pings/s) and up to 1 other devices at ping_interval 5s; beyond that every interval stretches (got 1; allowed >= 2)',
  ]);
});

test('with shards, the rate warning counts only the targets this agent owns', () => {
  const hosts = Array.from({ length: 12 }, (_, i) => `t${i}.example`);
  const shard = { index: 1, count: 3 };
  const mine = hosts.filter((h) => targetInShard(h, shard)).length;
  assert.ok(mine > 0 && mine < hosts.length, `a fixture with targets on both sides (${mine} of ${hosts.length})`);
  const yaml = (shardLine: string, limit: number): string =>
    `icmp_discovery_interval: 5m\nping_interval: 5s\nping_timeout: 500ms\nping_rate_limit: ${limit}\nping_burst_limit: 100\n${shardLine}` +
    `targets: [${hosts.map((h) => `{host: ${h}, ping_interval: 1s}`).join(', ')}]\n`;
  // Unsharded, every target counts: 12 pings/s against a limit of `mine`.
  assert.deepEqual(parseConfigText(yaml('', mine), { env: {} }).warnings, [
    `ping_rate_limit: cannot serve 12 targets at their own ping_interval (12 pings/s) and up to 0 other devices at ping_interval 5s; beyond that every interval stretches (got ${mine}; allowed >= 12)`,
  ]);
  // Shard 1 of 3 owns `mine` of them: that rate fits exactly; one less does not, and says so.
  const sharded = 'shard: {index: 1, count: 3}\n';
  assert.deepEqual(parseConfigText(yaml(sharded, mine), { env: {} }).warnings, []);
  assert.deepEqual(parseConfigText(yaml(sharded, mine - 0.5), { env: {} }).warnings, [
    `ping_rate_limit: cannot serve ${mine} targets at their own ping_interval (${mine} pings/s) and up to 0 other devices at ping_interval 5s; beyond that every interval stretches (got ${mine - 0.5}; allowed >= ${mine})`,
  ]);
});

test('an IPv4-mapped target is its IPv4 address: a repeat, an exclusion and a mapped network or exclude entry are reported', () => {
  const yaml =
    'networks: ["::ffff:127.0.3.0/120"]\nexclude: ["127.0.0.0/24", "::ffff:127.0.4.0/120"]\n' +
    'targets: ["127.0.2.1", "::ffff:127.0.2.1", "::ffff:127.0.0.9"]\n';
  assert.deepEqual(problems(yaml), [
    'networks[0]: is an IPv4-mapped IPv6 prefix, which ICMPv6 cannot reach; write it as the IPv4 network 127.0.3.0/24 (got "::ffff:127.0.3.0/120"; allowed an IPv4 CIDR, or an IPv6 prefix outside ::ffff:0:0/96)',
    'exclude[1]: is an IPv4-mapped IPv6 prefix, which excludes no IPv4 address; write it as the IPv4 network 127.0.4.0/24 (got "::ffff:127.0.4.0/120"; allowed an IPv4 CIDR, or an IPv6 prefix outside ::ffff:0:0/96)',
    'targets[1]: repeats targets[0] (got "::ffff:127.0.2.1"; allowed each host once)',
    'targets[2]: 127.0.0.9 is inside exclude[0] ("127.0.0.0/24"), so it would never be pinged (got "::ffff:127.0.0.9"; allowed an address outside every exclude entry: remove targets[2] or exclude[0])',
  ]);
  // A mapped target belongs to the shard of its IPv4 address, as the sweep would place it.
  for (let index = 0; index < 4; index++)
    for (let i = 0; i < 32; i++)
      assert.equal(
        targetInShard(`::ffff:127.0.2.${i}`, { index, count: 4 }),
        targetInShard(`127.0.2.${i}`, { index, count: 4 }),
      );
});

test('networks, exclude and targets come out trimmed, as the checks read them', () => {
  // Quoted YAML keeps the spaces: the checks trimmed them and accepted the entry, the agent did
  // not, so the sweep refused " 127.0.0.0/24" at every run and "127.0.1.1 " never resolved.
  const { config } = parseConfigText(
    base +
      'networks: [" 127.0.0.0/24", {cidr: "127.0.8.0/24\\t"}]\nexclude: ["127.0.0.5 "]\ntargets: [" 127.0.1.1", {host: "localhost "}]\n',
    { env: {} },
  );
  assert.deepEqual(
    config.networks.map((n) => n.cidr),
    ['127.0.0.0/24', '127.0.8.0/24'],
  );
  assert.deepEqual(config.exclude, ['127.0.0.5']);
  assert.deepEqual(
    config.targets.map((t) => t.host),
    ['127.0.1.1', 'localhost'],
  );
  for (const cidr of [...config.networks.map((n) => n.cidr), ...config.exclude])
    assert.ok(parseTarget(cidr, { exclude: false }).ok, cidr);
});

test('with per-device Prometheus series, a label key Prometheus cannot carry is a warning naming it, not a silent gap', () => {
  const yaml =
    'networks: [{cidr: "127.0.0.0/24", labels: {rack-id: r1, site: lab}}]\n' +
    'targets: [{host: a.example, labels: {le: x, "9x": y, role: db}}]\n';
  const warningsOf = (extra: string): readonly string[] => parseConfigText(base + extra + yaml, { env: {} }).warnings;
  assert.deepEqual(warningsOf(''), [], 'without per_device the labels are tags only, and any key will do');
  const allowed = 'allowed letters, digits and "_", not starting with a digit or "__", and not "le"';
  assert.deepEqual(warningsOf('prometheus: {per_device: true}\n'), [
    `networks[0].labels.rack-id: is not a Prometheus label name: /metrics leaves it out of the per-device series (points keep it) (got "rack-id"; ${allowed})`,
    `targets[0].labels.le: is not a Prometheus label name: /metrics leaves it out of the per-device series (points keep it) (got "le"; ${allowed})`,
    `targets[0].labels.9x: is not a Prometheus label name: /metrics leaves it out of the per-device series (points keep it) (got "9x"; ${allowed})`,
  ]);
});

test('a target whose own ping_interval is not longer than ping_timeout is warned about, as the global one is', () => {
  const { warnings } = parseConfigText(
    base + 'ping_timeout: 2s\ntargets: [{host: a.example, ping_interval: 1s}, {host: b.example, ping_interval: 3s}]\n',
    { env: {} },
  );
  assert.deepEqual(warnings, [
    'targets[0].ping_interval: is not longer than ping_timeout (2s); while the target does not answer it is probed every 3s (got "1s")',
  ]);
});

test('with shards, targets are held against max_devices by this agent share only', () => {
  const hosts = Array.from({ length: 12 }, (_, i) => `t${i}.example`);
  const shard = { index: 2, count: 3 };
  const mine = hosts.filter((h) => targetInShard(h, shard)).length;
  assert.ok(mine > 0 && mine < hosts.length, `a fixture with targets on both sides (${mine} of ${hosts.length})`);
  const yaml = (max: number, shardLine = 'shard: {index: 2, count: 3}\n') =>
    `max_devices: ${max}\n${shardLine}targets: [${hosts.join(', ')}]\n`;
  // Sharding splits a fleet too large for one agent: each agent holds only what it owns.
  assert.deepEqual(problems(yaml(mine)), []);
  assert.deepEqual(problems(yaml(mine - 1)), [
    `targets: has more entries for this shard (2 of 3) than max_devices (${mine - 1}) (got ${mine} of 12 targets; allowed at most ${mine - 1} targets per shard, or a larger max_devices)`,
  ]);
  assert.deepEqual(problems(yaml(11, '')), [
    'targets: has more entries than max_devices (11) (got 12 targets; allowed at most 11 targets, or a larger max_devices)',
  ]);
});
