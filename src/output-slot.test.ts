import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../internal/clock/clock.js';
import { field } from '../internal/model/point.js';
import { FaultServer, faults } from '../internal/testkit/fault-server.js';
import { silentLogger } from '../internal/testkit/logger.js';
import { parseConfigText } from './config/load.js';
import { OutputSlot } from './output-slot.js';

const point = {
  measurement: 'ping',
  tags: { ip: '127.0.0.1' },
  fields: { success: field.bool(true) },
  timeMs: 1_700_000_000_000,
};

function outputsYaml(a: string, b: string): string {
  return [
    'networks: [127.0.0.0/30]',
    'spool_dir: spool',
    'outputs:',
    `  - {name: main, url: "${a}", token: "s3cret-a", org: o, bucket: b}`,
    `  - {name: mirror, version: v1, url: "${b}", database: netscan, password: "s3cret-b", username: u}`,
  ].join('\n');
}

test('every point goes to each output of `outputs`, each with its own spool, counters and status by name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-outputs-'));
  const a = new FaultServer();
  const b = new FaultServer(faults.status(500));
  await a.start();
  await b.start();
  const { config } = parseConfigText(outputsYaml(a.url, b.url), { env: {}, source: join(dir, 'config.yaml') });
  const slot = new OutputSlot(config, { clock: systemClock, logger: silentLogger() });
  try {
    await slot.start();
    assert.deepEqual(slot.names, [`main: influxdb v2 ${a.url}`, `mirror: influxdb v1 ${b.url}`]);
    assert.equal(slot.write(point), 0);
    await slot.close(2000);
    assert.deepEqual(
      a.requests.map((r) => [r.path, r.body.trim()]),
      [['/api/v2/write', 'ping,ip=127.0.0.1 success=T 1700000000000']],
    );
    assert.ok(b.requests.length >= 1 && b.requests.every((r) => r.path === '/write'));
    const status = slot.status();
    assert.deepEqual(
      status.map((s) => [s.name, s.points_written, s.spool_points]),
      [
        ['main', 1, 0],
        ['mirror', 0, 1],
      ],
    );
    assert.doesNotMatch(JSON.stringify(status), /s3cret/);
    assert.deepEqual(readdirSync(join(dir, 'spool')).sort(), ['main', 'mirror']);
  } finally {
    await slot.close(0);
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload that removes an output and adds another replaces the writers; the removed one flushes first', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-outputs-'));
  const [a, b, c] = [new FaultServer(), new FaultServer(), new FaultServer()];
  for (const s of [a, b, c]) await s.start();
  const load = (yaml: string) => parseConfigText(yaml, { env: {}, source: join(dir, 'config.yaml') }).config;
  const slot = new OutputSlot(load(outputsYaml(a.url, b.url)), { clock: systemClock, logger: silentLogger() });
  try {
    await slot.start();
    slot.write(point);
    const next = load(
      [
        'networks: [127.0.0.0/30]',
        'spool_dir: spool',
        'outputs:',
        `  - {name: main, url: "${a.url}", token: "s3cret-a", org: o, bucket: b}`,
        `  - {name: third, version: v1, url: "${c.url}", database: netscan}`,
      ].join('\n'),
    );
    const prepared = await slot.prepare(next);
    assert.ok(prepared);
    await slot.replace(prepared, 2000);
    assert.deepEqual(
      slot.status().map((s) => s.name),
      ['main', 'third'],
    );
    slot.write(point);
    await slot.close(2000);
    assert.equal(b.requests.length, 1, 'the removed output sent what it held before closing');
    assert.equal(c.requests.length, 1);
    assert.equal(a.requests.length, 2);
  } finally {
    await slot.close(0);
    for (const s of [a, b, c]) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
