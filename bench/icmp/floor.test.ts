import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFloorLine } from './floor.js';

const LINE =
  '{"pps":20000,"seconds":3.000,"wall_s":3.203,"send_span_s":3.001,"targets":5000,"tx_stamps_on":true,"opt_id":true,"rcvbuf":67108864,' +
  '"sent":60000,"received":59990,"foreign":0,"send_errors":0,"tx_stamps":60000,"max_rss_kb":1564,"cpu_us":747961,' +
  '"cpu_us_per_ping":12.466,"rtt_avg_us":3.80,"rtt_max_us":639.4}';

test('parseFloorLine reads the JSON line floor.c prints, after any warning lines', () => {
  assert.deepEqual(parseFloorLine(`floor: ICMP_FILTER: Operation not permitted\n${LINE}\n`), {
    pps: 20000,
    seconds: 3,
    wallS: 3.203,
    sendSpanS: 3.001,
    targets: 5000,
    txStamps: true,
    sent: 60000,
    received: 59990,
    sendErrors: 0,
    txStampsRead: 60000,
    maxRssMb: 1564 / 1024,
    cpuUs: 747961,
    cpuUsPerPing: 12.466,
    rttAvgUs: 3.8,
  });
});

test('parseFloorLine names what is missing', () => {
  assert.throws(() => parseFloorLine('floor: bad arguments\n'), /floor: no JSON line in its output/);
  assert.throws(() => parseFloorLine(LINE.replace('"sent":60000,', '')), /floor: field sent missing or not a number/);
});
