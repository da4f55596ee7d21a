import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeviceMetrics, escapeLabelValue } from './device-metrics.js';

const lines = (m: DeviceMetrics, re: RegExp): string[] =>
  m
    .render()
    .split('\n')
    .filter((l) => re.test(l));

test('each device gets up, sent, received and an RTT histogram labelled with its address, name and labels', () => {
  const m = new DeviceMetrics();
  m.setLabels('127.0.0.2', { name: 'core-1', labels: { site: 'ams1', role: 'core' } });
  m.observe('127.0.0.2', true, 0.3);
  m.observe('127.0.0.2', true, 7);
  m.observe('127.0.0.2', false, 0);
  m.observe('127.0.0.3', true, 2000);
  const l = '{ip="127.0.0.2",name="core-1",site="ams1",role="core"';
  assert.deepEqual(lines(m, /^netscan_device_(up|pings)/), [
    `netscan_device_up${l}} 0`,
    'netscan_device_up{ip="127.0.0.3"} 1',
    `netscan_device_pings_sent_total${l}} 3`,
    'netscan_device_pings_sent_total{ip="127.0.0.3"} 1',
    `netscan_device_pings_received_total${l}} 2`,
    'netscan_device_pings_received_total{ip="127.0.0.3"} 1',
  ]);
  assert.deepEqual(
    lines(m, /^netscan_device_rtt_seconds_bucket\{ip="127\.0\.0\.2".*le="(0\.0001|0\.0005|0\.005|0\.01|\+Inf)"/),
    [
      `netscan_device_rtt_seconds_bucket${l},le="0.0001"} 0`,
      `netscan_device_rtt_seconds_bucket${l},le="0.0005"} 1`,
      `netscan_device_rtt_seconds_bucket${l},le="0.005"} 1`,
      `netscan_device_rtt_seconds_bucket${l},le="0.01"} 2`,
      `netscan_device_rtt_seconds_bucket${l},le="+Inf"} 2`,
    ],
  );
  assert.deepEqual(lines(m, /^netscan_device_rtt_seconds_(sum|count)\{ip="127\.0\.0\.3"/), [
    'netscan_device_rtt_seconds_sum{ip="127.0.0.3"} 2',
    'netscan_device_rtt_seconds_count{ip="127.0.0.3"} 1',
  ]);
  assert.deepEqual(lines(m, /^netscan_device_rtt_seconds_bucket\{ip="127\.0\.0\.3".*le="1"/), [
    'netscan_device_rtt_seconds_bucket{ip="127.0.0.3",le="1"} 0',
  ]);
});

test('a removed device loses its series, and its slot is reused with counts from zero', () => {
  const m = new DeviceMetrics();
  for (let i = 0; i < 3000; i++) m.observe(`127.0.${i >> 8}.${i & 255}`, true, 1);
  assert.equal(m.size, 3000);
  m.remove('127.0.0.5');
  m.markDown('127.0.0.6');
  assert.equal(lines(m, /ip="127\.0\.0\.5"/).length, 0);
  assert.deepEqual(lines(m, /^netscan_device_up\{ip="127\.0\.0\.6"/), ['netscan_device_up{ip="127.0.0.6"} 0']);
  m.observe('fd00:1::5', false, 0);
  assert.deepEqual(lines(m, /^netscan_device_pings_sent_total\{ip="fd00:1::5"/), [
    'netscan_device_pings_sent_total{ip="fd00:1::5"} 1',
  ]);
  assert.deepEqual(lines(m, /^netscan_device_pings_sent_total\{ip="127\.0\.11\.183"/), [
    'netscan_device_pings_sent_total{ip="127.0.11.183"} 1',
  ]);
});

test('label values are escaped and invalid or reserved label names are left out', () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const m = new DeviceMetrics();
  m.setLabels('127.0.0.9', {
    name: 'x"y',
    labels: { 'bad-name': 'v', __reserved: 'v', ip: 'spoof', le: '1', ok_name: 'v' },
  });
  assert.deepEqual(lines(m, /^netscan_device_up/), ['netscan_device_up{ip="127.0.0.9",name="x\\"y",ok_name="v"} 0']);
});

test('netscan_device_info carries the identity labels; a configured label of the same name wins over an info label', () => {
  const m = new DeviceMetrics();
  assert.equal(m.has('127.0.0.4'), false);
  m.setLabels('127.0.0.4', {
    name: 'edge-2',
    labels: { site: 'ams1' },
    info: { location: 'rack 9', site: 'from-snmp', contact: '', 'bad-name': 'v' },
  });
  assert.equal(m.has('127.0.0.4'), true);
  assert.deepEqual(lines(m, /^netscan_device_(info|up)/), [
    'netscan_device_info{ip="127.0.0.4",name="edge-2",site="ams1",location="rack 9"} 1',
    'netscan_device_up{ip="127.0.0.4",name="edge-2",site="ams1"} 0',
  ]);
  m.observe('127.0.0.5', true, 1);
  assert.deepEqual(lines(m, /^netscan_device_info\{ip="127\.0\.0\.5"/), ['netscan_device_info{ip="127.0.0.5"} 1']);
});
