import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIpv4 } from '../../internal/icmp/ipv4.js';
import { AddressSet, parseCidr } from '../../internal/sweep/cidr.js';
import { parseConfigText } from '../../src/config/load.js';
import { deviceBlock, FirstPings, rangeToCidrs, startupConfigYaml } from './startup-lib.js';

test('a device block holds exactly n loopback addresses from its first, never 127.0.0.1', () => {
  for (const n of [1, 2, 1000, 100_000]) {
    const b = deviceBlock(n);
    const parse = (xs: string[]) => xs.map((c) => parseCidr(c)!);
    const set = AddressSet.fromCidrs(parse(b.networks), parse(b.exclude));
    assert.equal(set.size, n, `n=${n}`);
    assert.equal(set.at(0), b.first);
    assert.equal(set.at(n - 1), b.first + n - 1);
    assert.ok(b.first > 0x7f000001 && b.first + n < 0x80000000);
  }
  assert.equal(formatIpv4(deviceBlock(100_000).first), '127.2.0.1');
});

test('a range becomes the fewest aligned CIDRs', () => {
  assert.deepEqual(rangeToCidrs(0x7f000000, 0x7f0000ff), ['127.0.0.0/24']);
  assert.deepEqual(rangeToCidrs(0x7f000001, 0x7f000004), ['127.0.0.1/32', '127.0.0.2/31', '127.0.0.4/32']);
});

test('the start-up config is valid and pings every device once per interval within the rate limit', () => {
  const block = deviceBlock(100_000);
  const text = startupConfigYaml({ block, intervalMs: 5000, dir: '/tmp/x', healthPort: 18_081, sweepRatePps: 50 });
  const { config } = parseConfigText(text, { env: {} });
  assert.equal(config.ping_interval, 5000);
  assert.equal(config.ping_rate_limit, 25_000);
  assert.equal(config.max_concurrent_pingers, 100_000);
  assert.equal(config.max_devices, 100_000);
  assert.equal(config.state_file, '/tmp/x/state.json');
  assert.equal(config.output_file, '/tmp/x/points.lp');
  assert.equal(config.icmp_discovery_interval, 24 * 3_600_000);
  assert.equal(config.sweep_rate_limit, 50);
});

test('first pings: the first ping point of each device of the block counts, nothing else', () => {
  const block = deviceBlock(3);
  const f = new FirstPings(block);
  const ip = (i: number): string => formatIpv4(block.first + i);
  f.add(`ping,agent=a,ip=${ip(0)} rtt_ms=0.1,success=T,suspended=F 1000`);
  f.add(`ping,agent=a,ip=${ip(0)} rtt_ms=0.1,success=T,suspended=F 900`);
  f.add(`ping_summary,agent=a,ip=${ip(1)} sent=1i 1100`);
  f.add(`ping,agent=a,ip=127.0.0.1 rtt_ms=0.1,success=T,suspended=F 1100`);
  f.add(`ping,agent=a,ip=${ip(3)} rtt_ms=0.1,success=T,suspended=F 1100`);
  f.add(`health_metrics,agent=a device_count=3i 1200`);
  f.add('ping,ip=garbage');
  assert.equal(f.devices, 1);
  assert.ok(Number.isNaN(f.lastFirstMs()));
  f.add(`ping,ip=${ip(1)},name=x reason="timeout",success=F,suspended=F 1500`);
  f.add(`ping,agent=a,ip=${ip(2)} rtt_ms=0.2,success=T,suspended=F 1300`);
  assert.equal(f.devices, 3);
  assert.equal(f.replies, 2);
  assert.equal(f.lastFirstMs(), 1500);
  assert.equal(f.quantileMs(0.5), 1300);
});
