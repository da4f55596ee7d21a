import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasCode } from '../errors/errors.js';
import { field, type Point } from '../model/point.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import { connectionRefused, FakeLineTransport, httpError } from '../testkit/fake-line-transport.js';
import { InfluxWriter, type InfluxWriterOptions, type WriterStats } from './influx-writer.js';

const pt = (i: number, bucket?: 'health'): Point => ({
  measurement: 'ping',
  tags: { ip: '127.0.0.2' },
  fields: { seq: field.int(i) },
  timeMs: 1_700_000_000_000 + i,
  ...(bucket ? { bucket } : {}),
});
const line = (i: number): string => `ping,ip=127.0.0.2 seq=${i}i ${1_700_000_000_000 + i}`;

/** Lets real I/O (spool files) and promise chains settle; the fake clock does not move. */
async function settle(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.fail(`never happened: ${what}`);
}

/**
 * Moves the fake clock in `stepMs` steps, at most `maxMs` in all, until `done()`; real I/O (the
 * spool) settles between steps. The clock moves only while a timer waits, so slow disk I/O on a
 * loaded machine cannot run the clock past a timer armed after it. Real time bounds nothing
 * but the wait itself (about 5 s).
 */
async function advanceUntil(clock: FakeClock, done: () => boolean, stepMs: number, maxMs: number): Promise<void> {
  const endMs = clock.now() + maxMs;
  for (let i = 0; i < 5000 && !done(); i++) {
    if (clock.pendingTimers() > 0 && clock.now() < endMs)
      await clock.advanceAsync(Math.min(stepMs, endMs - clock.now()));
    await new Promise((r) => setTimeout(r, 1));
  }
}

function books(s: WriterStats): void {
  assert.equal(
    s.pointsReceived,
    s.pointsWritten + s.pointsDropped + s.queueDepth + s.inFlightPoints + s.spoolPoints,
    JSON.stringify(s),
  );
}

function setup(t: { after: (fn: () => Promise<void> | void) => void }, opts: Partial<InfluxWriterOptions> = {}) {
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({ transport, clock, logger: silentLogger(), random: () => 0.999999, ...opts });
  t.after(() => writer.close(0));
  return { clock, transport, writer };
}

// Removed once the whole file ran: a test's t.after hooks run in the order they were added, so a
// per-test removal would pull the spool from under a writer its later close() hook still flushes.
const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-writer-test-'));
  tempDirs.push(dir);
  return dir;
}

test('sends a full batch at once and counts it written only after the server acknowledged it', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 3 });
  await writer.start();
  transport.setDefault('hold');
  for (let i = 0; i < 3; i++) assert.equal(writer.write(pt(i)), 0);
  await clock.advanceAsync(0);
  assert.equal(transport.sends.length, 1);
  assert.deepEqual(transport.sends[0]!.lines, [line(0), line(1), line(2)]);
  assert.equal(writer.stats().pointsWritten, 0);
  assert.equal(writer.stats().inFlightPoints, 3);
  transport.release();
  await clock.advanceAsync(0);
  assert.equal(writer.stats().pointsWritten, 3);
  assert.equal(writer.stats().batchesOk, 1);
  books(writer.stats());
});

test('sends a partial batch when the flush interval passes', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 100, flushIntervalMs: 5000 });
  await writer.start();
  writer.write(pt(1));
  writer.write(pt(2, 'health'));
  await clock.advanceAsync(4999);
  assert.equal(transport.sends.length, 0);
  await clock.advanceAsync(1);
  assert.deepEqual(
    transport.sends.map((s) => [s.target, s.lines.length]),
    [
      ['primary', 1],
      ['health', 1],
    ],
  );
});

