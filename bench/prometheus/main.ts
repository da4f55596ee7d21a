// Per-device Prometheus series at scale: `npm run bench -- prometheus [--json] [--n 1000,20000] [--renders 20]`.
// Feeds DeviceSeries (what prometheus.per_device turns on) with n named devices, 30 probes each
// (one in ten failing), then times render() (what one /metrics scrape adds) and reports series per
// device, scrape bytes (plain and gzip) and the CPU share of a 15 s scrape interval. Baseline in
// the same run: the same series held in prom-client labelled metrics and rendered by its registry.
import { gzipSync } from 'node:zlib';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { deviceRttBucketsS } from '../../internal/health/device-metrics.js';
import { DeviceSeries } from '../../internal/health/device-series.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const sizes = (argValue('--n') ?? '1000,20000').split(',').map(Number);
const renders = Number(argValue('--renders') ?? 20);
const PROBES = 30;

const ipOf = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const nameOf = (i: number): string => `sw-${String(i).padStart(6, '0')}.site${i % 40}`;
const rttOf = (i: number, k: number): number => 0.2 + ((i * 7 + k * 13) % 400) / 10;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function time(fn: () => string | Promise<string>): Promise<{ ms: number; text: string }> {
  let text = await fn();
  const ms: number[] = [];
  for (let r = 0; r < renders; r++) {
    const t0 = process.hrtime.bigint();
    text = await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { ms: median(ms), text };
}

const devices = (n: number): DeviceSeries => {
  const series = new DeviceSeries({
    devices: {
      get: (ip) => {
        const i = Number(
          ip
            .split('.')
            .slice(1)
            .reduce((a, b) => a * 256 + Number(b), 0),
        );
        return {
          ip,
          hostname: nameOf(i),
          snmp: {
            sysName: nameOf(i),
            sysDescr: '',
            sysObjectId: '',
            sysLocation: '',
            sysContact: '',
            sysUptimeS: 1,
            credentialId: 'c',
          },
          firstSeenMs: 0,
          lastSeenMs: 0,
          lastSnmpMs: 0,
          ping: { consecutiveFails: 0, suspendedUntilMs: 0 },
          snmpBreaker: { consecutiveFails: 0, suspendedUntilMs: 0 },
        };
      },
    },
  });
  for (let k = 0; k < PROBES; k++) {
    for (let i = 0; i < n; i++) {
      const ip = ipOf(i);
      series.probed(
        (i + k) % 10 === 0
          ? { ok: false, ip, reason: 'timeout', sentAtMs: 0 }
          : { ok: true, ip, rttMs: rttOf(i, k), sentAtMs: 0 },
      );
    }
  }
  return series;
};

function promClient(n: number): Registry {
  const registry = new Registry();
  const labelNames = ['ip', 'name'];
  const up = new Gauge({ name: 'netscan_device_up', help: 'up', labelNames, registers: [registry] });
  const sent = new Counter({
    name: 'netscan_device_pings_sent_total',
    help: 'sent',
    labelNames,
    registers: [registry],
  });
  const received = new Counter({
    name: 'netscan_device_pings_received_total',
    help: 'received',
    labelNames,
    registers: [registry],
  });
  const rtt = new Histogram({
    name: 'netscan_device_rtt_seconds',
    help: 'rtt',
    labelNames,
    buckets: [...deviceRttBucketsS],
    registers: [registry],
  });
  const info = new Gauge({ name: 'netscan_device_info', help: 'info', labelNames, registers: [registry] });
  for (let i = 0; i < n; i++) {
    const l = { ip: ipOf(i), name: nameOf(i) };
    info.set(l, 1);
    for (let k = 0; k < PROBES; k++) {
      sent.inc(l);
      if ((i + k) % 10 === 0) {
        up.set(l, 0);
      } else {
        up.set(l, 1);
        received.inc(l);
        rtt.observe(l, rttOf(i, k) / 1000);
      }
    }
  }
  return registry;
}

for (const n of sizes) {
  const t0 = process.hrtime.bigint();
  const series = devices(n);
  const feedNsPerProbe = Number(process.hrtime.bigint() - t0) / (n * PROBES);
  const ours = await time(() => series.render());
  const registry = promClient(n);
  const base = await time(() => registry.metrics());
  const samples = ours.text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const bytes = Buffer.byteLength(ours.text);
  const result = {
    devices: n,
    series_per_device: samples / n,
    samples,
    scrape_bytes: bytes,
    bytes_per_device: Math.round(bytes / n),
    scrape_gzip_bytes: gzipSync(ours.text).length,
    render_ms: Number(ours.ms.toFixed(1)),
    cpu_pct_at_15s: Number(((100 * ours.ms) / 15_000).toFixed(3)),
    feed_ns_per_probe: Math.round(feedNsPerProbe),
    baseline_prom_client_render_ms: Number(base.ms.toFixed(1)),
    baseline_prom_client_bytes: Buffer.byteLength(base.text),
  };
  if (json) console.log(JSON.stringify(result));
  else {
    console.log(
      `${n} devices: ${result.series_per_device} series/device (${samples} samples), scrape ${(bytes / 1e6).toFixed(2)} MB ` +
        `(${(result.scrape_gzip_bytes / 1e6).toFixed(2)} MB gzip), render ${result.render_ms} ms (prom-client baseline ${result.baseline_prom_client_render_ms} ms), ` +
        `${result.cpu_pct_at_15s}% of one core at a 15 s scrape, ${result.feed_ns_per_probe} ns per probe recorded`,
    );
  }
}
