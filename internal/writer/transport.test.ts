import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../clock/clock.js';
import { field, type Point } from '../model/point.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import { FaultServer, faults } from '../testkit/fault-server.js';
import { freeLoopbackPort, pollUntil } from '../testkit/server-process.js';
import { InfluxWriter, type InfluxWriterOptions } from './influx-writer.js';
import { InfluxV1Transport, InfluxV2Transport } from './transport.js';

const pt = (i: number, bucket?: 'health'): Point => ({
  measurement: 'ping',
  tags: { ip: '127.0.0.2' },
  fields: { seq: field.int(i), n: field.uint(i) },
  timeMs: 1_700_000_000_000 + i,
  ...(bucket ? { bucket } : {}),
});
const line = (i: number): string => `ping,ip=127.0.0.2 n=${i}u,seq=${i}i ${1_700_000_000_000 + i}`;

let server: FaultServer;
before(async () => {
  server = new FaultServer();
  await server.start();
});
after(() => server.stop());

function v2(url = server.url, timeoutMs = 2000): InfluxV2Transport {
  return new InfluxV2Transport({
    url,
    token: 'tok3n',
    org: 'acme',
    bucket: 'netscan',
    healthBucket: 'health',
    timeoutMs,
  });
}

/** A writer on the real clock with short backoff, closed after the test. */
function writer(
  t: { after: (fn: () => Promise<void>) => void },
  opts: Partial<InfluxWriterOptions> & Pick<InfluxWriterOptions, 'transport'>,
): InfluxWriter {
  const w = new InfluxWriter({
    clock: systemClock,
    logger: silentLogger(),
    batchSize: 10,
    flushIntervalMs: 20,
    minRetryDelayMs: 10,
    maxRetryDelayMs: 40,
    ...opts,
  });
  t.after(() => w.close(2000));
  return w;
}

const until = (
  w: InfluxWriter,
  cond: (s: ReturnType<InfluxWriter['stats']>) => boolean,
): Promise<ReturnType<InfluxWriter['stats']>> =>
  pollUntil(async () => w.stats(), cond, { deadlineMs: 10_000, intervalMs: 5 });

test('v2 writes gzip line protocol to /api/v2/write with token, org, bucket and ms precision', async (t) => {
  server.requests.length = 0;
  const w = writer(t, { transport: v2(), batchSize: 100 });
  await w.start();
  for (let i = 0; i < 50; i++) w.write(pt(i));
  w.write(pt(1000, 'health'));
  await until(w, (s) => s.pointsWritten === 51);
  const main = server.requests.find((r) => r.query.get('bucket') === 'netscan')!;
  assert.equal(main.method, 'POST');
  assert.equal(main.path, '/api/v2/write');
  assert.deepEqual(Object.fromEntries(main.query), { org: 'acme', bucket: 'netscan', precision: 'ms' });
  assert.equal(main.headers['authorization'], 'Token tok3n');
  assert.equal(main.headers['content-encoding'], 'gzip');
  assert.deepEqual(
    main.body.split('\n'),
    Array.from({ length: 50 }, (_, i) => line(i)),
  );
  const health = server.requests.find((r) => r.query.get('bucket') === 'health')!;
  assert.equal(health.body, line(1000));
});

test('v1 writes to /write?db= with basic auth, the health database, and unsigned fields as integers', async (t) => {
  server.requests.length = 0;
  const transport = new InfluxV1Transport({
    url: server.url,
    database: 'netscan',
    healthDatabase: 'netscan_health',
    username: 'ns',
    password: 'pw',
    retentionPolicy: 'autogen',
  });
  const w = writer(t, { transport });
  await w.start();
  w.write(pt(7));
  w.write(pt(8, 'health'));
  await until(w, (s) => s.pointsWritten === 2);
  const byDb = Object.fromEntries(server.requests.map((r) => [r.query.get('db'), r]));
  assert.equal(byDb['netscan']!.path, '/write');
  assert.deepEqual(Object.fromEntries(byDb['netscan']!.query), { db: 'netscan', precision: 'ms', rp: 'autogen' });
  assert.equal(byDb['netscan']!.headers['authorization'], `Basic ${Buffer.from('ns:pw').toString('base64')}`);
  assert.equal(byDb['netscan']!.body, 'ping,ip=127.0.0.2 n=7i,seq=7i 1700000000007');
  assert.equal(byDb['netscan_health']!.body, 'ping,ip=127.0.0.2 n=8i,seq=8i 1700000000008');
});

