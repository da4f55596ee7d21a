// Child process for engine-netns.test.ts: runs one scenario against the real native socket inside
// the namespace the test created, and prints one JSON line with what it observed.
import { spawnSync } from 'node:child_process';
import { systemClock } from '../../clock/clock.js';
import { hasCode } from '../../errors/errors.js';
import type { PingOutcome } from '../../model/ping.js';
import { Sweeper } from '../../sweep/sweeper.js';
import { EchoResponder } from '../../testkit/echo-responder.js';
import { IcmpEngine } from '../engine.js';
import type { IcmpFamily, IcmpSocketMode } from '../icmp-socket.js';
import { openNativeIcmpSocket } from '../native-socket.js';
import { IcmpSocketOpener } from '../open.js';

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
        { delayMs: 0, tweaks: { flipPayloadByte: 40 } },
        { delayMs: 0, tweaks: { truncatePayloadTo: 16 } },
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

/**
 * Two raw engines of one family side by side (the sweep's and the probe thread's, or two shards):
 * `busy` pings 300 hosts, `quiet` one. Every raw socket is handed a copy of every echo reply; with
 * the nonce filter `quiet` never reads busy's.
 */
async function twoEngines(): Promise<unknown> {
  localUla();
  const out: Record<string, unknown> = {};
  for (const family of ['ipv4', 'ipv6'] as const) {
    const busy = new IcmpEngine({ family, mode: 'raw' });
    const quiet = new IcmpEngine({ family, mode: 'raw' });
    await busy.start();
    await quiet.start();
    const targets = Array.from({ length: 300 }, (_, i) =>
      family === 'ipv4' ? `127.0.${20 + Math.floor(i / 250)}.${(i % 250) + 1}` : `fd00:1::${(i + 1).toString(16)}`,
    );
    const outcomes = await Promise.all(targets.map((ip) => busy.ping(ip, { timeoutMs: 2000 })));
    const own = await quiet.ping(family === 'ipv4' ? '127.0.0.1' : '::1', { timeoutMs: 2000 });
    await systemClock.sleep(100);
    const b = busy.stats();
    const q = quiet.stats();
    await busy.stop();
    await quiet.stop();
    out[family] = {
      busyOk: outcomes.filter((o) => o.ok).length,
      busyForeign: b.foreign,
      quietOk: own.ok,
      quietReplies: q.replies,
      quietForeign: q.foreign,
    };
  }
  return out;
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
  const stats = engine.stats();
  await engine.stop();
  responder.stop();
  return { rtts, diffs, medianDiffMs: median(diffs), minDiffMs: Math.min(...diffs), medianRttMs: median(rtts), stats };
}