test('a queue smaller than one flush interval of points flushes early: 1,022 points/s into max_buffer_points 1000 drop nothing', async (t) => {
  // batch_size 5000 and flush_interval 5 s would hold 5,110 points: without the early seal, 4,110 of every 5,110 are dropped.
  const { clock, transport, writer } = setup(t, { maxBufferPoints: 1000, batchSize: 5000, flushIntervalMs: 5000 });
  await writer.start();
  let sent = 0;
  for (let tick = 1; tick <= 300; tick++) {
    // 1,022 points/s in 100 ms slices, the remainder spread so every second has exactly 1,022.
    const due = Math.floor((1022 * tick) / 10);
    for (; sent < due; sent++) assert.equal(writer.write(pt(sent)), 0);
    await clock.advanceAsync(100);
  }
  const s = writer.stats();
  assert.equal(sent, 30_660);
  assert.equal(s.pointsDropped, 0);
  assert.equal(s.pointsWritten + s.queueDepth, sent);
  assert.ok(
    Math.max(...transport.sends.map((x) => x.lines.length)) <= 500,
    'batches sealed at half of max_buffer_points',
  );
  books(s);
});

test('seals a batch when it reaches the byte cap', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 1000, maxBatchBytes: 3 * (line(0).length + 1) });
  await writer.start();
  for (let i = 0; i < 7; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  assert.deepEqual(
    transport.sends.map((s) => s.lines.length),
    [3, 3],
  );
});

test('keeps at most maxConcurrentWrites requests in flight', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 1, maxConcurrentWrites: 2 });
  await writer.start();
  transport.setDefault('hold');
  for (let i = 0; i < 5; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  assert.equal(transport.heldCount, 2);
  transport.setDefault('ok');
  transport.release();
  await clock.advanceAsync(0);
  assert.equal(writer.stats().pointsWritten, 5);
});

test('backs off exponentially while the server fails, one probe at a time, and resumes on success', async (t) => {
  const { clock, transport, writer } = setup(t, {
    batchSize: 1,
    maxConcurrentWrites: 4,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 5000,
  });
  await writer.start();
  transport.enqueue(httpError(500), httpError(502), connectionRefused(), httpError(503), httpError(500));
  writer.write(pt(0));
  writer.write(pt(1));
  await clock.advanceAsync(0);
  const start = clock.now();
  await clock.advanceAsync(20_000);
  // t=0: both batches go out concurrently and fail; then one probe per backoff period: 1 s, 2 s, 4 s, 5 s (cap).
  assert.deepEqual(
    transport.sends.map((s) => s.atMs - start),
    [0, 0, 1000, 3000, 7000, 12_000, 12_000],
  );
  assert.deepEqual(transport.acceptedLines(), [line(0), line(1)]);
  const s = writer.stats();
  assert.equal(s.writeErrors.retry, 5);
  assert.equal(s.batchesFailed, 5);
  assert.equal(s.state, 'writing');
  books(s);
});

test('honours Retry-After on 429 and 503', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 1, minRetryDelayMs: 10 });
  await writer.start();
  transport.enqueue(httpError(429, { retryAfter: '7' }), httpError(503, { retryAfter: '2' }));
  writer.write(pt(0));
  await clock.advanceAsync(60_000);
  assert.deepEqual(
    transport.sends.map((s) => s.atMs - transport.sends[0]!.atMs),
    [0, 7000, 9000],
  );
  assert.equal(writer.stats().writeErrors.throttle, 2);
  assert.equal(writer.stats().pointsWritten, 1);
});

test('splits a batch on 413 until the halves fit, and drops a single line that never fits', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 5 });
  await writer.start();
  transport.setDefault((body) => (body.split('\n').length > 2 || body.includes('seq=99i') ? httpError(413) : 'ok'));
  for (let i = 0; i < 5; i++) writer.write(pt(i));
  writer.write(pt(99));
  writer.flush();
  await clock.advanceAsync(0);
  assert.deepEqual(transport.acceptedLines().sort(), [0, 1, 2, 3, 4].map(line).sort());
  const s = writer.stats();
  assert.equal(s.droppedByReason.too_large, 1);
  assert.ok(s.writeErrors.split >= 3);
  books(s);
});

