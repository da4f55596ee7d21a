import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseTargetList, resolveTargets } from './sweep-targets.js';

describe('netscan sweep', () => {
  test('reads a target list: one or more per line, blank lines and # comments ignored', () => {
    assert.deepEqual(
      parseTargetList('# routers\n127.0.0.1\n\n  127.0.0.0/30 # lab\r\nfd00::1 fd00::2\n#127.0.0.9\ngw.example'),
      ['127.0.0.1', '127.0.0.0/30', 'fd00::1', 'fd00::2', 'gw.example'],
    );
  });
});

test('a name resolving to an IPv4-mapped address is swept at the IPv4 address, and that address names it', async () => {
  const r = await resolveTargets({
    targets: ['mapped.example'],
    exclude: [],
    family: undefined,
    lookup: () => Promise.resolve(['::ffff:127.0.0.7']),
    stderr: { write: () => true },
  });
  assert.deepEqual(
    r.specs.map((s) => `${s.family} ${s.text}`),
    ['ipv4 127.0.0.7'],
  );
  assert.equal(r.fromNames.get('127.0.0.7'), 'mapped.example');
});
