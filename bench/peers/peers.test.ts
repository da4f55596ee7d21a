import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIpv4 } from '../../internal/icmp/ipv4.js';
import {
  countStartedPingers,
  formatPeersTable,
  fpingLoopArgv,
  fpingSendRate,
  parseFpingStderr,
  parseSmokepingMetrics,
  smokepingConfig,
  splitFleet,
} from './peers.js';

const FIRST = parseIpv4('127.0.128.1')!;

test('splitFleet gives one process per 5,000 targets, sizes as even as possible, no target twice or missed', () => {
  assert.deepEqual(splitFleet(FIRST, 1000, 5000), [{ from: FIRST, to: FIRST + 999 }]);
  assert.deepEqual(splitFleet(FIRST, 5000, 5000), [{ from: FIRST, to: FIRST + 4999 }]);
  const four = splitFleet(FIRST, 20_000, 5000);
  assert.deepEqual(
    four.map((r) => r.to - r.from + 1),
    [5000, 5000, 5000, 5000],
  );
  const odd = splitFleet(FIRST, 10_001, 5000);
  assert.deepEqual(
    odd.map((r) => r.to - r.from + 1),
    [3334, 3334, 3333],
  );
  for (const ranges of [four, odd])
    ranges.forEach((r, k) => assert.equal(r.from, k === 0 ? FIRST : ranges[k - 1]!.to + 1));
  assert.equal(odd.at(-1)!.to, FIRST + 10_000);
});

test('splitFleet rejects an empty fleet or a zero block size', () => {
  assert.throws(() => splitFleet(FIRST, 0, 5000), /n 0 and perProcess 5000 must be integers >= 1/);
  assert.throws(() => splitFleet(FIRST, 10, 0), /n 10 and perProcess 0 must be integers >= 1/);
});

test('fpingLoopArgv spells the loop-mode command, -i 0 as 0 and a paced gap to 4 decimals', () => {
  const range = { from: FIRST, to: FIRST + 4999 };
  assert.deepEqual(fpingLoopArgv({ range, intervalMs: 1000, gapMs: 0, timeoutMs: 500, summaryS: 10 }), [
    '-l',
    '-p',
    '1000',
    '-i',
    '0',
    '-t',
    '500',
    '-Q',
    '10',
    '-g',
    '127.0.128.1',
    '127.0.147.136',
  ]);
  assert.equal(
    fpingLoopArgv({ range, intervalMs: 1000, gapMs: 1000 / 3, timeoutMs: 500, summaryS: 10 })[4],
    '333.3333',
  );
});

const summary = (ip: string, xmt: number, rcv: number): string =>
  `${ip.padEnd(13)} : xmt/rcv/%loss = ${xmt}/${rcv}/${Math.round((100 * (xmt - rcv)) / xmt)}%, min/avg/max = 0.01/0.02/0.05`;

test('parseFpingStderr separates -Q interval summaries from the final cumulative one', () => {
  const text = [
    '[07:26:29]',
    summary('127.0.0.1', 10, 10),
    summary('127.0.0.2', 10, 9),
    '[07:26:39]',
    summary('127.0.0.1', 10, 10),
    summary('127.0.0.2', 9, 9),
    summary('127.0.0.1', 23, 23),
    summary('127.0.0.2', 22, 21),
    '',
  ].join('\n');
  const r = parseFpingStderr(text);
  assert.deepEqual(r.final, { targets: 2, sent: 45, received: 44 });
  assert.deepEqual(r.intervals, { count: 2, targets: 2, sent: 39, received: 38 });
  assert.deepEqual(r.otherLines, []);
  assert.equal(fpingSendRate(r, 10, 23), 39 / 20);
});

test('parseFpingStderr keeps error lines and, when fping died, has only its intervals', () => {
  const text = [
    '[07:26:29]',
    summary('127.0.0.1', 10, 10),
    'fping: not enough sequence numbers available! (expire_timeout=10000000000, host_nr=3, ping_count=7, seqmap_next_id=3)',
  ].join('\n');
  const r = parseFpingStderr(text);
  assert.equal(r.final, undefined);
  assert.deepEqual(r.intervals, { count: 1, targets: 1, sent: 10, received: 10 });
  assert.deepEqual(r.otherLines, [
    'fping: not enough sequence numbers available! (expire_timeout=10000000000, host_nr=3, ping_count=7, seqmap_next_id=3)',
  ]);
  assert.equal(fpingSendRate(r, 10, 12.5), 10 / 12.5);
});

