import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTargetList } from './sweep-targets.js';

describe('netscan sweep', () => {
  test('reads a target list: one or more per line, blank lines and # comments ignored', () => {
    assert.deepEqual(
      parseTargetList('# routers\n127.0.0.1\n\n  127.0.0.0/30 # lab\r\nfd00::1 fd00::2\n#127.0.0.9\ngw.example'),
      ['127.0.0.1', '127.0.0.0/30', 'fd00::1', 'fd00::2', 'gw.example'],
    );
  });
});