async function loss(): Promise<unknown> {
  const engine = new IcmpEngine();
  await engine.start();
  const outcomes: PingOutcome[] = [];
  const pings: Array<Promise<void>> = [];
  for (let i = 1; i <= 400; i++)
    pings.push(
      engine.ping(`127.0.4.${(i % 250) + 1}`, { timeoutMs: 300 }).then((o) => {
        outcomes.push(o);
      }),
    );
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
  const count = (o: PingOutcome): void => {
    if (o.ok) ok++;
    else failed++;
  };
  const batch = 10_000;
  // 90,000 pings in batches with full collections forced between and in the middle of batches.
  for (let b = 0; b < 9; b++) {
    const pending: Array<Promise<void>> = [];
    for (let i = 0; i < batch; i++) {
      const n = b * batch + i;
      pending.push(engine.ping(`127.6.${(n >> 8) & 255}.${n & 255 || 1}`, { timeoutMs: 2000 }).then(count));
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
      orphan.ping(`127.7.${(i >> 8) & 255}.${i & 255 || 1}`, { timeoutMs: 2000 }).then(count),
    );
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
  const opener = new IcmpSocketOpener({ mode: 'raw', open: openNativeIcmpSocket });
  const engine = new IcmpEngine({ openSocket: opener.open });
  try {
    await engine.start();
    await engine.stop();
    return { started: true };
  } catch (err) {
    return { started: false, permissionError: hasCode(err, 'ERR_ICMP_PERMISSION'), message: (err as Error).message };
  }
}

interface ModeResult {
  family: IcmpFamily;
  mode: IcmpSocketMode;
  ok: number;
  total: number;
  error?: string;
  code?: string;
  kernelStamps?: boolean;
  rttKernel?: number;
  rttUserspace?: number;
  invalid?: number;
  maxRttMs?: number;
  ips?: string[];
}

/** Pings loopback and ULA targets through one engine of `family` and `mode`. */
async function pingAll(family: IcmpFamily, mode: IcmpSocketMode): Promise<ModeResult> {
  const targets =
    family === 'ipv4'
      ? Array.from({ length: 200 }, (_, i) => `127.0.${8 + (i >> 8)}.${i & 255 || 1}`)
      : ['::1', ...Array.from({ length: 199 }, (_, i) => `fd00:1::${(i + 1).toString(16)}`)];
  const engine = new IcmpEngine({ family, mode });
  try {
    await engine.start();
  } catch (err) {
    return {
      family,
      mode,
      ok: 0,
      total: targets.length,
      error: (err as Error).message,
      code: (err as { code?: string }).code,
    };
  }
  const outcomes = await Promise.all(targets.map((ip) => engine.ping(ip, { timeoutMs: 2000 })));
  const st = engine.stats();
  await engine.stop();
  return {
    family,
    mode,
    ok: outcomes.filter((o) => o.ok).length,
    total: targets.length,
    kernelStamps: st.kernelStamps,
    rttKernel: st.rttKernel,
    rttUserspace: st.rttUserspace,
    invalid: st.invalid,
    maxRttMs: Math.max(...outcomes.map((o) => (o.ok ? o.rttMs : 0))),
    ips: outcomes.slice(0, 2).map((o) => o.ip),
  };
}

const combos: Array<[IcmpFamily, IcmpSocketMode]> = [
  ['ipv4', 'raw'],
  ['ipv6', 'raw'],
  ['ipv4', 'dgram'],
  ['ipv6', 'dgram'],
];

/** Every family and mode as root; with `drop`, then again as uid/gid 65534 (no capabilities). */
/** A ULA prefix routed to loopback: every address in it answers echo, inside this namespace only. */
function localUla(): void {
  const route = spawnSync('ip', ['-6', 'route', 'add', 'local', 'fd00:1::/64', 'dev', 'lo'], { encoding: 'utf8' });
  if (route.status !== 0) throw new Error(`ip -6 route add failed: ${route.stderr}`);
}

async function modes(): Promise<unknown> {
  localUla();
  const asRoot: ModeResult[] = [];
  for (const [family, mode] of combos) asRoot.push(await pingAll(family, mode));
  if (process.argv[3] !== 'drop') return { asRoot };
  // setuid(2) from root to another user clears every capability (capabilities(7), no keep-caps).
  process.setgroups!([]);
  process.setgid!(65534);
  process.setuid!(65534);
  const asNobody: ModeResult[] = [];
  for (const [family, mode] of combos) asNobody.push(await pingAll(family, mode));
  return { asRoot, asNobody, uid: process.getuid!() };
}

/** Enough pings through one datagram engine to rotate its identifier (a new socket) at least once. */
async function dgramRotation(): Promise<unknown> {
  const engine = new IcmpEngine({ family: 'ipv4', mode: 'dgram', maxInFlight: 4096 });
  await engine.start();
  const firstId = engine.identifier;
  let ok = 0;
  let failed = 0;
  const total = 70_000;
  for (let b = 0; b < total; b += 10_000) {
    const outcomes = await Promise.all(
      Array.from({ length: 10_000 }, (_, i) =>
        engine.ping(`127.10.${(i >> 8) & 255}.${i & 255 || 1}`, { timeoutMs: 2000 }),
      ),
    );
    for (const o of outcomes)
      if (o.ok) ok++;
      else failed++;
  }
  const stats = engine.stats();
  const lastId = engine.identifier;
  await engine.stop();
  return { ok, failed, total, firstId, lastId, stats };
}

const scenarios: Record<string, () => Promise<unknown>> = {
  aliveAndDead,
  forged,
  twoEngines,
  rtt,
  loss,
  gcSurvival,
  permission,
  modes,
  dgramRotation,
};
const run = scenario ? scenarios[scenario] : undefined;
if (!run) {
  console.error(`unknown scenario ${String(scenario)}; one of ${Object.keys(scenarios).join(', ')}`);
  process.exit(2);
}
run().then(
  // exit explicitly: an engine left running on purpose keeps its socket (and the loop) alive.
  (result) => {
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
