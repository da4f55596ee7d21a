import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zeroIcmpEngineStats } from '../icmp/engine-options.js';
import { withEndedEngines } from './probe-thread-stats.js';

test('engine counters of ended threads add to the running one; gauges stay the running one’s', () => {
  const ended = {
    ipv4: { ...zeroIcmpEngineStats('ipv4'), sent: 100, replies: 98, timeouts: 2, inFlight: 7, socketsOpen: 1 },
    ipv6: { ...zeroIcmpEngineStats('ipv6'), sent: 5, replies: 5 },
  };
  const now = {
    ipv4: { ...zeroIcmpEngineStats('ipv4'), sent: 10, replies: 9, inFlight: 3, socketsOpen: 1 },
    ipv6: undefined,
  };
  const sum = withEndedEngines(ended, now)!;
  assert.equal(sum.ipv4!.sent, 110);
  assert.equal(sum.ipv4!.replies, 107);
  assert.equal(sum.ipv4!.timeouts, 2);
  assert.equal(sum.ipv4!.inFlight, 3, 'in flight now, not ever');
  assert.equal(sum.ipv4!.socketsOpen, 1);
  assert.equal(sum.ipv6!.sent, 5, 'a family the new thread has not started keeps its count');
  assert.equal(sum.ipv6!.inFlight, 0);
  const down = withEndedEngines(ended, undefined)!;
  assert.equal(down.ipv4!.sent, 100);
  assert.equal(down.ipv4!.inFlight, 0, 'no thread, nothing in flight');
  assert.equal(down.ipv4!.socketsOpen, 0);
  assert.equal(withEndedEngines(undefined, now), now);
});
