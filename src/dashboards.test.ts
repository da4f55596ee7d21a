import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  pingPoint,
  suspendedPingPoint,
  deviceInfoPoint,
  healthPoint,
  pingSummaryPoint,
} from '../internal/model/points.js';
import type { Point } from '../internal/model/point.js';
import type { WriterStats } from '../internal/writer/influx-writer.js';

// Every measurement/field a dashboard panel queries must be one the agent writes: build one
// point of every kind with every optional field present and compare.
const dir = new URL('../deploy/grafana/flux/', import.meta.url);

function writtenSchema(): Map<string, Set<string>> {
  const writer = {
    pointsReceived: 0,
    pointsWritten: 0,
    pointsDropped: 0,
    droppedByReason: {},
    pointsSpooled: 0,
    spoolPoints: 0,
    spoolBytes: 0,
    queueDepth: 0,
    inFlightPoints: 0,
    batchesOk: 0,
    batchesFailed: 0,
    writeErrors: { retry: 0, throttle: 0, split: 0, drop: 0, config: 0 },
    lastError: undefined,
    lastErrorMs: 0,
    lastSuccessMs: 0,
    state: 'writing',
  } as unknown as WriterStats;
  const points: Point[] = [
    pingPoint({ ok: true, ip: '127.0.0.1', rttMs: 0.1, sentAtMs: 0 }, { timeMs: 0 }),
    pingPoint({ ok: false, ip: '127.0.0.1', reason: 'timeout', sentAtMs: 0 }, { timeMs: 0 }),
    suspendedPingPoint('127.0.0.1', 0),
    pingSummaryPoint('127.0.0.1', {
      windowStartMs: 0,
      sent: 2,
      received: 2,
      overloaded: 0,
      suspendedTicks: 0,
      missedSlots: 0,
      skippedTicks: 0,
      lossPct: 0,
      rttMinMs: 1,
      rttAvgMs: 1,
      rttMaxMs: 1,
      rttP50Ms: 1,
      rttP95Ms: 1,
      rttStddevMs: 0,
      jitterMs: 0,
    } as Parameters<typeof pingSummaryPoint>[1]),
    deviceInfoPoint(
      '127.0.0.1',
      { hostname: 'h', sysDescr: 'd', sysObjectId: '1.3', sysLocation: 'l', sysContact: 'c', sysUptimeS: 5 },
      0,
    ),
    healthPoint(
      {
        deviceCount: 1,
        activePingers: 0,
        suspendedDevices: 0,
        goroutines: 1,
        memoryMb: 1,
        rssMb: 1,
        influxdbOk: true,
        pingsSentTotal: 1,
        writer,
        extra: {
          agent_overloaded: 0,
          agent_errors: 0,
          event_loop_delay_p99_ms: 1,
          unmonitored_devices: 0,
          snmp_suspended_devices: 0,
          effective_ping_interval_ms: 1,
          skipped_ticks: 0,
          snmp_enriched_devices: 0,
          missed_slots: 0,
          late_sends: 0,
          send_lag_p99_ms: 1,
          send_lag_max_ms: 1,
        },
      },
      0,
    ),
  ];
  const schema = new Map<string, Set<string>>();
  for (const p of points) {
    const set = schema.get(p.measurement) ?? new Set<string>();
    for (const f of Object.keys(p.fields)) set.add(f);
    for (const t of Object.keys(p.tags)) set.add(`tag:${t}`);
    schema.set(p.measurement, set);
  }
  return schema;
}

function queries(): Array<{ file: string; panel: string; query: string }> {
  const out: Array<{ file: string; panel: string; query: string }> = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const dash = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ query: string }> }>;
    };
    for (const p of dash.panels) for (const t of p.targets) out.push({ file, panel: p.title, query: t.query });
  }
  return out;
}

test('every measurement, field and tag a dashboard queries is one the agent writes', () => {
  const schema = writtenSchema();
  const problems: string[] = [];
  const all = queries();
  assert.ok(all.length >= 25, `found ${all.length} queries`);
  for (const { file, panel, query } of all) {
    // A query may read several measurements (joins); pair each field test with the measurements it names.
    const ms = [...query.matchAll(/r\._measurement == "([^"]+)"/g)].map((m) => m[1] as string);
    const fields = [...query.matchAll(/r\._field == "([^"]+)"/g)].map((m) => m[1] as string);
    // Outside a pivot, `r.name` is a tag column; after a pivot, fields become columns too.
    const pivoted = query.includes('pivot(');
    const defined = new Set([...query.matchAll(/\b([a-z][a-z_0-9]*):/g)].map((m) => m[1] as string));
    const columns = [...query.matchAll(/\br\.([a-z][a-z_0-9]*)\b/g)]
      .map((m) => m[1] as string)
      .filter((c) => !defined.has(c));
    if (ms.length === 0) problems.push(`${file} "${panel}": queries no measurement`);
    for (const m of ms) if (!schema.has(m)) problems.push(`${file} "${panel}": measurement ${m} is never written`);
    for (const f of fields)
      if (!ms.some((m) => schema.get(m)?.has(f)))
        problems.push(`${file} "${panel}": field ${f} is not written in ${ms.join('/')}`);
    for (const c of columns) {
      const known = ms.some((m) => schema.get(m)?.has(`tag:${c}`) || (pivoted && schema.get(m)?.has(c)));
      if (!known)
        problems.push(`${file} "${panel}": r.${c} is not a ${pivoted ? 'tag or field' : 'tag'} of ${ms.join('/')}`);
    }
  }
  assert.deepEqual(problems, []);
});

test('bucket names are dashboard variables, never hard-coded', () => {
  for (const { file, panel, query } of queries()) {
    for (const m of query.matchAll(/from\(bucket: "([^"]+)"\)/g)) {
      assert.match(m[1] as string, /^\$\{(bucket|health_bucket)\}$/, `${file} "${panel}"`);
    }
  }
});
