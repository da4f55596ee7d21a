#!/usr/bin/env node
// Generates the Grafana dashboards in deploy/grafana/<backend>/ from one description: each panel
// is written once with its query in every language it ships in, so the sets stay in step.
//   flux/      InfluxDB 2.x (Flux)
//   influxql/  InfluxDB 1.x, 2.x through its DBRP mapping, 3.x (InfluxQL)
//   promql/    Prometheus or VictoriaMetrics scraping /metrics (per-device series need prometheus.per_device)
// Datasources are import inputs (`__inputs`), so Grafana asks for one on import. Queries are raw
// text, never builder queries, so src/dashboards*.test.ts can run them against real servers.
// Run: node scripts/gen-dashboards.mjs
import { mkdirSync, writeFileSync } from 'node:fs';

const backends = {
  flux: { pluginId: 'influxdb', pluginName: 'InfluxDB', label: 'InfluxDB (Flux)' },
  influxql: { pluginId: 'influxdb', pluginName: 'InfluxDB', label: 'InfluxDB (InfluxQL)' },
  promql: { pluginId: 'prometheus', pluginName: 'Prometheus', label: 'Prometheus' },
};
const ds = { uid: '${DS_NETSCAN}' };

// Names of the data and health databases/buckets are variables (the Go dashboards hard-coded them).
const vars = {
  flux: [
    {
      name: 'bucket',
      type: 'textbox',
      label: 'Data bucket',
      query: 'netscan',
      current: { value: 'netscan', text: 'netscan' },
    },
    {
      name: 'health_bucket',
      type: 'textbox',
      label: 'Health bucket',
      query: 'health',
      current: { value: 'health', text: 'health' },
    },
  ],
  influxql: [
    {
      name: 'database',
      type: 'textbox',
      label: 'Data database',
      query: 'netscan',
      current: { value: 'netscan', text: 'netscan' },
    },
    {
      name: 'health_database',
      type: 'textbox',
      label: 'Health database',
      query: 'health',
      current: { value: 'health', text: 'health' },
    },
  ],
  promql: [
    {
      name: 'job',
      type: 'query',
      label: 'Job',
      datasource: ds,
      refresh: 2,
      query: 'label_values(netscan_up, job)',
      definition: 'label_values(netscan_up, job)',
    },
  ],
};

// ---- query helpers per language --------------------------------------------------------------
const fx = {
  health: (field, fn = 'last') => `
    from(bucket: "\${health_bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "health_metrics" and r._field == "${field}")
      |> aggregateWindow(every: v.windowPeriod, fn: ${fn}, createEmpty: false)`,
  healthRate: (field) => `
    from(bucket: "\${health_bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "health_metrics" and r._field == "${field}")
      |> derivative(unit: 1s, nonNegative: true)
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)`,
};
const HEALTH = '"$health_database".."health_metrics"';
const DATA = (m) => `"$database".."${m}"`;
const iq = {
  health: (field, fn = 'last') =>
    `SELECT ${fn}("${field}") AS "${field}" FROM ${HEALTH} WHERE $timeFilter GROUP BY time($__interval) fill(none)`,
  healthLast: (field) => `SELECT last("${field}") AS "${field}" FROM ${HEALTH} WHERE $timeFilter`,
  healthRate: (field) =>
    `SELECT non_negative_derivative(last("${field}"), 1s) AS "${field}" FROM ${HEALTH} WHERE $timeFilter GROUP BY time($__interval) fill(none)`,
};
const pq = {
  rate: (metric, by = '') => `sum${by ? ` by (${by})` : ''}(rate(${metric}{job=~"$job"}[$__rate_interval]))`,
  gauge: (metric, fn = 'sum') => `${fn}(${metric}{job=~"$job"})`,
};

// ---- panels ------------------------------------------------------------------------------------
let nextId = 1;
function panel(type, title, grid, queries, extra = {}) {
  return { type, title, grid, queries, extra };
}
const red = (v) => [
  { color: 'green', value: null },
  { color: 'red', value: v },
];
const statExtra = (unit, thresholds) => ({
  fieldConfig: {
    defaults: { unit, ...(thresholds ? { thresholds: { mode: 'absolute', steps: thresholds } } : {}) },
    overrides: [],
  },
  options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'value' },
});
/** A stat panel; `q` maps a language to one query text. */
const stat = (title, grid, q, unit = 'none', thresholds) =>
  panel(
    'stat',
    title,
    grid,
    mapLang(q, (x) => [x]),
    statExtra(unit, thresholds),
  );
