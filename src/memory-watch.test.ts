import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captureLogger } from '../internal/testkit/logger.js';
import { MemoryWatch } from './memory-watch.js';

const MB = 1048576;

test('the memory limit logs one warning when the heap passes it and one line when it is back under', () => {
  const { logger, lines } = captureLogger();
  const w = new MemoryWatch();
  for (const heapMb of [100, 300, 320, 310, 120, 90, 400]) w.check(256, logger, heapMb * MB);
  assert.deepEqual(
    lines.map((l) => [l['level'], l['msg'], l['memory_mb'], l['limit_mb']]),
    [
      ['warn', 'Memory usage exceeds limit', 300, 256],
      ['info', 'memory usage back under the limit', 120, 256],
      ['warn', 'Memory usage exceeds limit', 400, 256],
    ],
  );
});
