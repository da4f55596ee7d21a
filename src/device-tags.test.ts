import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { RecordingSink } from '../internal/testkit/recording-sink.js';
import { deviceInfoPoint, healthPoint, pingPoint, pingSummaryPoint } from '../internal/model/points.js';
import { field, type Point } from '../internal/model/point.js';
import { parseConfigText } from './config/load.js';
import { DeviceTags, rawPingLine } from './device-tags.js';
import { encodedTagSet, toLineProtocol } from '../internal/writer/line-protocol.js';
import fc from 'fast-check';
import type { PingFailureReason, PingOutcome } from '../internal/model/ping.js';
import { rawPingPoint, type RawPing } from '../internal/schedule/raw-ping.js';

const base = 'icmp_discovery_interval: 5m\nping_interval: 5s\nping_rate_limit: 20000\nping_burst_limit: 20000\n';
const config = (yaml: string) => parseConfigText(base + yaml, { env: {} }).config;
const writer = {
  batchesOk: 0,
  batchesFailed: 0,
  pointsWritten: 0,
  pointsDropped: 0,
  pointsSpooled: 0,
  spoolBytes: 0,
  spoolPoints: 0,
  queueDepth: 0,
  writeErrors: { retry: 0, throttle: 0, split: 0, drop: 0, config: 0 },
};
const health = healthPoint(
  {
    deviceCount: 0,
    activePingers: 0,
    suspendedDevices: 0,
    goroutines: 0,
    memoryMb: 0,
    rssMb: 0,
    influxdbOk: true,
    pingsSentTotal: 0,
    writer,
  },
  1,
);
const summary = {
  windowStartMs: 1,
  sent: 1,
  received: 1,
  overloaded: 0,
  suspendedTicks: 0,
  lossPct: 0,
  rttMinMs: 1,
  rttAvgMs: 1,
  rttMaxMs: 1,
  rttP50Ms: 1,
  rttP95Ms: 1,
  rttStddevMs: 0,
  jitterMs: NaN,
};

test('network labels, target labels and name land on ping, ping_summary and device_info; agent on every point', () => {
  const sink = new RecordingSink();
  const tags = new DeviceTags(
    sink,
    config(
      'agent_name: edge-1\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: lab, rack: r1}}, {cidr: "fd00:1::/120", labels: {site: v6lab}}]\n',
    ),
  );
  tags.setTarget('127.0.0.7', { name: 'db.test', labels: { rack: 'r2' } });
  tags.write(pingPoint({ ok: true, ip: '127.0.0.7', rttMs: 1, sentAtMs: 0 }, { timeMs: 1 }));
  tags.write(
    pingSummaryPoint('fd00:1::3', {
      windowStartMs: 1,
      sent: 1,
      received: 1,
      overloaded: 0,
      suspendedTicks: 0,
      lossPct: 0,
      rttMinMs: 1,
      rttAvgMs: 1,
      rttMaxMs: 1,
      rttP50Ms: 1,
      rttP95Ms: 1,
      rttStddevMs: 0,
      jitterMs: NaN,
    }),
  );
  tags.write(deviceInfoPoint('127.0.0.9', { hostname: 'core-sw', sysDescr: 'x' }, 1));
  tags.write(pingPoint({ ok: false, ip: '127.0.0.9', reason: 'timeout', sentAtMs: 0 }, { timeMs: 2 }));
  tags.write(pingPoint({ ok: false, ip: '127.0.1.1', reason: 'timeout', sentAtMs: 0 }, { timeMs: 2 }));
  tags.write(health);
  assert.deepEqual(
    sink.points.map((p) => p.tags),
    [
      { site: 'lab', rack: 'r2', name: 'db.test', agent: 'edge-1', ip: '127.0.0.7' },
      { site: 'v6lab', agent: 'edge-1', ip: 'fd00:1::3' },
      { site: 'lab', rack: 'r1', name: 'core-sw', agent: 'edge-1', ip: '127.0.0.9' },
      { site: 'lab', rack: 'r1', name: 'core-sw', agent: 'edge-1', ip: '127.0.0.9' },
      { agent: 'edge-1', ip: '127.0.1.1' },
      { agent: 'edge-1' },
    ],
  );
});