test('parseFpingStderr without -Q output: the final summary alone, rate over the life', () => {
  const r = parseFpingStderr([summary('127.0.0.1', 4, 4), summary('127.0.0.2', 4, 3)].join('\n'));
  assert.deepEqual(r.final, { targets: 2, sent: 8, received: 7 });
  assert.equal(r.intervals.count, 0);
  assert.equal(fpingSendRate(r, 10, 4), 2);
});

test('parseSmokepingMetrics sums requests and responses over hosts and counts the hosts that sent', () => {
  const text = [
    '# HELP smokeping_requests_total Counter of packets sent.',
    '# TYPE smokeping_requests_total counter',
    'smokeping_requests_total{host="127.0.0.1",ip="127.0.0.1"} 5',
    'smokeping_requests_total{host="127.0.0.2",ip="127.0.0.2"} 0',
    'smokeping_requests_total{host="127.0.0.3",ip="127.0.0.3"} 4',
    'smokeping_response_duration_seconds_bucket{host="127.0.0.1",ip="127.0.0.1",le="+Inf"} 4',
    'smokeping_response_duration_seconds_sum{host="127.0.0.1",ip="127.0.0.1"} 0.000980289',
    'smokeping_response_duration_seconds_count{host="127.0.0.1",ip="127.0.0.1"} 4',
    'smokeping_response_duration_seconds_count{host="127.0.0.3",ip="127.0.0.3"} 4',
    'smokeping_prober_build_info{version="0.6.1"} 1',
  ].join('\n');
  assert.deepEqual(parseSmokepingMetrics(text), { hosts: 3, activeHosts: 2, sent: 9, received: 8 });
});

test('countStartedPingers counts the "Starting prober" log lines, one per host', () => {
  const log = [
    'ts=2026-12-02T07:43:04.418Z caller=main.go:199 level=info msg="Waiting 1ms between starting pingers"',
    'ts=2026-12-02T07:43:04.418Z caller=main.go:202 level=info msg="Starting prober" address=127.0.4.1 interval=1s size_bytes=56',
    'ts=2026-12-02T07:43:04.419Z caller=main.go:202 level=info msg="Starting prober" address=127.0.4.2 interval=1s size_bytes=56',
  ].join('\n');
  assert.equal(countStartedPingers(log), 2);
});

test('smokepingConfig lists every host in one ICMP target group at the interval', () => {
  assert.equal(
    smokepingConfig(['127.0.0.1', '127.0.0.2'], 1000),
    [
      'targets:',
      '  - hosts:',
      '      - "127.0.0.1"',
      '      - "127.0.0.2"',
      '    interval: 1000ms',
      '    network: ip4',
      '    protocol: icmp',
      '',
    ].join('\n'),
  );
});

test('formatPeersTable prints a block of rows per fleet, skipped peers with their reason once', () => {
  const table = formatPeersTable([
    {
      devices: 20_000,
      cells: {
        netscan: { label: '1 (agent)', cpuCores: 0.8234, usPerPing: 41.17, sentPct: 99.98, lost: 0, rssMb: 150.26 },
        fping_burst: { label: '4 x 5,000', cpuCores: 0.29, usPerPing: 14.5, sentPct: 100, lost: 1234, rssMb: 8 },
        smokeping: { label: '-', skipped: 'skipped: not installed' },
      },
    },
  ]);
  assert.equal(
    table,
    [
      '| N @ 1 s | netscan | fping one | fping -i 0 x procs | fping paced x procs | smokeping_prober | C floor |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      '| 20,000: processes | 1 (agent) | not run | 4 x 5,000 | not run | skipped: not installed | not run |',
      '| 20,000: CPU cores | 0.823 | - | 0.29 | - | - | - |',
      '| 20,000: µs/ping | 41.2 | - | 14.5 | - | - | - |',
      '| 20,000: sent % | 99.98 | - | 100 | - | - | - |',
      '| 20,000: replies lost | 0 | - | 1,234 | - | - | - |',
      '| 20,000: RSS MB | 150.3 | - | 8 | - | - | - |',
    ].join('\n'),
  );
});