test('drops a batch the server rejects as invalid, counts it and logs the reason once', async (t) => {
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const { logger, lines } = captureLogger('warn');
  const writer = new InfluxWriter({ transport, clock, logger, batchSize: 2 });
  t.after(() => writer.close(0));
  await writer.start();
  transport.enqueue(httpError(400, { message: 'unable to parse' }), httpError(400, { message: 'unable to parse' }));
  for (let i = 0; i < 6; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  const s = writer.stats();
  assert.equal(s.droppedByReason.rejected, 4);
  assert.equal(s.pointsWritten, 2);
  assert.equal(s.writeErrors.drop, 2);
  const logged = lines.filter((l) => l['reason'] === 'rejected');
  assert.equal(logged.length, 1);
  assert.equal(logged[0]!['server_reason'], 'HTTP 400: unable to parse');
  books(s);
});

test('keeps data through 401 and logs one configuration error', async (t) => {
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const { logger, lines } = captureLogger('warn');
  const writer = new InfluxWriter({ transport, clock, logger, batchSize: 2, minRetryDelayMs: 100 });
  t.after(() => writer.close(0));
  await writer.start();
  transport.enqueue(httpError(401), httpError(401), httpError(403));
  writer.write(pt(0));
  writer.write(pt(1));
  await clock.advanceAsync(0);
  assert.equal(writer.isHealthy(), false);
  await clock.advanceAsync(10_000);
  assert.equal(writer.stats().pointsWritten, 2);
  assert.equal(writer.isHealthy(), true);
  const errors = lines.filter((l) => l['level'] === 'error');
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]!['msg']), /credentials or target/);
});

test('without a spool, a full memory queue drops the oldest points and write() says how many', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 5, maxBufferPoints: 10, maxConcurrentWrites: 1 });
  await writer.start();
  transport.setDefault(connectionRefused());
  let returned = 0;
  for (let i = 0; i < 40; i++) {
    returned += writer.write(pt(i));
    await clock.advanceAsync(0);
  }
  const s = writer.stats();
  assert.equal(s.state, 'buffering');
  assert.equal(writer.isHealthy(), false);
  assert.equal(s.droppedByReason.buffer_full, returned);
  assert.ok(s.queueDepth <= 10);
  books(s);
  transport.setDefault('ok');
  await clock.advanceAsync(60_000);
  const end = writer.stats();
  books(end);
  assert.equal(end.queueDepth + end.inFlightPoints, 0);
  // The newest points survive: the oldest were shed.
  assert.ok(transport.acceptedLines().includes(line(39)));
  assert.ok(!transport.acceptedLines().includes(line(0)));
});

test('invalid points are counted and never sent', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 1 });
  await writer.start();
  assert.equal(writer.write({ measurement: 'm', tags: {}, fields: { x: field.float(NaN) }, timeMs: 1 }), 1);
  await clock.advanceAsync(0);
  assert.equal(transport.sends.length, 0);
  assert.equal(writer.stats().droppedByReason.invalid, 1);
});

test('close sends what is queued and waits for the acknowledgement', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 100 });
  await writer.start();
  writer.write(pt(1));
  writer.write(pt(2));
  transport.enqueue('hold');
  const closing = writer.close(5000);
  await clock.advanceAsync(0);
  assert.equal(transport.heldCount, 1);
  transport.release();
  await closing;
  assert.equal(writer.stats().pointsWritten, 2);
  assert.equal(writer.stats().state, 'stopped');
  assert.equal(transport.closed, 1);
  assert.equal(writer.write(pt(3)), 1);
  assert.equal(writer.stats().droppedByReason.closed, 1);
});

test('close keeps retrying a failing server until its deadline', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 1, minRetryDelayMs: 100 });
  await writer.start();
  transport.enqueue(connectionRefused(), connectionRefused());
  writer.write(pt(1));
  await clock.advanceAsync(0);
  const closing = writer.close(5000);
  await clock.advanceAsync(5000);
  await closing;
  assert.equal(writer.stats().pointsWritten, 1);
  assert.equal(transport.sends.length, 3);
});

test('stop is safe before start, idempotent, and concurrent callers share one completion', async (t) => {
  const { transport, writer } = setup(t);
  writer.write(pt(1));
  const a = writer.stop();
  const b = writer.stop();
  assert.equal(a, b);
  await a;
  await writer.start();
  assert.equal(writer.stats().state, 'stopped');
  assert.equal(writer.stats().droppedByReason.shutdown, 1);
  assert.equal(transport.sends.length, 0);
  assert.equal(transport.closed, 1);
});

