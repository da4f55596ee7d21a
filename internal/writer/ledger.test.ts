import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ledger } from './ledger.js';

const state = { state: 'writing', spoolBytes: 0 } as const;

function gauges(l: Ledger): Record<string, number> {
  const s = l.stats(state);
  return {
    received: s.pointsReceived,
    written: s.pointsWritten,
    dropped: s.pointsDropped,
    queue: s.queueDepth,
    inFlight: s.inFlightPoints,
    spool: s.spoolPoints,
  };
}

test('every transition keeps the books balanced, and each moves points where its name says', () => {
  const l = new Ledger();
  const steps: Array<[string, () => void, Record<string, number>]> = [
    [
      'accept 10',
      () => {
        for (let i = 0; i < 10; i++) l.accept();
      },
      { received: 10, written: 0, dropped: 0, queue: 10, inFlight: 0, spool: 0 },
    ],
    [
      'refuse one invalid',
      () => l.refuse('invalid'),
      { received: 11, written: 0, dropped: 1, queue: 10, inFlight: 0, spool: 0 },
    ],
    [
      'shed 2',
      () => l.dropQueued('buffer_full', 2),
      { received: 11, written: 0, dropped: 3, queue: 8, inFlight: 0, spool: 0 },
    ],
    [
      'send 3 from memory',
      () => l.send(3, 'memory'),
      { received: 11, written: 0, dropped: 3, queue: 5, inFlight: 3, spool: 0 },
    ],
    [
      'written 3',
      () => l.written(3, 'memory'),
      { received: 11, written: 3, dropped: 3, queue: 5, inFlight: 0, spool: 0 },
    ],
    [
      'append 4 to the spool',
      () => l.spoolBegin(4),
      { received: 11, written: 3, dropped: 3, queue: 5, inFlight: 0, spool: 0 },
    ],
    [
      'the append lands, 1 older point lost for space',
      () => l.spoolEnd(4, 1),
      { received: 11, written: 3, dropped: 4, queue: 1, inFlight: 0, spool: 3 },
    ],
    [
      'a previous run left 5',
      () => l.recover(5),
      { received: 11, written: 3, dropped: 4, queue: 1, inFlight: 0, spool: 8 },
    ],
    ['replay 3', () => l.send(3, 'spool'), { received: 11, written: 3, dropped: 4, queue: 1, inFlight: 3, spool: 5 }],
    [
      'a partial write: 2 stored, 1 rejected',
      () => {
        l.written(2, 'spool');
        l.dropSent('rejected', 1, 'spool');
      },
      { received: 11, written: 5, dropped: 5, queue: 1, inFlight: 0, spool: 5 },
    ],
    [
      'replay 2, split back to memory',
      () => {
        l.send(2, 'spool');
        l.unsent(2, 'spool', 'memory');
      },
      { received: 11, written: 5, dropped: 5, queue: 3, inFlight: 0, spool: 3 },
    ],
    [
      'an append fails back to memory',
      () => {
        l.spoolBegin(3);
        l.spoolRefused(3);
      },
      { received: 11, written: 5, dropped: 5, queue: 3, inFlight: 0, spool: 3 },
    ],
    [
      'a replay is released, its segment gone',
      () => {
        l.send(3, 'spool');
        l.dropSent('spool_full', 3, 'spool');
      },
      { received: 11, written: 5, dropped: 8, queue: 3, inFlight: 0, spool: 0 },
    ],
    [
      'close drops what is left',
      () => l.dropQueued('shutdown', 3),
      { received: 11, written: 5, dropped: 11, queue: 0, inFlight: 0, spool: 0 },
    ],
  ];
  for (const [what, step, want] of steps) {
    step();
    assert.deepEqual(gauges(l), want, what);
    l.check();
  }
  assert.deepEqual(l.stats(state).droppedByReason, {
    buffer_full: 2,
    spool_full: 4,
    rejected: 1,
    too_large: 0,
    invalid: 1,
    closed: 0,
    shutdown: 3,
  });
  assert.equal(l.stats(state).pointsSpooled, 4);
});

test('check names every broken rule: a place gone negative, and a queue that holds other than the books say', () => {
  const l = new Ledger();
  l.accept();
  l.send(2, 'memory');
  assert.throws(() => l.check({ queuedPoints: 0 }), {
    message:
      'writer books do not balance: queued is -1; queued -1 but the queue holds 0 ' +
      '{"received":1,"recovered":0,"written":0,"dropped":0,"queued":-1,"spooling":0,"inFlight":2,"inFlightFromSpool":0,"spooled":0}',
  });
  const m = new Ledger();
  m.send(1, 'spool');
  m.written(1, 'memory');
  assert.throws(() => m.check(), /spooled is -1; inFlightFromSpool 1 > inFlight 0/);
});

test('request outcomes are counted by class with the last error', () => {
  const l = new Ledger();
  l.requestOk(1000);
  l.requestFailed({ errorClass: 'retry', message: 'HTTP 500' }, 2000);
  l.requestFailed({ errorClass: 'throttle', message: 'HTTP 429' }, 3000);
  const s = l.stats(state);
  assert.deepEqual(
    [
      s.batchesOk,
      s.batchesFailed,
      s.writeErrors.retry,
      s.writeErrors.throttle,
      s.lastError,
      s.lastErrorMs,
      s.lastSuccessMs,
    ],
    [1, 2, 1, 1, 'HTTP 429', 3000, 1000],
  );
});
