import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

test('a write cut short by a full disk is undone and reported: never counted as spooled or written', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-short-write-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = fileURLToPath(new URL('./testdata/short-write.ts', import.meta.url));
  // `ulimit -f` stands in for a full disk: writes past 100 KiB per file come back short.
  const run = spawnSync(
    'bash',
    ['-c', `ulimit -f 100 && exec "${process.execPath}" --import tsx "${script}" "${dir}"`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  const r = JSON.parse(run.stdout.trim()) as Record<string, unknown>;
  assert.match(String(r['spoolError']), /short write to the spool/);
  assert.equal(r['recoveredPoints'], r['spooledPoints'], 'what the spool counted is exactly what a restart replays');
  assert.equal(r['truncatedBytes'], 0, 'no torn record left behind');
  assert.match(String(r['fileError']), /short write to .*out\.lp/);
  assert.equal(r['linesInFile'], r['linesAccepted'], 'every line counted as written is in the file, whole');
  assert.equal(r['endsWithNewline'], true);
});