test('every fault class from a real HTTP server ends with the data written or counted', async (t) => {
  server.requests.length = 0;
  const { logger, lines: logs } = captureLogger('warn');
  const w = writer(t, { transport: v2(server.url, 300), logger, batchSize: 4, maxConcurrentWrites: 1 });
  server.enqueue(
    faults.status(500, 'internal error'),
    faults.retryAfter(429, 1),
    faults.retryAfter(503, 0),
    faults.hang(),
    faults.reset(),
    faults.status(413),
    faults.status(400, 'unable to parse line'),
  );
  await w.start();
  for (let i = 0; i < 8; i++) w.write(pt(i));
  const s = await until(
    w,
    (st) => st.pointsWritten + st.pointsDropped === 8 && st.queueDepth + st.inFlightPoints === 0,
  );
  assert.deepEqual(s.writeErrors, { retry: 3, throttle: 2, split: 1, drop: 1, config: 0 });
  assert.deepEqual(
    server.requests.slice(0, 7).map((r) => r.body.split('\n').length),
    [4, 4, 4, 4, 4, 4, 2],
  );
  // The 400 hit the first half of the split batch; everything else arrived exactly once.
  assert.equal(s.droppedByReason.rejected, 2);
  assert.equal(s.pointsWritten, 6);
  assert.deepEqual(server.acceptedLines().sort(), [2, 3, 4, 5, 6, 7].map(line).sort());
  assert.equal(logs.filter((l) => l['reason'] === 'rejected').length, 1);
  assert.match(String(logs.find((l) => l['reason'] === 'rejected')!['server_reason']), /unable to parse line/);
});

test('401 is a loud configuration error and the data is kept until the token works', async (t) => {
  server.requests.length = 0;
  const { logger, lines: logs } = captureLogger('warn');
  const w = writer(t, { transport: v2(), logger });
  server.enqueue(faults.status(401, 'unauthorized access'), faults.status(401, 'unauthorized access'));
  await w.start();
  w.write(pt(1));
  const s = await until(w, (st) => st.pointsWritten === 1);
  assert.equal(s.writeErrors.config, 2);
  const errs = logs.filter((l) => l['level'] === 'error');
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!['status'], 401);
});

test('connection refused spools to disk, and the data arrives once a server listens there', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-writer-refused-'));
  const port = await freeLoopbackPort();
  const late = new FaultServer();
  const w = writer(t, {
    transport: v2(`http://127.0.0.1:${port}`),
    spoolDir: dir,
    minRetryDelayMs: 20,
    maxRetryDelayMs: 50,
  });
  // After the writer's close (hooks run in the order added): its spool and server outlive it.
  t.after(() => late.stop());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await w.start();
  for (let i = 0; i < 100; i++) w.write(pt(i));
  const down = await until(w, (st) => st.spoolPoints === 100);
  assert.equal(down.state, 'spooling');
  assert.equal(down.pointsWritten, 0);
  await late.start(port);
  await until(w, (st) => st.pointsWritten === 100);
  assert.deepEqual(late.acceptedLines().sort(), Array.from({ length: 100 }, (_, i) => line(i)).sort());
  assert.equal(w.stats().state, 'writing');
});

test('a token or password the server echoes in its error never reaches last_write_error or a log line; URL credentials neither', async (t) => {
  const { logger, lines } = captureLogger('debug');
  t.after(() => server.setDefault(faults.ok()));
  server.setDefault(faults.status(401, 'unauthorized access: token "tok3n" is not valid'));
  const w2 = writer(t, { transport: v2(), logger });
  await w2.start();
  w2.write(pt(1));
  const s2 = await until(w2, (s) => s.lastError !== undefined);
  assert.equal(s2.lastError, 'HTTP 401 Unauthorized: unauthorized access: token "[redacted]" is not valid');
  await w2.close(100);
  const basic = Buffer.from('ns:s3cret-pw').toString('base64');
  server.setDefault(faults.status(403, `user ns with password s3cret-pw (Basic ${basic}) may not write`));
  const url = server.url.replace('http://', 'http://ns:s3cret-pw@');
  const v1 = new InfluxV1Transport({ url, database: 'netscan', username: 'ns', password: 's3cret-pw' });
  assert.equal(v1.name, `influxdb-v1 ${server.url.replace('http://', 'http://[redacted]@')}`);
  const w1 = writer(t, { transport: v1, logger });
  await w1.start();
  w1.write(pt(2));
  const s1 = await until(w1, (s) => s.lastError !== undefined);
  assert.equal(s1.lastError, 'HTTP 403 Forbidden: user ns with password [redacted] (Basic [redacted]) may not write');
  const text = JSON.stringify(lines);
  for (const secret of ['tok3n', 's3cret-pw', basic]) assert.ok(!text.includes(secret), `${secret} logged`);
});

test('a body given as bytes reaches the server exactly as the same body given as text; a refusal still rejects', async () => {
  const signal = new AbortController().signal;
  const v1 = new InfluxV1Transport({ url: server.url, database: 'netscan' });
  // Under and over the gzip threshold, non-ASCII included.
  const bodies = ['m,host=Zürich😀 v=1i 1', `m s="${'é'.repeat(3000)}" 2\nm v=3i 3`];
  for (const transport of [v2(), v1]) {
    for (const body of bodies) {
      server.requests.length = 0;
      await transport.send(body, 'primary', signal);
      await transport.sendBytes(Buffer.from(body, 'utf8'), 'primary', signal);
      const [a, b] = server.requests;
      assert.equal(a!.body, body);
      assert.deepEqual(b, a);
    }
    server.enqueue(faults.status(400, 'unable to parse line'));
    await assert.rejects(transport.sendBytes(Buffer.from('bad'), 'health', signal), { statusCode: 400 });
  }
});
