// MANUAL.md's commands for loading the line-protocol file, run as written against a real
// influxd 1.6.7 on a file the real agent wrote: every point loads, at its own time (not 1970).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgentProcess } from '../internal/testkit/agent-process.js';
import { InfluxDb1 } from '../internal/testkit/influxdb1.js';
import { pollUntil } from '../internal/testkit/server-process.js';

const haveTools = spawnSync('influxd', ['version']).status === 0 && spawnSync('curl', ['--version']).status === 0;

/** The first ```sh block after the heading `title` in MANUAL.md. */
export function manualShellBlock(title: string): string {
  const manual = readFileSync(new URL('../MANUAL.md', import.meta.url), 'utf8');
  const at = manual.indexOf(title);
  assert.ok(at >= 0, `MANUAL.md has "${title}"`);
  const m = /```sh\n([\s\S]*?)```/.exec(manual.slice(at));
  assert.ok(m, `a sh block after "${title}"`);
  return m[1]!;
}

test(
  'the file output loads into InfluxDB 1.x with the commands MANUAL.md gives',
  { timeout: 90_000, skip: haveTools ? false : 'needs influxd and curl' },
  async (t) => {
    const agent = await AgentProcess.start({ config: { networks: ['127.0.92.0/30'] } });
    t.after(() => agent.dispose());
    await pollUntil(
      async () => agent.points(),
      (p) => p.some((x) => x.measurement === 'ping_summary') && p.some((x) => x.measurement === 'health_metrics'),
      { deadlineMs: 30_000, intervalMs: 250 },
    );
    assert.deepEqual(await agent.stop(), { code: 0, signal: null });
    const lines = readFileSync(join(agent.dir, 'out.lp'), 'utf8').trim().split('\n');
    assert.ok(
      lines.some((l) => /=\d+i[, ]/.test(l)),
      'integer fields present',
    );
    assert.ok(!lines.some((l) => /=\d+u([, ]|$)/.test(l)), 'no unsigned fields (InfluxDB 1.x refuses them)');

    const influx = new InfluxDb1();
    await influx.start();
    t.after(() => influx.dispose());
    const work = mkdtempSync(join(tmpdir(), 'netscan-replay-'));
    t.after(() => rmSync(work, { recursive: true, force: true }));
    mkdirSync(join(work, 'data'));
    copyFileSync(join(agent.dir, 'out.lp'), join(work, 'data', 'points.lp'));
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', manualShellBlock('#### Loading the line-protocol file')], {
      cwd: work,
      env: { ...process.env, INFLUX: influx.url },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stdout, /"error"/, run.stdout);

    const count = async (db: string, m: string): Promise<number> =>
      Number(
        (await influx.query(db, `SELECT count(*) FROM "${m}"`))[0]?.values[0]
          ?.slice(1)
          .reduce((a, b) => Math.max(Number(a), Number(b)), 0) ?? 0,
      );
    const expect = (m: string): number => lines.filter((l) => l.startsWith(`${m},`) || l.startsWith(`${m} `)).length;
    assert.equal(await count('netscan', 'ping'), expect('ping'));
    assert.equal(await count('netscan', 'ping_summary'), expect('ping_summary'));
    assert.equal(await count('health', 'health_metrics'), expect('health_metrics'));
    const newest = (await influx.query('netscan', 'SELECT last("success") FROM "ping"'))[0]?.values[0]?.[0] as number;
    assert.ok(
      Math.abs(newest - Date.now()) < 3_600_000,
      `points keep their time (got ${new Date(newest).toISOString()})`,
    );
  },
);
