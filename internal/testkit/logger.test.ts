import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogger } from './logger.js';

test('captured lines are redacted and carry the service name', () => {
  const { logger, lines } = captureLogger();
  logger.info({ influxdb: { token: 's3cret', url: 'http://x' }, snmp: { community: 'c0mm' } }, 'hello');
  assert.equal(lines.length, 1);
  const text = JSON.stringify(lines[0]);
  assert.ok(!text.includes('s3cret'));
  assert.ok(!text.includes('c0mm'));
  assert.equal(lines[0]?.service, 'netscan');
  assert.equal(lines[0]?.msg, 'hello');
});