test('an unwritable spool directory fails start with ERR_WRITE and advice', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  const writer = new InfluxWriter({
    transport: new FakeLineTransport(clock),
    clock,
    logger: silentLogger(),
    spoolDir: join(file, 'spool'),
  });
  await assert.rejects(
    writer.start(),
    (err: unknown) => hasCode(err, 'ERR_WRITE') && /spool_dir: ""/.test((err as Error).message),
  );
  // Not writing: readiness must say so. Points written meanwhile are counted when it closes.
  assert.equal(writer.stats().state, 'idle');
  assert.equal(writer.isHealthy(), false);
  writer.write(pt(0));
  writer.flush();
  await writer.close(0);
  const s = writer.stats();
  assert.equal(s.droppedByReason.shutdown, 1);
  books(s);
});

test('without a spool, close past its deadline aborts the request and counts the rest as dropped', async (t) => {
  const { clock, transport, writer } = setup(t, { batchSize: 2 });
  await writer.start();
  transport.setDefault('hold');
  for (let i = 0; i < 3; i++) writer.write(pt(i));
  const closing = writer.close(1000);
  await clock.advanceAsync(1000);
  await closing;
  const s = writer.stats();
  assert.equal(s.droppedByReason.shutdown, 3);
  assert.equal(s.pointsWritten, 0);
  books(s);
});

test('an outage sends batches to the spool and replays them oldest first when the server is back', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const { logger, lines } = captureLogger('info');
  const writer = new InfluxWriter({
    transport,
    clock,
    logger,
    batchSize: 10,
    spoolDir: dir,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 4000,
    maxConcurrentWrites: 2,
  });
  t.after(() => writer.close(0));
  await writer.start();
  transport.setDefault(connectionRefused());
  for (let i = 0; i < 200; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 200 && writer.stats().queueDepth === 0, 'all points spooled');
  assert.equal(writer.stats().state, 'spooling');
  assert.equal(writer.isHealthy(), true);
  await clock.advanceAsync(30_000);
  transport.setDefault('ok');
  for (let i = 200; i < 230; i++) writer.write(pt(i));
  await clock.advanceAsync(5000);
  await settle(() => writer.stats().pointsWritten === 230, 'replayed');
  assert.deepEqual(
    transport.acceptedLines(),
    Array.from({ length: 230 }, (_, i) => line(i)).sort(
      (a, b) => transport.acceptedLines().indexOf(a) - transport.acceptedLines().indexOf(b),
    ),
  );
  // Oldest first: the first acknowledged batch is the first one written.
  assert.deepEqual(
    transport.sends.find((s) => s.result === 'ok')!.lines,
    Array.from({ length: 10 }, (_, i) => line(i)),
  );
  assert.equal(new Set(transport.acceptedLines()).size, 230);
  const s = writer.stats();
  assert.equal(s.pointsSpooled >= 200, true);
  books(s);
  await settle(() => writer.stats().spoolBytes === 0, 'spool emptied');
  const transitions = lines.filter((l) => /unreachable|Output back/.test(String(l['msg'])));
  assert.deepEqual(
    transitions.map((l) => l['msg']),
    ['Output unreachable; spooling to disk', 'Output back, replaying 220 points'],
  );
});

test('close past its deadline spools in-flight and queued batches, and the next start replays them', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({ transport, clock, logger: silentLogger(), batchSize: 5, spoolDir: dir });
  await writer.start();
  transport.setDefault('hold');
  for (let i = 0; i < 12; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  const closing = writer.close(2000);
  await clock.advanceAsync(2000);
  await closing;
  const s = writer.stats();
  assert.equal(s.spoolPoints, 12);
  assert.equal(s.pointsDropped, 0);
  books(s);

  const transport2 = new FakeLineTransport(clock);
  const again = new InfluxWriter({ transport: transport2, clock, logger: silentLogger(), batchSize: 5, spoolDir: dir });
  t.after(() => again.close(0));
  await again.start();
  await settle(() => again.stats().pointsWritten === 12, 'replayed after restart');
  assert.deepEqual(transport2.acceptedLines().sort(), Array.from({ length: 12 }, (_, i) => line(i)).sort());
});