/** A time series; `qs` maps a language to a list of query texts. */
const series = (title, grid, qs, unit = 'none') =>
  panel('timeseries', title, grid, qs, { fieldConfig: { defaults: { unit }, overrides: [] } });
const table = (title, grid, q) =>
  panel(
    'table',
    title,
    grid,
    mapLang(q, (x) => [x]),
  );
const mapLang = (q, f) => Object.fromEntries(Object.entries(q).map(([k, v]) => [k, f(v)]));

function render(backend, uid, title, panels, extraVars = []) {
  nextId = 1;
  const b = backends[backend];
  const shipped = panels.filter((p) => p.queries[backend] !== undefined);
  return {
    __inputs: [
      {
        name: 'DS_NETSCAN',
        label: b.label,
        description: 'Where netscan writes (or is scraped)',
        type: 'datasource',
        pluginId: b.pluginId,
        pluginName: b.pluginName,
      },
    ],
    __requires: [{ type: 'datasource', id: b.pluginId, name: b.pluginName, version: '1.0.0' }],
    uid: `${uid}-${backend}`,
    title: `${title} (${backend === 'flux' ? 'Flux' : backend === 'influxql' ? 'InfluxQL' : 'PromQL'})`,
    tags: ['netscan', backend],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [...vars[backend], ...(extraVars[backend] ?? [])] },
    panels: shipped.map((p) => ({
      id: nextId++,
      type: p.type,
      title: p.title,
      datasource: ds,
      gridPos: p.grid,
      targets: p.queries[backend].map((q, i) => target(backend, i, q)),
      ...p.extra,
    })),
  };
}

function target(backend, i, q) {
  const refId = String.fromCharCode(65 + i);
  const text = q.trim().replace(/^ {4}/gm, '');
  if (backend === 'flux') return { refId, datasource: ds, query: text };
  if (backend === 'influxql')
    return { refId, datasource: ds, query: text, rawQuery: true, resultFormat: 'time_series' };
  return { refId, datasource: ds, expr: text, legendFormat: '__auto', range: true };
}

// ---- fleet ---------------------------------------------------------------------------------------
const lastSuccess = (want) => `
    from(bucket: "\${bucket}")
      |> range(start: -5m)
      |> filter(fn: (r) => r._measurement == "ping" and r._field == "success")
      |> last()
      |> filter(fn: (r) => r._value == ${want})
      |> group()
      |> count()`;
