#!/usr/bin/env node
// Generates the Grafana dashboards in deploy/grafana/ (InfluxDB Flux datasource). Bucket names
// are dashboard variables (the Go dashboards hard-coded `netscan` and `health`).
// Run: node scripts/gen-dashboards.mjs   (src/dashboards.test.ts checks every queried field exists)
import { writeFileSync } from 'node:fs';

const ds = { type: 'influxdb', uid: '${datasource}' };
const bucketVars = [
  { name: 'datasource', type: 'datasource', query: 'influxdb', label: 'InfluxDB (Flux)' },
  { name: 'bucket', type: 'textbox', label: 'Data bucket', query: 'netscan', current: { value: 'netscan', text: 'netscan' } },
  { name: 'health_bucket', type: 'textbox', label: 'Health bucket', query: 'health', current: { value: 'health', text: 'health' } },
];

let nextId = 1;
function panel(type, title, grid, queries, extra = {}) {
  return {
    id: nextId++, type, title, datasource: ds, gridPos: grid,
    targets: queries.map((q, i) => ({ refId: String.fromCharCode(65 + i), datasource: ds, query: q.trim().replace(/^ {4}/gm, '') })),
    ...extra,
  };
}
const stat = (title, grid, q, unit = 'none', thresholds) => panel('stat', title, grid, [q], {
  fieldConfig: { defaults: { unit, ...(thresholds ? { thresholds: { mode: 'absolute', steps: thresholds } } : {}) }, overrides: [] },
  options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'value' },
});
const series = (title, grid, qs, unit = 'none') => panel('timeseries', title, grid, qs, { fieldConfig: { defaults: { unit }, overrides: [] } });
const table = (title, grid, q) => panel('table', title, grid, [q]);

const health = (field, fn = 'last') => `
    from(bucket: "\${health_bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "health_metrics" and r._field == "${field}")
      |> aggregateWindow(every: v.windowPeriod, fn: ${fn}, createEmpty: false)`;
const healthRate = (field) => `
    from(bucket: "\${health_bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "health_metrics" and r._field == "${field}")
      |> derivative(unit: 1s, nonNegative: true)
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)`;
const red = (v) => [{ color: 'green', value: null }, { color: 'red', value: v }];

function dashboard(uid, title, panels, extraVars = []) {
  nextId = 1;
  return {
    uid, title, tags: ['netscan'], timezone: 'browser', schemaVersion: 39, version: 1, refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [...bucketVars, ...extraVars] },
    panels: panels(),
  };
}

const fleet = dashboard('netscan-fleet', 'netscan — fleet overview', () => [
  stat('Devices', { x: 0, y: 0, w: 4, h: 4 }, health('device_count')),
  stat('Devices up (last window)', { x: 4, y: 0, w: 4, h: 4 }, `
    from(bucket: "\${bucket}")
      |> range(start: -5m)
      |> filter(fn: (r) => r._measurement == "ping" and r._field == "success")
      |> last()
      |> filter(fn: (r) => r._value == true)
      |> group()
      |> count()`),
  stat('Devices down (last answer failed)', { x: 8, y: 0, w: 4, h: 4 }, `
    from(bucket: "\${bucket}")
      |> range(start: -5m)
      |> filter(fn: (r) => r._measurement == "ping" and r._field == "success")
      |> last()
      |> filter(fn: (r) => r._value == false)
      |> group()
      |> count()`, 'none', red(1)),
  stat('Suspended (circuit breaker)', { x: 12, y: 0, w: 4, h: 4 }, health('suspended_devices'), 'none', red(1)),
  stat('Fleet loss', { x: 16, y: 0, w: 4, h: 4 }, `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "loss_pct")
      |> group()
      |> mean()`, 'percent', [{ color: 'green', value: null }, { color: 'orange', value: 1 }, { color: 'red', value: 5 }]),
  stat('Agent overloaded probes', { x: 20, y: 0, w: 4, h: 4 }, health('agent_overloaded'), 'none', red(1)),
  series('Ping success rate', { x: 0, y: 4, w: 12, h: 8 }, [`
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and (r._field == "success" or r._field == "suspended"))
      |> pivot(rowKey: ["_time", "ip"], columnKey: ["_field"], valueColumn: "_value")
      |> filter(fn: (r) => not r.suspended)
      |> map(fn: (r) => ({ _time: r._time, _value: if r.success then 100.0 else 0.0 }))
      |> group()
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
      |> yield(name: "success_pct")`], 'percent'),
  series('RTT across the fleet (p50, p95 of per-device summaries)', { x: 12, y: 4, w: 12, h: 8 }, [`
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "rtt_p50_ms")
      |> group()
      |> aggregateWindow(every: v.windowPeriod, fn: median, createEmpty: false)
      |> yield(name: "p50")`, `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "rtt_p95_ms")
      |> group()
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
      |> yield(name: "p95")`], 'ms'),
  table('Worst devices by loss', { x: 0, y: 12, w: 12, h: 10 }, `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "loss_pct")
      |> group(columns: ["ip"])
      |> mean()
      |> group()
      |> sort(columns: ["_value"], desc: true)
      |> limit(n: 20)`),
  table('Devices without a name (no SNMP answer)', { x: 12, y: 12, w: 12, h: 10 }, `
    import "join"
    seen = from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and r._field == "success")
      |> keep(columns: ["ip"]) |> group() |> distinct(column: "ip")
    named = from(bucket: "\${bucket}")
      |> range(start: -30d)
      |> filter(fn: (r) => r._measurement == "device_info" and r._field == "hostname")
      |> keep(columns: ["ip"]) |> group() |> distinct(column: "ip")
    join.left(left: seen, right: named, on: (l, r) => l._value == r._value, as: (l, r) => ({ ip: l._value, named: exists r._value }))
      |> filter(fn: (r) => not r.named)`),
]);

