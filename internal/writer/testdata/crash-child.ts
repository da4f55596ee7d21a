// Child process for crash.test.ts: runs one InfluxWriter with a spool against a URL, writes
// points `from`..`from+count-1`, prints its stats as JSON lines on stdout every 20 ms, and then
// either waits to be killed, kills itself with SIGKILL right after the server acknowledged its
// Nth request (before the spool records it), or closes cleanly once everything is written (and
// its books balance). With `rate`, it writes that many points/s from `from` on until killed.
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../clock/clock.js';
import { createLogger } from '../../log/log.js';
import { field } from '../../model/point.js';
import { InfluxWriter } from '../influx-writer.js';
import { InfluxV2Transport, type LineTransport } from '../transport.js';

interface ChildOptions {
  url: string;
  spoolDir: string;
  from: number;
  count: number;
  baseMs: number;
  killAfterAcks?: number;
  exitWhenDrained?: boolean;
  rate?: number;
  flushIntervalMs?: number;
  batchSize?: number;
}

const opts = JSON.parse(process.argv[2]!) as ChildOptions;
const real = new InfluxV2Transport({
  url: opts.url,
  token: 'unused',
  org: 'acme',
  bucket: 'netscan',
  healthBucket: 'health',
  timeoutMs: 2000,
});
let acks = 0;
const transport: LineTransport = {
  name: real.name,
  unsignedAsInteger: real.unsignedAsInteger,
  async send(body, target, signal) {
    await real.send(body, target, signal);
    if (opts.killAfterAcks !== undefined && ++acks >= opts.killAfterAcks) process.kill(process.pid, 'SIGKILL');
  },
  close: () => real.close(),
};
const writer = new InfluxWriter({
  transport,
  clock: systemClock,
  logger: createLogger({ level: 'info' }),
  batchSize: opts.batchSize ?? 1000,
  flushIntervalMs: opts.flushIntervalMs ?? 50,
  spoolDir: opts.spoolDir,
  minRetryDelayMs: 50,
  maxRetryDelayMs: 200,
});
await writer.start();
let reporting = true;
const report = (async () => {
  while (reporting) {
    process.stdout.write(`${JSON.stringify(writer.stats())}\n`);
    await sleep(20);
  }
})();
const point = (i: number) => ({
  measurement: 'crash',
  tags: { ip: '127.0.6.1' },
  fields: { seq: field.int(i) },
  timeMs: opts.baseMs + i,
});
if (opts.rate !== undefined) {
  // Steady rate in 20 ms slices, paced from the start time so it does not drift.
  const t0 = Date.now();
  for (let slice = 1, i = opts.from; ; slice++) {
    for (const due = opts.from + Math.floor((opts.rate * slice) / 50); i < due; i++) writer.write(point(i));
    await sleep(Math.max(0, t0 + slice * 20 - Date.now()));
  }
}
for (let i = opts.from; i < opts.from + opts.count; i++) {
  writer.write(point(i));
  if (i % 1000 === 999) await sleep(1);
}
writer.flush();
if (opts.exitWhenDrained) {
  for (;;) {
    const s = writer.stats();
    if (s.spoolPoints === 0 && s.queueDepth === 0 && s.inFlightPoints === 0) break;
    await sleep(20);
  }
  await writer.close(5000);
  writer.checkBooks();
  reporting = false;
  await report;
  process.stdout.write(`${JSON.stringify(writer.stats())}\n`);
} else {
  // Runs until killed: the report loop keeps the process alive.
  await report;
}
