// The shipped PromQL dashboards, run for real: a real Prometheus scrapes the real agent (with
// prometheus.per_device on) every second while two of its hosts die mid-run, then every panel
// and variable query of deploy/grafana/promql/ is run with Grafana's template variables
// substituted; any error or empty answer fails. The alert a Prometheus user would write,
// `netscan_device_up == 0`, must name exactly the dead hosts. Loopback only, inside the test
// suite's private namespace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AgentProcess } from '../internal/testkit/agent-process.js';
import { Prometheus, type PromResult } from '../internal/testkit/prometheus.js';
import { pollUntil } from '../internal/testkit/server-process.js';

const dir = new URL('../deploy/grafana/promql/', import.meta.url);
const inSuiteNetns = process.env.NETSCAN_TEST_NETNS === '1';
const havePrometheus = spawnSync('prometheus', ['--version']).status === 0;
// Only addresses of this test: the nft table below must not touch any other test's hosts.
const net = '127.0.93';
const dying = [`${net}.5`, `${net}.6`];
const live = `${net}.2`;
const table = 'netscan_dashboards_promql';

interface Query {
  file: string;
  what: string;
  text: string;
}

/** Every panel target and every query variable of the PromQL dashboards. */
function promqlQueries(): Query[] {
  const out: Query[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const d = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
      templating: { list: Array<{ name: string; type: string; query: string }> };
    };
    for (const p of d.panels)
      for (const [i, t] of p.targets.entries()) out.push({ file, what: `panel "${p.title}" #${i}`, text: t.expr });
    for (const v of d.templating.list)
      if (v.type === 'query') out.push({ file, what: `variable $${v.name}`, text: v.query });
  }
  return out;
}

/**
 * Grafana's substitutions for a Prometheus datasource scraped every second: $__rate_interval is
 * max($__interval + scrape interval, 4 × scrape interval); `label_values(selector, label)` becomes
 * the query Grafana's series lookup amounts to.
 */
function substitute(text: string): string {
  const lv = /^label_values\((.*), *([a-z_]+)\)$/.exec(text);
  const q = lv ? `count by (${lv[2]}) (${lv[1]})` : text;
  return q
    .replaceAll('$__rate_interval', '4s')
    .replaceAll('$__range', '1m')
    .replaceAll('$__interval', '2s')
    .replaceAll('$job', 'netscan')
    .replaceAll('$ip', live);
}

const rows = (r: PromResult): number =>
  Array.isArray(r.result) && typeof r.result[0] !== 'number' ? r.result.length : 1;

test(
  'every PromQL dashboard query answers from a real Prometheus scraping the real agent; the down alert names the dead hosts',
  {
    timeout: 180_000,
    skip: !inSuiteNetns
      ? 'needs the test suite namespace (nft rules on 127.0.93.x)'
      : !havePrometheus
        ? 'needs prometheus (Debian prometheus)'
        : false,
  },
  async (t) => {
    const queries = promqlQueries();
    assert.ok(queries.length >= 30, `found ${queries.length} queries`);
    const agent = await AgentProcess.start({
      config: {
        networks: [`${net}.0/29`],
        ping_max_consecutive_fails: 3,
        ping_backoff_duration: '1m',
        prometheus: { per_device: true },
      },
    });
    t.after(() => agent.dispose());
    t.after(() => void spawnSync('nft', ['delete', 'table', 'inet', table]));
    const prom = new Prometheus({ targets: [`127.0.0.1:${agent.healthPort}`], scrapeInterval: '1s' });
    await prom.start();
    t.after(() => prom.dispose());
    await agent.waitForLog('sweep finished');
    // Healthy for a while (every host up in Prometheus), then two hosts die.
    const up = (): Promise<string[]> => prom.query('netscan_device_up == 1').then((r) => ips(r));
    const upBefore = await pollUntil(up, (x) => dying.every((ip) => x.includes(ip)) && x.includes(live), {
      deadlineMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(
      dying.every((ip) => upBefore.includes(ip)) && upBefore.includes(live),
      `up before: ${upBefore.join(' ')}\n${prom.logTail()}`,
    );
    const rules = `table inet ${table} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip daddr { ${dying.join(', ')} } icmp type echo-request drop\n  }\n}\n`;
    const nft = spawnSync('nft', ['-f', '-'], { input: rules, encoding: 'utf8' });
    assert.equal(nft.status, 0, nft.stderr);

    const down = (): Promise<string[]> => prom.query('netscan_device_up == 0').then((r) => ips(r).sort());
    assert.deepEqual(
      await pollUntil(down, (x) => x.join() === dying.join(), { deadlineMs: 30_000, intervalMs: 500 }),
      dying,
    );
    // Suspended (3 failures at 1 s) and still down: the alert holds while the breaker is open.
    await pollUntil(
      () => prom.query(`sum(netscan_devices_ping_suspended)`).then((r) => value(r)),
      (n) => n === 2,
      { deadlineMs: 30_000, intervalMs: 500 },
    );
    assert.deepEqual(await down(), dying);

    const failing = async (): Promise<string[]> => {
      const problems: string[] = [];
      for (const q of queries) {
        const text = substitute(q.text);
        try {
          const r = await prom.queryRange(text, 60, 2);
          if (rows(r) === 0) problems.push(`${q.file} ${q.what}: empty result for ${text}`);
        } catch (err) {
          problems.push(`${q.file} ${q.what}: ${(err as Error).message}`);
        }
      }
      return problems;
    };
    assert.deepEqual(
      await pollUntil(failing, (p) => p.length === 0, { deadlineMs: 30_000, intervalMs: 2000 }),
      [],
      agent.tail(),
    );
  },
);

function ips(r: PromResult): string[] {
  return Array.isArray(r.result)
    ? (r.result as Array<{ metric?: Record<string, string> }>).map((s) => s.metric?.['ip'] ?? '')
    : [];
}

function value(r: PromResult): number {
  const first = (r.result as Array<{ value?: [number, string] }>)[0];
  return first?.value ? Number(first.value[1]) : Number.NaN;
}