const device = dashboard('netscan-device', 'netscan — device', () => [
  series('RTT', { x: 0, y: 0, w: 16, h: 8 }, [`
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and r.ip == "\${ip}" and r._field == "rtt_ms")
      |> filter(fn: (r) => r._value > 0.0)
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
      |> yield(name: "rtt_ms")`, `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r.ip == "\${ip}")
      |> filter(fn: (r) => r._field == "rtt_p50_ms" or r._field == "rtt_p95_ms" or r._field == "rtt_max_ms" or r._field == "jitter_ms")`], 'ms'),
  table('Identity (SNMP)', { x: 16, y: 0, w: 8, h: 8 }, `
    from(bucket: "\${bucket}")
      |> range(start: -30d)
      |> filter(fn: (r) => r._measurement == "device_info" and r.ip == "\${ip}")
      |> filter(fn: (r) => r._field == "hostname" or r._field == "snmp_description" or r._field == "sys_object_id" or r._field == "sys_location" or r._field == "sys_contact" or r._field == "sys_uptime_s")
      |> last()
      |> keep(columns: ["_field", "_value"])`),
  series('Loss', { x: 0, y: 8, w: 12, h: 8 }, [`
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r.ip == "\${ip}" and r._field == "loss_pct")`], 'percent'),
  series('Failures by reason', { x: 12, y: 8, w: 12, h: 8 }, [`
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and r.ip == "\${ip}" and r._field == "reason")
      |> map(fn: (r) => ({ _time: r._time, _field: r._value, _value: 1 }))
      |> group(columns: ["_field"])
      |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)`]),
  series('Sent / received per summary window', { x: 0, y: 16, w: 24, h: 6 }, [`
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r.ip == "\${ip}")
      |> filter(fn: (r) => r._field == "sent" or r._field == "received" or r._field == "overloaded" or r._field == "suspended_ticks")`]),
], [{
  name: 'ip', type: 'query', label: 'Device', datasource: ds, refresh: 2,
  query: 'import "influxdata/influxdb/schema"\nschema.tagValues(bucket: "${bucket}", tag: "ip", predicate: (r) => r._measurement == "ping", start: -1d)',
}]);

const agent = dashboard('netscan-agent', 'netscan — agent health', () => [
  stat('Output OK', { x: 0, y: 0, w: 4, h: 4 }, health('influxdb_ok'), 'bool_on_off'),
  stat('Queue depth', { x: 4, y: 0, w: 4, h: 4 }, health('queue_depth')),
  stat('Spool', { x: 8, y: 0, w: 4, h: 4 }, health('spool_bytes'), 'bytes'),
  stat('Points dropped (total)', { x: 12, y: 0, w: 4, h: 4 }, health('points_dropped'), 'none', red(1)),
  stat('Agent overloaded (total)', { x: 16, y: 0, w: 4, h: 4 }, health('agent_overloaded'), 'none', red(1)),
  stat('Effective ping interval', { x: 20, y: 0, w: 4, h: 4 }, health('effective_ping_interval_ms'), 'ms'),
  series('Pings sent per second', { x: 0, y: 4, w: 12, h: 8 }, [healthRate('pings_sent_total')], 'pps'),
  series('Points written / spooled / dropped per second', { x: 12, y: 4, w: 12, h: 8 }, [
    healthRate('points_written'), healthRate('points_spooled'), healthRate('points_dropped')]),
  series('Event-loop delay p99', { x: 0, y: 12, w: 12, h: 8 }, [health('event_loop_delay_p99_ms', 'max')], 'ms'),
  series('Probes the agent could not judge per second (stall, ICMP socket failure)', { x: 0, y: 28, w: 12, h: 8 }, [
    healthRate('agent_overloaded'), healthRate('agent_errors')]),
  series('Write errors by class per second', { x: 12, y: 12, w: 12, h: 8 }, [
    healthRate('write_errors_retry'), healthRate('write_errors_throttle'), healthRate('write_errors_split'),
    healthRate('write_errors_drop'), healthRate('write_errors_config')]),
  series('Memory', { x: 0, y: 20, w: 12, h: 8 }, [health('memory_mb', 'max'), health('rss_mb', 'max')], 'decmbytes'),
  series('Probes in flight and devices', { x: 12, y: 20, w: 12, h: 8 }, [health('active_pingers', 'mean'), health('device_count'), health('unmonitored_devices'), health('snmp_suspended_devices')]),
]);

for (const d of [fleet, device, agent]) {
  writeFileSync(new URL(`../deploy/grafana/${d.uid}.json`, import.meta.url), `${JSON.stringify(d, null, 2)}\n`);
}
console.log('wrote deploy/grafana/netscan-fleet.json, netscan-device.json, netscan-agent.json');