test('a producer faster than the server keeps memory bounded and the books balance exactly', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({
    transport,
    clock,
    logger: silentLogger(),
    batchSize: 50,
    maxBufferPoints: 400,
    spoolDir: dir,
    maxConcurrentWrites: 1,
  });
  t.after(() => writer.close(0));
  await writer.start();
  transport.setDefault('hold');
  let maxDepth = 0;
  for (let i = 0; i < 5000; i++) {
    writer.write(pt(i));
    maxDepth = Math.max(maxDepth, writer.stats().queueDepth);
    books(writer.stats());
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 1));
    if (i % 500 === 499) {
      transport.release();
      await clock.advanceAsync(0);
    }
  }
  assert.ok(maxDepth <= 400, `queue depth reached ${maxDepth}`);
  const s = writer.stats();
  assert.ok(s.pointsSpooled > 0);
  books(s);
  transport.setDefault('ok');
  transport.release();
  await settle(() => writer.stats().pointsWritten + writer.stats().pointsDropped === 5000, 'drained');
  assert.equal(new Set(transport.acceptedLines()).size, writer.stats().pointsWritten);
});

test('a probe that started while the last outage was ending does not block probing in the next outage', async (t) => {
  const dir = tempDir();
  const { clock, transport, writer } = setup(t, {
    batchSize: 1,
    maxConcurrentWrites: 2,
    spoolDir: dir,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  await writer.start();
  // Batch 0 is held (slow but healthy); batch 1 fails: the writer is failing and spools it.
  transport.enqueue('hold', connectionRefused());
  writer.write(pt(0));
  writer.write(pt(1));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 1, 'batch 1 spooled');
  // The retry is due: a probe starts reading the spool; meanwhile the slow request succeeds.
  clock.advance(1000);
  transport.release();
  await settle(() => writer.stats().pointsWritten === 2, 'both written');
  assert.equal(writer.stats().state, 'writing');
  // A second outage: the writer must probe again and recover.
  transport.setDefault(connectionRefused());
  writer.write(pt(2));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().state === 'spooling', 'failing again');
  // The append is real disk I/O (hundreds of ms on a loaded machine): wait for it, not for a real-time budget.
  await settle(() => writer.stats().spoolPoints === 1 && writer.stats().queueDepth === 0, 'point 2 spooled');
  transport.setDefault('ok');
  await clock.advanceAsync(1000); // the backoff passed: a probe must replay point 2
  await settle(() => writer.stats().pointsWritten === 3, 'probing resumed after the second outage');
  assert.equal(writer.stats().pointsWritten, 3, 'probing resumed after the second outage');
  books(writer.stats());
});