test('the agent tag defaults to the host name, and a reload changes agent and network labels', () => {
  const sink = new RecordingSink();
  const tags = new DeviceTags(sink, config('networks: ["127.0.0.0/24"]\n'));
  tags.write(pingPoint({ ok: true, ip: '127.0.0.1', rttMs: 1, sentAtMs: 0 }, { timeMs: 1 }));
  tags.reconfigure(config('agent_name: b\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: x}}]\n'));
  tags.write(pingPoint({ ok: true, ip: '127.0.0.1', rttMs: 1, sentAtMs: 0 }, { timeMs: 2 }));
  assert.deepEqual(
    sink.points.map((p) => p.tags),
    [
      { agent: hostname(), ip: '127.0.0.1' },
      { site: 'x', agent: 'b', ip: '127.0.0.1' },
    ],
  );
});

test('a target name outranks the SNMP sysName, and a device_info without sysName drops the learned name', () => {
  const sink = new RecordingSink();
  const tags = new DeviceTags(sink, config('agent_name: a\n'));
  tags.write(deviceInfoPoint('127.0.0.2', { hostname: 'sw', sysDescr: '' }, 1));
  assert.equal(tags.tagsFor('127.0.0.2').name, 'sw');
  tags.setTarget('127.0.0.2', { name: 'core.test', labels: {} });
  tags.write(deviceInfoPoint('127.0.0.2', { hostname: 'sw', sysDescr: '' }, 1));
  assert.equal(sink.points[1]!.tags.name, 'core.test');
  tags.clearTarget('127.0.0.2');
  tags.write(deviceInfoPoint('127.0.0.2', { hostname: '127.0.0.2', sysDescr: '' }, 1));
  assert.equal(tags.tagsFor('127.0.0.2').name, undefined);
});

test('with reverse_dns, a device without target name or sysName is named by its reverse lookup, once', async () => {
  const sink = new RecordingSink();
  const asked: string[] = [];
  const reverse = async (ip: string): Promise<string | undefined> => {
    asked.push(ip);
    return ip === '127.0.0.5' ? 'five.test' : undefined;
  };
  const tags = new DeviceTags(sink, config('agent_name: a\nreverse_dns: true\n'), reverse);
  tags.setTarget('127.0.0.6', { name: 'six.test', labels: {} });
  const ping = (ip: string) => tags.write(pingPoint({ ok: true, ip, rttMs: 1, sentAtMs: 0 }, { timeMs: 1 }));
  ping('127.0.0.5');
  ping('127.0.0.6');
  ping('127.0.0.7');
  await new Promise((resolve) => setImmediate(resolve));
  ping('127.0.0.5');
  ping('127.0.0.7');
  assert.deepEqual(
    sink.points.map((p) => p.tags.name),
    [undefined, 'six.test', undefined, 'five.test', undefined],
  );
  assert.deepEqual(asked, ['127.0.0.5', '127.0.0.7'], 'each address once; never for a target');
  const off = new DeviceTags(new RecordingSink(), config('agent_name: a\n'), reverse);
  off.tagsFor('127.0.0.8');
  assert.equal(asked.length, 2, 'off by default');
});

test('with reverse_dns, devices beyond the lookups in flight are looked up later, not left unnamed for good', async () => {
  const sink = new RecordingSink();
  const asked: string[] = [];
  const reverse = async (ip: string): Promise<string | undefined> => {
    asked.push(ip);
    return `host${ip.split('.')[3]}.test`;
  };
  const tags = new DeviceTags(sink, config('agent_name: a\nreverse_dns: true\n'), reverse);
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
  const round = async (): Promise<Array<string | undefined>> => {
    const from = sink.points.length;
    for (const ip of ips) tags.write(pingPoint({ ok: true, ip, rttMs: 1, sentAtMs: 0 }, { timeMs: 1 }));
    await new Promise((resolve) => setImmediate(resolve));
    return sink.points.slice(from).map((p) => p.tags.name);
  };
  assert.deepEqual(await round(), [undefined, undefined, undefined, undefined, undefined, undefined]);
  await round();
  assert.deepEqual(
    await round(),
    ips.map((ip) => `host${ip.split('.')[3]}.test`),
  );
  assert.deepEqual([...asked].sort(), ips, 'each address once');
});

