import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../internal/errors/errors.js';
import { parseConfigText } from './load.js';

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
      'targets: [{host: a.example, ping_interval: 5s}]',
      'targets[0].ping_interval: unknown key; did you mean "ping_interval"? (it belongs in another section)',
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

test('networks entries come out as {cidr, labels} and targets as {host, labels}', () => {
  const yaml =
    'networks: ["127.0.0.0/24", {cidr: "fd00:1::/120", labels: {site: lab}}]\ntargets: ["::1", {host: localhost, labels: {role: db}}]\n';
  const { config, warnings } = parseConfigText(base + yaml, { env: {} });
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.networks, [
    { cidr: '127.0.0.0/24', labels: {} },
    { cidr: 'fd00:1::/120', labels: { site: 'lab' } },
  ]);
  assert.deepEqual(config.targets, [
    { host: '::1', labels: {} },
    { host: 'localhost', labels: { role: 'db' } },
  ]);
  assert.equal(config.ip_family, 'auto');
  assert.equal(config.target_resolve_interval, 300_000);
  assert.equal(config.agent_name, '');
});

test('targets alone do not warn that nothing is monitored', () => {
  const { warnings } = parseConfigText(base + 'targets: [localhost]\n', { env: {} });
  assert.deepEqual(warnings, []);
});
