// Child process for engine-netns.test.ts: runs one scenario against the real raw socket inside
// the namespace the test created, and prints one JSON line with what it observed.
import { systemClock } from '../../clock/clock.js';
import { hasCode } from '../../errors/errors.js';
import type { PingOutcome } from '../../model/ping.js';
import { Sweeper } from '../../sweep/sweeper.js';
import { EchoResponder } from '../../testkit/echo-responder.js';
import { IcmpEngine } from '../engine.js';

const scenario = process.argv[2];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function aliveAndDead(): Promise<unknown> {
  const engine = new IcmpEngine();
  await engine.start();
  const alive: string[] = [];
  const sweeper = new Sweeper({ pinger: engine, ratePps: 20_000, maxInFlight: 256, timeoutMs: 300, retries: 1 });
  const summary = await sweeper.sweep({ cidrs: ['127.0.3.0/24'] }, (h) => alive.push(h.ip));
  const rejected = await engine.ping('127.0.3.200', { timeoutMs: 300 });
  const dropped = await engine.ping('127.0.3.10', { timeoutMs: 300 });
  const stats = engine.stats();
  await engine.stop();
  return { alive, summary, rejected, dropped, stats };
}

async function forged(): Promise<unknown> {
  // Request 0 (to 127.0.0.5) gets only forgeries and one reply after its timeout; request 1 (to
  // 127.0.0.6) gets the same forgeries and then the genuine reply.
  const responder = new EchoResponder({
    plan: (req) => {
      const forgeries = [
        { delayMs: 0, tweaks: { id: req.id ^ 0x0101 } },
        { delayMs: 0, tweaks: { seq: (req.seq + 1) & 0xffff } },
        { delayMs: 0, source: '127.0.0.99' },
        { delayMs: 0, tweaks: { corruptTag: 0x40 } },
        { delayMs: 0, tweaks: { corruptNonce: 0x01 } },
      ];
      return req.dst === '127.0.0.5' ? [...forgeries, { delayMs: 400 }] : [...forgeries, { delayMs: 20 }];
    },
  });
  responder.start();
  const engine = new IcmpEngine();
  await engine.start();
  const silent = await engine.ping('127.0.0.5', { timeoutMs: 200 });
  const answered = await engine.ping('127.0.0.6', { timeoutMs: 1000 });
  await systemClock.sleep(300);
  const stats = engine.stats();
  await engine.stop();
  responder.stop();
  return { silent, answered, stats, repliesSent: responder.replies.length };
}

async function rtt(): Promise<unknown> {
  const delayMs = Number(process.argv[3] ?? 5);
  const responder = new EchoResponder({ plan: () => [{ delayMs }] });
  responder.start();
  const engine = new IcmpEngine();
  await engine.start();
  const diffs: number[] = [];
  const rtts: number[] = [];
  for (let i = 0; i < 20; i++) {
    const o = await engine.ping('127.0.0.7', { timeoutMs: 1000 });
    if (!o.ok) throw new Error(`ping ${i} failed: ${o.reason}`);
    rtts.push(o.rttMs);
    diffs.push(o.rttMs - responder.replies[i]!.heldMs);
  }
  await engine.stop();
  responder.stop();
  return { rtts, diffs, medianDiffMs: median(diffs), minDiffMs: Math.min(...diffs), medianRttMs: median(rtts) };
}

async function loss(): Promise<unknown> {
  const engine = new IcmpEngine();
  await engine.start();
  const outcomes: PingOutcome[] = [];
  const pings: Array<Promise<void>> = [];
  for (let i = 1; i <= 400; i++) pings.push(engine.ping(`127.0.4.${i % 250 + 1}`, { timeoutMs: 300 }).then((o) => { outcomes.push(o); }));
  await Promise.all(pings);
  const okOnce = outcomes.filter((o) => o.ok).length;
  const alive: string[] = [];
  const sweeper = new Sweeper({ pinger: engine, ratePps: 20_000, maxInFlight: 256, timeoutMs: 200, retries: 10 });
  const summary = await sweeper.sweep({ cidrs: ['127.0.5.0/24'] }, (h) => alive.push(h.ip));
  await engine.stop();
  return { okOnce, total: outcomes.length, aliveWithRetries: alive.length, summary };
}

async function gcSurvival(): Promise<unknown> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const engine = new IcmpEngine({ maxInFlight: 4096 });
  await engine.start();
  let ok = 0;
  let failed = 0;
  const count = (o: PingOutcome): void => { if (o.ok) ok++; else failed++; };
  const batch = 10_000;
  // 90,000 pings in batches with full collections forced between and in the middle of batches.
  for (let b = 0; b < 9; b++) {
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < batch; i++) {
      const n = b * batch + i;
      pending.push(engine.ping(`127.6.${(n >> 8) & 255}.${(n & 255) || 1}`, { timeoutMs: 2000 }).then(count));
      if (i === batch / 2) gc();
    }
    gc();
    await Promise.all(pending);
    gc();
  }
  const heapUsedMb = process.memoryUsage().heapUsed / 1e6;
  const stats = engine.stats();
  await engine.stop();
  // 10,000 more on an engine nobody references (net-ping's sessions were collected with pings pending).
  const fireAndForget = async (): Promise<{ pending: Array<Promise<void>>; ref: WeakRef<IcmpEngine> }> => {
    const orphan = new IcmpEngine({ maxInFlight: 4096 });
    await orphan.start();
    const pending = Array.from({ length: batch }, (_, i) =>
      orphan.ping(`127.7.${(i >> 8) & 255}.${(i & 255) || 1}`, { timeoutMs: 2000 }).then(count));
    return { pending, ref: new WeakRef(orphan) };
  };
  const { pending, ref } = await fireAndForget();
  gc();
  const aliveAfterGc = ref.deref() !== undefined;
  await Promise.all(pending);
  await ref.deref()?.stop();
  return { ok, failed, heapUsedMb, stats, aliveAfterGc };
}

async function permission(): Promise<unknown> {
  const engine = new IcmpEngine();
  try {
    await engine.start();
    await engine.stop();
    return { started: true };
  } catch (err) {
    return { started: false, permissionError: hasCode(err, 'ERR_ICMP_PERMISSION'), message: (err as Error).message };
  }
}

const scenarios: Record<string, () => Promise<unknown>> = { aliveAndDead, forged, rtt, loss, gcSurvival, permission };
const run = scenario ? scenarios[scenario] : undefined;
if (!run) {
  console.error(`unknown scenario ${String(scenario)}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
run().then(
  // exit explicitly: an engine left running on purpose keeps its socket (and the loop) alive.
  (result) => { console.log(JSON.stringify(result)); process.exit(0); },
  (err: unknown) => { console.error(err); process.exit(1); },
);