/** The lines the writer would send for what `tags` passed on. */
const lines = (sink: RecordingSink): string[] =>
  sink.points.map((p) => toLineProtocol(p, { unsignedAsInteger: false }) ?? 'invalid');
/** The same points rendered from plain copies of their tags (no cached rendering). */
const freshLines = (sink: RecordingSink): string[] =>
  sink.points.map(
    (p: Point) => toLineProtocol({ ...p, tags: { ...p.tags } }, { unsignedAsInteger: false }) ?? 'invalid',
  );

test('labels and names needing escapes render exactly as uncached tags would', () => {
  const sink = new RecordingSink();
  const tags = new DeviceTags(
    sink,
    config(
      'agent_name: "edge 1"\nnetworks: [{cidr: "127.0.0.0/24", labels: {"rack id": "r=1,a", site: "hall \\\\ 2"}}]\n',
    ),
  );
  tags.setTarget('127.0.0.7', { name: 'db,test=x y', labels: { "o'k": 'say "hi"' } });
  tags.write(pingPoint({ ok: true, ip: '127.0.0.7', rttMs: 1.5, sentAtMs: 0 }, { timeMs: 1 }));
  tags.write(pingPoint({ ok: true, ip: '127.0.0.7', rttMs: 2, sentAtMs: 0 }, { timeMs: 2 }));
  tags.write(pingPoint({ ok: false, ip: '127.0.0.8', reason: 'timeout', sentAtMs: 0 }, { timeMs: 3 }));
  assert.equal(
    lines(sink)[0],
    'ping,agent=edge\\ 1,ip=127.0.0.7,name=db\\,test\\=x\\ y,o\'k=say\\ "hi",rack\\ id=r\\=1\\,a,site=hall\\ \\\\ 2 rtt_ms=1.5,success=T,suspended=F 1',
  );
  assert.deepEqual(lines(sink), freshLines(sink));
  assert.equal(sink.points[0]!.tags, sink.points[1]!.tags, 'one cached tag set per device');
});

test('a reload, a target change, a learned sysName and a reverse name each give the device new tags on the wire', async () => {
  const sink = new RecordingSink();
  const tags = new DeviceTags(
    sink,
    config('agent_name: a\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: x}}]\n'),
    async () => 'rev.test',
  );
  const ping = (t: number) =>
    tags.write(pingPoint({ ok: true, ip: '127.0.0.1', rttMs: 1, sentAtMs: 0 }, { timeMs: t }));
  ping(1);
  tags.reconfigure(config('agent_name: b\nreverse_dns: true\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: y}}]\n'));
  ping(2); // starts the lookup; no name yet
  await new Promise((resolve) => setImmediate(resolve));
  ping(3);
  tags.write(deviceInfoPoint('127.0.0.1', { hostname: 'sw1', sysDescr: '' }, 4));
  ping(5);
  tags.setTarget('127.0.0.1', { name: 'core.test', labels: { site: 'z' } });
  ping(6);
  tags.clearTarget('127.0.0.1');
  ping(7);
  tags.reconfigure(config('agent_name: c\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: w}}]\n'));
  ping(8);
  const got = lines(sink).map((l) => l.split(' ')[0]);
  assert.deepEqual(got, [
    'ping,agent=a,ip=127.0.0.1,site=x',
    'ping,agent=b,ip=127.0.0.1,site=y',
    'ping,agent=b,ip=127.0.0.1,name=rev.test,site=y',
    'device_info,agent=b,ip=127.0.0.1,name=sw1,site=y',
    'ping,agent=b,ip=127.0.0.1,name=sw1,site=y',
    'ping,agent=b,ip=127.0.0.1,name=core.test,site=z',
    'ping,agent=b,ip=127.0.0.1,name=sw1,site=y',
    'ping,agent=c,ip=127.0.0.1,name=sw1,site=w',
  ]);
  assert.deepEqual(lines(sink), freshLines(sink));
});