const fleet = [
  stat(
    'Devices',
    { x: 0, y: 0, w: 4, h: 4 },
    { flux: fx.health('device_count'), influxql: iq.healthLast('device_count'), promql: pq.gauge('netscan_devices') },
  ),
  stat(
    'Devices up (last answer)',
    { x: 4, y: 0, w: 4, h: 4 },
    {
      flux: lastSuccess('true'),
      influxql: `SELECT count("success") AS "up" FROM (SELECT last("success") AS "success" FROM ${DATA('ping')} WHERE time > now() - 5m GROUP BY "ip") WHERE "success" = true`,
      promql: `count(netscan_device_up{job=~"$job"} == 1)`,
    },
  ),
  stat(
    'Devices down (last answer failed)',
    { x: 8, y: 0, w: 4, h: 4 },
    {
      flux: lastSuccess('false'),
      influxql: `SELECT count("success") AS "down" FROM (SELECT last("success") AS "success" FROM ${DATA('ping')} WHERE time > now() - 5m GROUP BY "ip") WHERE "success" = false`,
      promql: `count(netscan_device_up{job=~"$job"} == 0) or vector(0)`,
    },
    'none',
    red(1),
  ),
  stat(
    'Suspended (circuit breaker)',
    { x: 12, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('suspended_devices'),
      influxql: iq.healthLast('suspended_devices'),
      promql: pq.gauge('netscan_devices_ping_suspended'),
    },
    'none',
    red(1),
  ),
  stat(
    'Fleet loss',
    { x: 16, y: 0, w: 4, h: 4 },
    {
      flux: `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "loss_pct")
      |> group()
      |> mean()`,
      influxql: `SELECT mean("loss_pct") AS "loss_pct" FROM ${DATA('ping_summary')} WHERE $timeFilter`,
      promql: `100 * (1 - sum(increase(netscan_device_pings_received_total{job=~"$job"}[$__range])) / sum(increase(netscan_device_pings_sent_total{job=~"$job"}[$__range])))`,
    },
    'percent',
    [
      { color: 'green', value: null },
      { color: 'orange', value: 1 },
      { color: 'red', value: 5 },
    ],
  ),
  stat(
    'Agent overloaded probes',
    { x: 20, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('agent_overloaded'),
      influxql: iq.healthLast('agent_overloaded'),
      promql: `sum(netscan_ping_failures_total{job=~"$job", reason="agent_overloaded"}) or vector(0)`,
    },
    'none',
    red(1),
  ),
  series(
    'Ping success rate',
    { x: 0, y: 4, w: 12, h: 8 },
    {
      flux: [
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and (r._field == "success" or r._field == "suspended"))
      |> pivot(rowKey: ["_time", "ip"], columnKey: ["_field"], valueColumn: "_value")
      |> filter(fn: (r) => not r.suspended)
      |> map(fn: (r) => ({ _time: r._time, _value: if r.success then 100.0 else 0.0 }))
      |> group()
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
      |> yield(name: "success_pct")`,
      ],
      influxql: [
        `SELECT 100 * sum("received") / sum("sent") AS "success_pct" FROM ${DATA('ping_summary')} WHERE $timeFilter GROUP BY time($__interval) fill(none)`,
      ],
      promql: [
        `100 * sum(rate(netscan_ping_replies_total{job=~"$job"}[$__rate_interval])) / sum(rate(netscan_pings_sent_total{job=~"$job"}[$__rate_interval]))`,
      ],
    },
    'percent',
  ),
  series(
    'RTT across the fleet (p50, p95 of per-device summaries)',
    { x: 12, y: 4, w: 12, h: 8 },
    {
      flux: [
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "rtt_p50_ms")
      |> group()
      |> aggregateWindow(every: v.windowPeriod, fn: median, createEmpty: false)
      |> yield(name: "p50")`,
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "rtt_p95_ms")
      |> group()
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
      |> yield(name: "p95")`,
      ],
      influxql: [
        `SELECT median("rtt_p50_ms") AS "p50", mean("rtt_p95_ms") AS "p95" FROM ${DATA('ping_summary')} WHERE $timeFilter GROUP BY time($__interval) fill(none)`,
      ],
      promql: [
        `1000 * histogram_quantile(0.5, sum by (le) (rate(netscan_ping_rtt_seconds_bucket{job=~"$job"}[$__rate_interval])))`,
        `1000 * histogram_quantile(0.95, sum by (le) (rate(netscan_ping_rtt_seconds_bucket{job=~"$job"}[$__rate_interval])))`,
      ],
    },
    'ms',
  ),
  table(
    'Worst devices by loss',
    { x: 0, y: 12, w: 12, h: 10 },
    {
      flux: `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r._field == "loss_pct")
      |> group(columns: ["ip"])
      |> mean()
      |> group()
      |> sort(columns: ["_value"], desc: true)
      |> limit(n: 20)`,
      influxql: `SELECT top("loss_pct", "ip", 20) AS "loss_pct" FROM (SELECT mean("loss_pct") AS "loss_pct" FROM ${DATA('ping_summary')} WHERE $timeFilter GROUP BY "ip")`,
      promql: `topk(20, 100 * (1 - sum by (ip) (increase(netscan_device_pings_received_total{job=~"$job"}[$__range])) / sum by (ip) (increase(netscan_device_pings_sent_total{job=~"$job"}[$__range]))))`,
    },
  ),
  table(
    'Devices without a name (no SNMP answer)',
    { x: 12, y: 12, w: 12, h: 10 },
    {
      flux: `
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
      |> filter(fn: (r) => not r.named)`,
    },
  ),
  table(
    'Device names (SNMP)',
    { x: 12, y: 12, w: 12, h: 10 },
    {
      influxql: `SELECT last("hostname") AS "hostname" FROM ${DATA('device_info')} WHERE time > now() - 30d GROUP BY "ip"`,
    },
  ),
];

// ---- device --------------------------------------------------------------------------------------
const IP = `"ip" =~ /^$ip$/`;
const device = [
  series(
    'RTT',
    { x: 0, y: 0, w: 16, h: 8 },
    {
      flux: [
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and r.ip == "\${ip}" and r._field == "rtt_ms")
      |> filter(fn: (r) => r._value > 0.0)
      |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
      |> yield(name: "rtt_ms")`,
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r.ip == "\${ip}")
      |> filter(fn: (r) => r._field == "rtt_p50_ms" or r._field == "rtt_p95_ms" or r._field == "rtt_max_ms" or r._field == "jitter_ms")`,
      ],
      influxql: [
        `SELECT mean("rtt_ms") AS "rtt_ms" FROM ${DATA('ping')} WHERE ${IP} AND "success" = true AND $timeFilter GROUP BY time($__interval) fill(none)`,
        `SELECT mean("rtt_p50_ms") AS "p50", mean("rtt_p95_ms") AS "p95", max("rtt_max_ms") AS "max", mean("jitter_ms") AS "jitter" FROM ${DATA('ping_summary')} WHERE ${IP} AND $timeFilter GROUP BY time($__interval) fill(none)`,
      ],
      promql: [
        `1000 * histogram_quantile(0.5, sum by (le) (rate(netscan_device_rtt_seconds_bucket{job=~"$job", ip="$ip"}[$__rate_interval])))`,
        `1000 * histogram_quantile(0.95, sum by (le) (rate(netscan_device_rtt_seconds_bucket{job=~"$job", ip="$ip"}[$__rate_interval])))`,
        `1000 * rate(netscan_device_rtt_seconds_sum{job=~"$job", ip="$ip"}[$__rate_interval]) / rate(netscan_device_rtt_seconds_count{job=~"$job", ip="$ip"}[$__rate_interval])`,
      ],
    },
    'ms',
  ),
  table(
    'Identity (SNMP)',
    { x: 16, y: 0, w: 8, h: 8 },
    {
      flux: `
    from(bucket: "\${bucket}")
      |> range(start: -30d)
      |> filter(fn: (r) => r._measurement == "device_info" and r.ip == "\${ip}")
      |> filter(fn: (r) => r._field == "hostname" or r._field == "snmp_description" or r._field == "sys_object_id" or r._field == "sys_location" or r._field == "sys_contact" or r._field == "sys_uptime_s")
      |> last()
      |> keep(columns: ["_field", "_value"])`,
      influxql: `SELECT last("hostname") AS "hostname", last("snmp_description") AS "description", last("sys_object_id") AS "sys_object_id", last("sys_location") AS "location", last("sys_contact") AS "contact", last("sys_uptime_s") AS "uptime_s" FROM ${DATA('device_info')} WHERE ${IP} AND time > now() - 30d`,
      promql: `netscan_device_info{job=~"$job", ip="$ip"}`,
    },
  ),
  series(
    'Loss',
    { x: 0, y: 8, w: 12, h: 8 },
    {
      flux: [
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r.ip == "\${ip}" and r._field == "loss_pct")`,
      ],
      influxql: [
        `SELECT mean("loss_pct") AS "loss_pct" FROM ${DATA('ping_summary')} WHERE ${IP} AND $timeFilter GROUP BY time($__interval) fill(none)`,
      ],
      promql: [
        `100 * (1 - rate(netscan_device_pings_received_total{job=~"$job", ip="$ip"}[$__rate_interval]) / rate(netscan_device_pings_sent_total{job=~"$job", ip="$ip"}[$__rate_interval]))`,
      ],
    },
    'percent',
  ),
  series(
    'Failures by reason',
    { x: 12, y: 8, w: 12, h: 8 },
    {
      flux: [
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping" and r.ip == "\${ip}" and r._field == "reason")
      |> map(fn: (r) => ({ _time: r._time, _field: r._value, _value: 1 }))
      |> group(columns: ["_field"])
      |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)`,
      ],
      // InfluxQL cannot group by a field: count the failed probes (their reasons are in the ping table).
      influxql: [
        `SELECT count("reason") AS "failed" FROM ${DATA('ping')} WHERE ${IP} AND "success" = false AND $timeFilter GROUP BY time($__interval) fill(none)`,
      ],
      promql: [
        `rate(netscan_device_pings_sent_total{job=~"$job", ip="$ip"}[$__rate_interval]) - rate(netscan_device_pings_received_total{job=~"$job", ip="$ip"}[$__rate_interval])`,
      ],
    },
  ),
  series(
    'Sent / received per summary window',
    { x: 0, y: 16, w: 24, h: 6 },
    {
      flux: [
        `
    from(bucket: "\${bucket}")
      |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
      |> filter(fn: (r) => r._measurement == "ping_summary" and r.ip == "\${ip}")
      |> filter(fn: (r) => r._field == "sent" or r._field == "received" or r._field == "overloaded" or r._field == "suspended_ticks")`,
      ],
      influxql: [
        `SELECT sum("sent") AS "sent", sum("received") AS "received", sum("overloaded") AS "overloaded", sum("suspended_ticks") AS "suspended_ticks" FROM ${DATA('ping_summary')} WHERE ${IP} AND $timeFilter GROUP BY time($__interval) fill(none)`,
      ],
      promql: [
        `increase(netscan_device_pings_sent_total{job=~"$job", ip="$ip"}[$__rate_interval])`,
        `increase(netscan_device_pings_received_total{job=~"$job", ip="$ip"}[$__rate_interval])`,
      ],
    },
  ),
];
const deviceVars = {
  flux: [
    {
      name: 'ip',
      type: 'query',
      label: 'Device',
      datasource: ds,
      refresh: 2,
      query:
        'import "influxdata/influxdb/schema"\nschema.tagValues(bucket: "${bucket}", tag: "ip", predicate: (r) => r._measurement == "ping", start: -1d)',
    },
  ],
  influxql: [
    {
      name: 'ip',
      type: 'query',
      label: 'Device',
      datasource: ds,
      refresh: 2,
      query: `SHOW TAG VALUES FROM ${DATA('ping')} WITH KEY = "ip"`,
    },
  ],
  promql: [
    {
      name: 'ip',
      type: 'query',
      label: 'Device',
      datasource: ds,
      refresh: 2,
      query: 'label_values(netscan_device_up{job=~"$job"}, ip)',
      definition: 'label_values(netscan_device_up{job=~"$job"}, ip)',
    },
  ],
};

// ---- agent ---------------------------------------------------------------------------------------
const agent = [
  stat(
    'Output OK',
    { x: 0, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('influxdb_ok'),
      influxql: iq.healthLast('influxdb_ok'),
      promql: pq.gauge('netscan_output_ok', 'min'),
    },
    'bool_on_off',
  ),
  stat(
    'Queue depth',
    { x: 4, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('queue_depth'),
      influxql: iq.healthLast('queue_depth'),
      promql: pq.gauge('netscan_output_queue_points'),
    },
  ),
  stat(
    'Spool',
    { x: 8, y: 0, w: 4, h: 4 },
    { flux: fx.health('spool_bytes'), influxql: iq.healthLast('spool_bytes'), promql: pq.gauge('netscan_spool_bytes') },
    'bytes',
  ),
  stat(
    'Points dropped (total)',
    { x: 12, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('points_dropped'),
      influxql: iq.healthLast('points_dropped'),
      promql: `sum(netscan_points_dropped_total{job=~"$job"}) or vector(0)`,
    },
    'none',
    red(1),
  ),
  stat(
    'Agent overloaded (total)',
    { x: 16, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('agent_overloaded'),
      influxql: iq.healthLast('agent_overloaded'),
      promql: `sum(netscan_ping_failures_total{job=~"$job", reason="agent_overloaded"}) or vector(0)`,
    },
    'none',
    red(1),
  ),
  stat(
    'Effective ping interval',
    { x: 20, y: 0, w: 4, h: 4 },
    {
      flux: fx.health('effective_ping_interval_ms'),
      influxql: iq.healthLast('effective_ping_interval_ms'),
      promql: `1000 * max(netscan_ping_effective_interval_seconds{job=~"$job"})`,
    },
    'ms',
  ),
  series(
    'Pings sent per second',
    { x: 0, y: 4, w: 12, h: 8 },
    {
      flux: [fx.healthRate('pings_sent_total')],
      influxql: [iq.healthRate('pings_sent_total')],
      promql: [pq.rate('netscan_pings_sent_total')],
    },
    'pps',
  ),
  series(
    'Points written / spooled / dropped per second',
    { x: 12, y: 4, w: 12, h: 8 },
    {
      flux: [fx.healthRate('points_written'), fx.healthRate('points_spooled'), fx.healthRate('points_dropped')],
      influxql: [iq.healthRate('points_written'), iq.healthRate('points_spooled'), iq.healthRate('points_dropped')],
      promql: [
        pq.rate('netscan_points_written_total'),
        pq.rate('netscan_points_spooled_total'),
        `${pq.rate('netscan_points_dropped_total')} or vector(0)`,
      ],
    },
  ),
  series(
    'Event-loop delay p99',
    { x: 0, y: 12, w: 12, h: 8 },
    {
      flux: [fx.health('event_loop_delay_p99_ms', 'max')],
      influxql: [iq.health('event_loop_delay_p99_ms', 'max')],
      promql: [`1000 * max(netscan_event_loop_delay_p99_seconds{job=~"$job"})`],
    },
    'ms',
  ),
  series(
    'Write errors by class per second',
    { x: 12, y: 12, w: 12, h: 8 },
    {
      flux: ['retry', 'throttle', 'split', 'drop', 'config'].map((c) => fx.healthRate(`write_errors_${c}`)),
      influxql: ['retry', 'throttle', 'split', 'drop', 'config'].map((c) => iq.healthRate(`write_errors_${c}`)),
      promql: [`${pq.rate('netscan_write_errors_total', 'class')} or vector(0)`],
    },
  ),
  series(
    'Memory',
    { x: 0, y: 20, w: 12, h: 8 },
    {
      flux: [fx.health('memory_mb', 'max'), fx.health('rss_mb', 'max')],
      influxql: [iq.health('memory_mb', 'max'), iq.health('rss_mb', 'max')],
      promql: [
        `max(netscan_nodejs_heap_size_used_bytes{job=~"$job"}) / 1048576`,
        `max(netscan_process_resident_memory_bytes{job=~"$job"}) / 1048576`,
      ],
    },
    'decmbytes',
  ),
  series(
    'Probes in flight and devices',
    { x: 12, y: 20, w: 12, h: 8 },
    {
      flux: [
        fx.health('active_pingers', 'mean'),
        fx.health('device_count'),
        fx.health('unmonitored_devices'),
        fx.health('snmp_suspended_devices'),
      ],
      influxql: [
        iq.health('active_pingers', 'mean'),
        iq.health('device_count'),
        iq.health('unmonitored_devices'),
        iq.health('snmp_suspended_devices'),
      ],
      promql: [
        pq.gauge('netscan_pings_in_flight'),
        pq.gauge('netscan_devices'),
        pq.gauge('netscan_devices_unmonitored'),
        pq.gauge('netscan_devices_snmp_suspended'),
      ],
    },
  ),
  series(
    'Probes the agent could not judge per second (stall, ICMP socket failure)',
    { x: 0, y: 28, w: 12, h: 8 },
    {
      flux: [fx.healthRate('agent_overloaded'), fx.healthRate('agent_errors')],
      influxql: [iq.healthRate('agent_overloaded'), iq.healthRate('agent_errors')],
      promql: [
        `sum by (reason) (rate(netscan_ping_failures_total{job=~"$job", reason=~"agent_overloaded|agent_error"}[$__rate_interval])) or vector(0)`,
      ],
    },
  ),
  // Missed slots are the agent not looking; loss is the host not answering: never the same panel.
  series(
    'Slots the agent did not probe per second (missed: agent late or rate-limited; late sends)',
    { x: 12, y: 28, w: 12, h: 8 },
    {
      flux: [fx.healthRate('missed_slots'), fx.healthRate('late_sends')],
      influxql: [iq.healthRate('missed_slots'), iq.healthRate('late_sends')],
      promql: [
        `${pq.rate('netscan_ping_missed_slots_total')} or vector(0)`,
        `${pq.rate('netscan_ping_late_sends_total')} or vector(0)`,
      ],
    },
  ),
];

const sets = [
  ['netscan-fleet', 'netscan — fleet overview', fleet, {}],
  ['netscan-device', 'netscan — device', device, deviceVars],
  ['netscan-agent', 'netscan — agent health', agent, {}],
];
const written = [];
for (const backend of Object.keys(backends)) {
  const dir = new URL(`../deploy/grafana/${backend}/`, import.meta.url);
  mkdirSync(dir, { recursive: true });
  for (const [uid, title, panels, extraVars] of sets) {
    writeFileSync(
      new URL(`${uid}.json`, dir),
      `${JSON.stringify(render(backend, uid, title, panels, extraVars), null, 2)}\n`,
    );
    written.push(`${backend}/${uid}.json`);
  }
}
console.log(`wrote deploy/grafana/{${written.join(', ')}}`);
