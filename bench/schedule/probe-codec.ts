// What the probe thread's results cost to move between threads: `node --import tsx bench/schedule/probe-codec.ts [--json]`.
//
// One second of 20k pings/s (each: a `ping` point, a probed outcome and a breaker success, as the
// scheduler makes them) in 200 batches of 100 pings (the 5 ms batch window), through a real
// MessageChannel, as
//   objects   an array of plain objects per batch ({kind, point} / {kind, outcome} / {kind, ip}),
//             structured-cloned;
//   encoded   the ResultEncoder batch (one Float64Array, transferred, plus the strings first seen),
//             decoded into the same Points and outcomes on the receiving side.
// Reported: CPU ms per second of pinging on the sending side (the probe thread) and on the
// receiving side (the main thread: deserialise + decode), median of 7 rounds.
import { MessageChannel } from 'node:worker_threads';
import type { PingOutcome } from '../../internal/model/ping.js';
import type { Point } from '../../internal/model/point.js';
import { pingPoint } from '../../internal/model/points.js';
import {
  ResultDecoder,
  ResultEncoder,
  type ResultBatch,
  type ResultHandler,
} from '../../internal/schedule/probe-codec.js';

const json = process.argv.includes('--json');
const PINGS_PER_S = 20_000;
const BATCH = 100;
const ROUNDS = 7;
const ipOf = (i: number): string => `127.0.${(i >> 8) & 255}.${i & 255}`;

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function outcomes(round: number): PingOutcome[] {
  const now = 1_700_000_000_000 + round * 1000;
  return Array.from({ length: PINGS_PER_S }, (_, i) => ({
    ok: true as const,
    ip: ipOf(i),
    rttMs: 0.05 + (i % 7) / 100,
    sentAtMs: now + i / 20,
  }));
}

interface Side {
  sendMs: number;
  receiveMs: number;
  received: number;
}

async function run(kind: 'objects' | 'encoded', round: number, enc: ResultEncoder, dec: ResultDecoder): Promise<Side> {
  const { port1, port2 } = new MessageChannel();
  const os = outcomes(round);
  let received = 0;
  const points: Point[] = [];
  const h: ResultHandler = {
    point: (p) => points.push(p),
    probed: () => received++,
    suspended: () => undefined,
    removed: () => undefined,
    breakerSuccess: () => undefined,
    breakerFailure: () => undefined,
    log: () => undefined,
  };
  const batches = PINGS_PER_S / BATCH;
  let got = 0;
  const done = new Promise<void>((resolve) => {
    port2.on('message', (m: unknown) => {
      if (kind === 'encoded') dec.decode(m as ResultBatch, h);
      else for (const r of m as Array<{ kind: string }>) if (r.kind === 'probed') received++;
      if (++got === batches) resolve();
    });
  });
  const t0 = cpuMs();
  for (let b = 0; b < batches; b++) {
    const slice = os.slice(b * BATCH, (b + 1) * BATCH);
    if (kind === 'encoded') {
      for (const o of slice) {
        enc.point(pingPoint(o, { timeMs: o.sentAtMs }));
        enc.probed(o);
        enc.breakerSuccess(o.ip);
      }
      const batch = enc.take()!;
      port1.postMessage(batch, [batch.nums.buffer as ArrayBuffer]);
    } else {
      const records: unknown[] = [];
      for (const o of slice)
        records.push(
          { kind: 'point', point: pingPoint(o, { timeMs: o.sentAtMs }) },
          { kind: 'probed', outcome: o },
          { kind: 'ok', ip: o.ip },
        );
      port1.postMessage(records);
    }
  }
  const t1 = cpuMs();
  await done;
  const t2 = cpuMs();
  port1.close();
  return { sendMs: t1 - t0, receiveMs: t2 - t1, received };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const out: Record<string, { send_cpu_ms_per_s: number; receive_cpu_ms_per_s: number }> = {};
for (const kind of ['objects', 'encoded'] as const) {
  const enc = new ResultEncoder();
  const dec = new ResultDecoder();
  const sends: number[] = [];
  const receives: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const s = await run(kind, r, enc, dec);
    if (s.received !== PINGS_PER_S) throw new Error(`${kind}: received ${s.received} of ${PINGS_PER_S}`);
    // The first round warms up (JIT; for `encoded`, the string table fills).
    if (r > 0) {
      sends.push(s.sendMs);
      receives.push(s.receiveMs);
    }
  }
  out[kind] = {
    send_cpu_ms_per_s: Math.round(median(sends) * 10) / 10,
    receive_cpu_ms_per_s: Math.round(median(receives) * 10) / 10,
  };
}
if (json) console.log(JSON.stringify(out));
else
  for (const [k, v] of Object.entries(out))
    console.log(
      `${k.padEnd(8)} 20k pings/s in batches of ${BATCH}: probe thread ${v.send_cpu_ms_per_s} ms CPU/s, main thread ${v.receive_cpu_ms_per_s} ms CPU/s`,
    );