test('a point with tags besides ip keeps them over the device tags and renders them', () => {
  const sink = new RecordingSink();
  const tags = new DeviceTags(sink, config('agent_name: a\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: x}}]\n'));
  tags.write(pingSummaryPoint('127.0.0.1', summary, 'telegraf'));
  tags.write({ measurement: 'm', tags: { ip: '127.0.0.1', site: 'own' }, fields: { v: field.int(1) }, timeMs: 1 });
  tags.write(pingPoint({ ok: true, ip: '127.0.0.1', rttMs: 1, sentAtMs: 0 }, { timeMs: 2 }));
  assert.deepEqual(
    lines(sink).map((l) => l.split(' ')[0]),
    [
      'ping,agent=a,ip=127.0.0.1,site=x,url=127.0.0.1',
      'm,agent=a,ip=127.0.0.1,site=own',
      'ping,agent=a,ip=127.0.0.1,site=x',
    ],
  );
  assert.deepEqual(lines(sink), freshLines(sink));
});

test('a raw ping from the probe thread is written as its ping point would be: same point, same line, through every tag change', () => {
  /** Keeps each point with the lines the writers would render for it while it is being written. */
  const recordLines = () => {
    const out: Array<{ point: Point; lines: Array<string | undefined> }> = [];
    const sink = {
      write: (point: Point): number => {
        const lines = [false, true].map((unsignedAsInteger) => toLineProtocol(point, { unsignedAsInteger }));
        out.push({ point, lines });
        return 0;
      },
    };
    return { out, sink };
  };
  const cfg = config('agent_name: edge 1\nnetworks: [{cidr: "127.0.0.0/24", labels: {site: "lab, a=b"}}]\n');
  const raw = recordLines();
  const viaPoint = recordLines();
  const fast = new DeviceTags(raw.sink, cfg);
  const slow = new DeviceTags(viaPoint.sink, cfg);
  const rawPings: RawPing[] = [];
  // Ids as a probe thread's string table gives them (-1: none), and one reused for another address (a new thread).
  for (const [ip, ipId] of [
    ['127.0.0.1', 0],
    ['127.0.0.2', 1],
    ['127.0.1.1', -1],
    ['127.0.0.3', 0],
  ] as const)
    for (const timeMs of [1_700_000_000_000.5, NaN])
      for (const rttMs of [0.25, 0, NaN, 1e21])
        rawPings.push({ ip, ipId, timeMs, ok: true, rttMs, reason: undefined, rttZero: false });
  for (const reason of ['timeout', 'unreachable', 'send_error', 'agent_overloaded', 'agent_error'] as const)
    for (const rttZero of [false, true])
      rawPings.push({ ip: '127.0.0.2', ipId: 1, timeMs: 1_700_000_000_001, ok: false, rttMs: NaN, reason, rttZero });
  const both = (r: RawPing): void => {
    assert.equal(fast.writeRawPing(r), 0);
    slow.write(rawPingPoint(r));
  };
  for (const r of rawPings) both(r);
  // Tag changes: a target, a learned sysName, a reload.
  fast.setTarget('127.0.0.1', { name: 'db "one"', labels: { role: 'x y' } });
  slow.setTarget('127.0.0.1', { name: 'db "one"', labels: { role: 'x y' } });
  for (const t of [fast, slow]) t.write(deviceInfoPoint('127.0.0.2', { hostname: 'core-sw', sysDescr: 'x' }, 1));
  for (const r of rawPings) both(r);
  const reload = config('agent_name: b\nnetworks: []\n');
  fast.reconfigure(reload);
  slow.reconfigure(reload);
  for (const r of rawPings) both(r);
  assert.deepEqual(raw.out, viaPoint.out);
  assert.ok(raw.out.some((w) => w.lines[0]?.includes('name=db\\ "one",role=x\\ y,site=lab\\,\\ a\\=b rtt_ms=0.25')));
  assert.ok(raw.out.some((w) => w.lines[0]?.startsWith('ping,agent=b,ip=127.0.0.2,name=core-sw reason="send_error"')));
  assert.ok(raw.out.some((w) => w.lines[0] === undefined));
  // The pre-rendered line is for the point while it is written: afterwards it is rendered afresh, the same.
  const last = raw.out.at(-1)!;
  assert.equal(toLineProtocol(last.point, { unsignedAsInteger: false }), last.lines[0]);
});

