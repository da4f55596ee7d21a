import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addWriterCounters, emptyWriterStats, sumWriterStats } from './ledger.js';

const busy = () => ({
  ...emptyWriterStats(),
  pointsReceived: 10,
  pointsWritten: 4,
  pointsDropped: 1,
  pointsSpooled: 3,
  batchesOk: 2,
  batchesFailed: 1,
  spoolPoints: 3,
  spoolBytes: 300,
  queueDepth: 2,
  inFlightPoints: 0,
  droppedByReason: { ...emptyWriterStats().droppedByReason, buffer_full: 1 },
  writeErrors: { ...emptyWriterStats().writeErrors, retry: 1 },
  lastError: 'boom',
  lastErrorMs: 7,
  lastSuccessMs: 9,
  state: 'spooling' as const,
});

test('adding counters leaves the gauges, the last error and the state alone', () => {
  const into = addWriterCounters(emptyWriterStats(), busy());
  assert.deepEqual(into, {
    ...emptyWriterStats(),
    pointsReceived: 10,
    pointsWritten: 4,
    pointsDropped: 1,
    pointsSpooled: 3,
    batchesOk: 2,
    batchesFailed: 1,
    droppedByReason: busy().droppedByReason,
    writeErrors: busy().writeErrors,
  });
});

test('summing writers adds counters and gauges, keeps the latest error and the first state that is not writing', () => {
  const writing = {
    ...emptyWriterStats(),
    pointsReceived: 1,
    queueDepth: 1,
    lastSuccessMs: 20,
    state: 'writing' as const,
  };
  const sum = sumWriterStats([writing, busy()]);
  assert.deepEqual(sum, { ...busy(), pointsReceived: 11, queueDepth: 3, lastSuccessMs: 20 });
  assert.equal(sumWriterStats([writing]).state, 'writing');
  assert.equal(sumWriterStats([]).state, 'idle');
});