test('a close deadline that passes while a sender reads the spool starts no request it could not abort', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({
    transport,
    clock,
    logger: silentLogger(),
    random: () => 0.999999,
    batchSize: 1,
    maxConcurrentWrites: 1,
    spoolDir: dir,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  await writer.start();
  transport.setDefault(connectionRefused());
  for (let i = 0; i < 3; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 3, 'spooled');
  transport.setDefault('hold'); // the server now hangs
  clock.advance(1000); // the retry is due: the sender starts reading the spool (real disk I/O)
  for (let i = 0; i < 10; i++) await Promise.resolve();
  const closing = writer.close(0);
  for (let i = 0; i < 50; i++) await Promise.resolve(); // close() arms its deadline timer
  clock.advance(0); // the close deadline passes while the read is under way
  let returned = false;
  void closing.then(() => {
    returned = true;
  });
  await advanceUntil(clock, () => returned, 1000, 20_000);
  const heldAfterDeadline = transport.heldCount;
  transport.release();
  await closing;
  assert.equal(returned, true, 'close() returned');
  assert.equal(heldAfterDeadline, 0, 'no request started after the deadline');
  books(writer.stats());
});

test('close() is bounded even when the transport ignores the abort: its batches go to the spool', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  let sends = 0;
  const transport = {
    name: 'stuck',
    unsignedAsInteger: false,
    send: (): Promise<void> => {
      sends++;
      return new Promise<void>(() => undefined);
    }, // a hung file system: never settles, ignores the signal
    close: (): Promise<void> => new Promise<void>(() => undefined),
  };
  const { logger, lines } = captureLogger('warn');
  const writer = new InfluxWriter({ transport, clock, logger, batchSize: 2, spoolDir: dir });
  await writer.start();
  for (let i = 0; i < 4; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  assert.equal(sends, 2);
  const closing = writer.close(500);
  let returned = false;
  void closing.then(() => {
    returned = true;
  });
  await advanceUntil(clock, () => returned, 100, 4000);
  assert.equal(returned, true, 'close() returned within deadline + grace periods of simulated time');
  const s = writer.stats();
  assert.deepEqual([s.pointsWritten, s.pointsDropped, s.spoolPoints], [0, 0, 4]);
  assert.equal(
    lines.filter((l) => l['msg'] === 'Output ignored the close deadline; its requests were given up').length,
    1,
  );
});

test('the books balance while a replayed batch is in flight and its segment is dropped for space', async (t) => {
  const dir = tempDir();
  const { clock, transport, writer } = setup(t, {
    batchSize: 1000,
    maxConcurrentWrites: 1,
    spoolDir: dir,
    spoolMaxBytes: 200_000,
    spoolSegmentBytes: 64 * 1024,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  await writer.start();
  transport.setDefault(connectionRefused());
  let n = 0;
  for (let i = 0; i < 3000; i++) writer.write(pt(n++));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 3000 && writer.stats().queueDepth === 0, 'spooled');
  transport.setDefault('hold');
  await clock.advanceAsync(1000); // the probe takes the oldest spooled batch and hangs
  await settle(() => transport.heldCount === 1, 'probe in flight');
  for (let i = 0; i < 3000; i++) writer.write(pt(n++)); // still failing: spooled, the spool overflows
  await clock.advanceAsync(0);
  await settle(() => writer.stats().queueDepth === 0, 'appended');
  assert.ok(writer.stats().droppedByReason.spool_full > 0, 'the oldest segment was dropped');
  books(writer.stats());
  transport.setDefault('ok');
  transport.release();
  await settle(() => writer.stats().inFlightPoints === 0, 'released');
  books(writer.stats());
});

test('a spool that cannot be read is logged once and retried after a pause, then replayed', async (t) => {
  const dir = tempDir();
  const { logger, lines } = captureLogger('warn');
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({
    transport,
    clock,
    logger,
    random: () => 0.999999,
    batchSize: 1,
    spoolDir: dir,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  t.after(() => writer.close(0));
  await writer.start();
  transport.setDefault(connectionRefused());
  for (let i = 0; i < 3; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 3, 'spooled');
  transport.setDefault('ok');
  const [seg] = readdirSync(dir).filter((n) => n.endsWith('.seg'));
  renameSync(join(dir, seg!), join(dir, 'away'));
  // Without a pause the failing read would spin the event loop and this loop would never run.
  for (let i = 0; i < 5; i++) {
    await clock.advanceAsync(1000);
    await new Promise((r) => setTimeout(r, 5));
  }
  await settle(() => lines.some((l) => l['msg'] === 'Cannot read the spool; retrying'), 'the read failed');
  assert.equal(lines.filter((l) => l['msg'] === 'Cannot read the spool; retrying').length, 1);
  renameSync(join(dir, 'away'), join(dir, seg!));
  await advanceUntil(clock, () => writer.stats().pointsWritten === 3, 1000, 10_000);
  assert.equal(writer.stats().pointsWritten, 3);
  books(writer.stats());
});

test('a spool that failed to take a batch is tried again 30 s later instead of never', async (t) => {
  const dir = tempDir();
  const spoolDir = join(dir, 'spool');
  const { logger, lines } = captureLogger('warn');
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({
    transport,
    clock,
    logger,
    random: () => 0.999999,
    batchSize: 1,
    spoolDir,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  t.after(() => writer.close(0));
  await writer.start();
  rmSync(spoolDir, { recursive: true, force: true }); // the disk goes away under the spool
  transport.setDefault(connectionRefused());
  writer.write(pt(0));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().state === 'buffering', 'spool failed, points kept in memory');
  assert.equal(lines.filter((l) => l['msg'] === 'Cannot write the spool; keeping data in memory').length, 1);
  mkdirSync(spoolDir, { recursive: true }); // and comes back
  await clock.advanceAsync(30_000);
  writer.write(pt(1));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 2, 'both points spooled');
  assert.equal(writer.stats().state, 'spooling');
  books(writer.stats());
});

test('close() during the pause after a failed spool read returns without the clock moving', async () => {
  const dir = tempDir();
  const { logger, lines } = captureLogger('warn');
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const writer = new InfluxWriter({
    transport,
    clock,
    logger,
    random: () => 0.999999,
    batchSize: 1,
    spoolDir: dir,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  await writer.start();
  transport.setDefault(connectionRefused());
  for (let i = 0; i < 3; i++) writer.write(pt(i));
  await clock.advanceAsync(0);
  await settle(() => writer.stats().spoolPoints === 3, 'spooled');
  const [seg] = readdirSync(dir).filter((n) => n.endsWith('.seg'));
  renameSync(join(dir, seg!), join(dir, 'away'));
  await clock.advanceAsync(1000); // the probe is due: its read fails and the sender pauses on the writer's clock
  await settle(() => lines.some((l) => l['msg'] === 'Cannot read the spool; retrying'), 'the read failed');
  renameSync(join(dir, 'away'), join(dir, seg!));
  // Nothing moves the clock from here: a close() that waited for the pause to end would never
  // return, and node:test would fail this test as cancelled ("the event loop has already resolved").
  await writer.close(0);
  const s = writer.stats();
  assert.equal(s.state, 'stopped');
  assert.equal(s.spoolPoints, 3, 'the spooled points stay on disk for the next start');
  books(s);
  writer.checkBooks();
});

test('the books balance after every step: partial writes, splits, an outage that overflows the spool, a close past its deadline', async (t) => {
  const dir = tempDir();
  const { clock, transport, writer } = setup(t, {
    batchSize: 50,
    maxConcurrentWrites: 2,
    spoolDir: dir,
    spoolMaxBytes: 100_000,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 1000,
  });
  const check = (): boolean => {
    writer.checkBooks();
    books(writer.stats());
    return true;
  };
  let n = 0;
  const write = (k: number): void => {
    for (let i = 0; i < k; i++) {
      writer.write(pt(n++));
      check();
    }
  };
  const step = async (ms = 0): Promise<void> => {
    check();
    await clock.advanceAsync(ms);
    check();
  };
  await writer.start();
  transport.enqueue(httpError(400, { message: 'partial write: field type conflict dropped=3' }), httpError(422));
  write(100);
  await step();
  assert.deepEqual([writer.stats().pointsWritten, writer.stats().droppedByReason.rejected], [47, 53]);
  transport.setDefault((body) => (body.split('\n').length > 10 ? httpError(413) : 'ok'));
  write(50);
  await step();
  assert.equal(writer.stats().pointsWritten, 97);
  transport.setDefault(connectionRefused());
  write(2000);
  await step();
  await settle(() => check() && writer.stats().queueDepth === 0, 'spooled');
  transport.setDefault('hold');
  await step(1000); // the probe replays the oldest spooled batch and hangs
  await settle(() => check() && transport.heldCount === 1, 'probe in flight');
  write(2000); // still failing: the spool overflows, the probe's segment among the dropped
  await step();
  await settle(() => check() && writer.stats().queueDepth === 0, 'appended');
  assert.ok(writer.stats().droppedByReason.spool_full > 0, 'the spool overflowed');
  transport.release(connectionRefused());
  await settle(() => check() && writer.stats().inFlightPoints === 0, 'probe failed');
  await step(1000); // the next probe hangs until the close deadline aborts it
  await settle(() => check() && transport.heldCount === 1, 'second probe in flight');
  const closing = writer.close(500);
  await step(500);
  await closing;
  check();
  const s = writer.stats();
  assert.equal(s.state, 'stopped');
  assert.equal(s.pointsReceived, 4150);
  assert.equal(s.inFlightPoints + s.queueDepth, 0);
});