// Raw pings of every shape: the addresses are tag values, never pinged.
const REASONS: PingFailureReason[] = ['timeout', 'unreachable', 'send_error', 'agent_overloaded', 'agent_error', 'dns'];
const numbers = [0, -0, 0.0123, 1 / 3, 2.5e-7, 5e-324, 1e21, 123456.789, -1, NaN, Infinity, -Infinity];
const times = [1_700_000_000_123, 1_700_000_000_123.75, 1_700_000_001_000, 999, 0, -5, 2 ** 53 + 2, NaN, Infinity];

/** Every raw ping the grids make, with the outcome pingPoint would get for it. */
function* grid(): Generator<{ r: RawPing; outcome: PingOutcome }> {
  const ip = '192.0.2.7';
  for (const timeMs of times) {
    for (const rttMs of numbers) {
      const r = { ip, ipId: -1, timeMs, ok: true, rttMs, reason: undefined, rttZero: false };
      yield { r, outcome: { ok: true, ip, rttMs, sentAtMs: timeMs } };
    }
    for (const reason of REASONS)
      for (const rttZero of [false, true]) {
        const r = { ip, ipId: -1, timeMs, ok: false, rttMs: NaN, reason, rttZero };
        yield { r, outcome: { ok: false, ip, reason, sentAtMs: timeMs } };
      }
  }
}

test("a raw ping's line is what toLineProtocol renders for its point, under both options", () => {
  const tags = encodedTagSet({ ip: '192.0.2.7', name: 'a host, "quoted"', site: 'my lab=1', agent: 'edge\\1' });
  let lines = 0;
  for (const { r, outcome } of grid()) {
    const want = pingPoint(outcome, { timeMs: r.timeMs, failedRttZero: r.rttZero });
    assert.deepStrictEqual(rawPingPoint(r), want);
    const line = rawPingLine(r, toLineProtocolTags(tags));
    for (const unsignedAsInteger of [false, true]) {
      const expected = toLineProtocol({ ...want, tags: { ...tags } }, { unsignedAsInteger });
      assert.equal(line, expected, JSON.stringify({ ...r, unsignedAsInteger }));
    }
    if (line !== undefined) lines++;
  }
  assert.ok(lines > 100);
});

test('arbitrary RTTs and timestamps render as toLineProtocol renders them', () => {
  fc.assert(
    fc.property(fc.double(), fc.double({ min: -1e16, max: 1e16 }), (rttMs, timeMs) => {
      const r = { ip: '192.0.2.8', ipId: 3, timeMs, ok: true, rttMs, reason: undefined, rttZero: false };
      const want = toLineProtocol(pingPoint({ ok: true, ip: r.ip, rttMs, sentAtMs: timeMs }, { timeMs }), {
        unsignedAsInteger: false,
      });
      assert.equal(rawPingLine(r, ',ip=192.0.2.8'), want);
    }),
  );
});

/** The tag part toLineProtocol renders for an encoded tag set. */
function toLineProtocolTags(tags: Readonly<Record<string, string>>): string {
  const line = toLineProtocol(
    { measurement: 'm', tags, fields: { f: field.bool(true) }, timeMs: 1000 },
    {
      unsignedAsInteger: false,
    },
  )!;
  return line.slice(1, line.indexOf(' f=T'));
}
