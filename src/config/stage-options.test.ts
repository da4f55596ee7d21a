import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultReconcilerOptions } from '../../internal/reconcile/reconciler.js';
import { defaultPingSchedulerOptions } from '../../internal/schedule/ping-scheduler.js';
import { defaultSnmpEnricherOptions } from '../../internal/snmp/enricher.js';
import { defaultDeviceStoreOptions } from '../../internal/state/device-store.js';
import { defaultSweeperOptions } from '../../internal/sweep/sweeper.js';
import { defaultFileTransportOptions } from '../../internal/writer/file-transport.js';
import { defaultInfluxWriterOptions } from '../../internal/writer/influx-writer.js';
import { configSchema, type Config } from './schema.js';
import {
  deviceStoreOptions,
  fileTransportOptions,
  fileWriterOptions,
  healthServerOptions,
  influxWriterOptions,
  reconcilerOptions,
  schedulerOptions,
  snmpEnricherOptions,
  sweeperOptions,
} from './stage-options.js';

// The smallest valid config. The two intervals have no product default (the config must set
// them); they are given the scheduler's and the reference config's values.
const minimal = { networks: ['127.0.0.0/30'], ping_interval: '2s', icmp_discovery_interval: '5m' };
const parse = (extra: object = {}): Config => configSchema.parse({ ...minimal, ...extra });

/** The entries of `defaults` named by the keys of `mapped`. */
function sameKeys(defaults: object, mapped: object): Record<string, unknown> {
  return Object.fromEntries(Object.keys(mapped).map((k) => [k, (defaults as Record<string, unknown>)[k]]));
}

test('every stage default equals what the schema default maps to', () => {
  const c = parse();
  const snmp = snmpEnricherOptions(parse({ snmp: {} }));
  assert.ok(snmp);
  const { credentials, ...snmpTunables } = snmp;
  assert.deepEqual(credentials, []);
  const cases: [string, object, object][] = [
    ['scheduler', defaultPingSchedulerOptions, schedulerOptions(c)],
    ['sweeper', defaultSweeperOptions, sweeperOptions(c)],
    ['reconciler', defaultReconcilerOptions, reconcilerOptions(c)],
    ['snmp enricher', defaultSnmpEnricherOptions, snmpTunables],
  ];
  for (const [stage, defaults, mapped] of cases) assert.deepEqual(mapped, sameKeys(defaults, mapped), stage);
});

test('the device store default differs from the product default only in its state file, which a bare store leaves off', () => {
  const mapped = deviceStoreOptions(parse());
  assert.deepEqual(mapped, { ...sameKeys(defaultDeviceStoreOptions, mapped), stateFile: 'data/state.json' });
  assert.equal(defaultDeviceStoreOptions.stateFile, '');
});

test('the writer defaults equal the schema defaults with or without an influxdb section; the spool lives under spool_dir', () => {
  for (const c of [parse(), parse({ influxdb: { url: 'http://127.0.0.1:8086' } })]) {
    const mapped = influxWriterOptions(c);
    assert.deepEqual(mapped, { ...sameKeys(defaultInfluxWriterOptions, mapped), spoolDir: 'data/spool/influxdb' });
  }
  assert.equal(influxWriterOptions(parse({ spool_dir: '' })).spoolDir, undefined);
  assert.equal(influxWriterOptions(parse({ spool_max_bytes: 0 })).spoolDir, undefined);
});

test('the file writer sends 1,000-line batches (fewer when batch_size is smaller), one at a time, a backlog in one append, without a spool', () => {
  assert.deepEqual(fileWriterOptions(parse()), {
    ...influxWriterOptions(parse()),
    batchSize: 1000,
    maxConcurrentWrites: 1,
    coalesceBatches: true,
    spoolDir: undefined,
  });
  assert.equal(fileWriterOptions(parse({ influxdb: { batch_size: 300 } })).batchSize, 300);
  const transport = fileTransportOptions(parse({ output_file: 'out.lp' }));
  assert.deepEqual(transport, { ...sameKeys(defaultFileTransportOptions, transport), path: 'out.lp' });
});

test('SNMP and the health listener are off when their config says so', () => {
  assert.equal(snmpEnricherOptions(parse()), undefined);
  assert.equal(snmpEnricherOptions(parse({ snmp: { enabled: false } })), undefined);
  assert.deepEqual(healthServerOptions(parse()), { port: 8080, host: '0.0.0.0' });
  assert.equal(healthServerOptions(parse({ health_check_port: 0 })), undefined);
});
