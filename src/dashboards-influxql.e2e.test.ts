// The shipped InfluxQL dashboards, run for real: the agent writes into a real influxd 1.6.7 for
// about a minute (SNMP from a real snmpd, two hosts dying mid-run), then every panel and variable
// query of deploy/grafana/influxql/ is run with Grafana's template variables substituted; any
// error or empty answer fails. Loopback only, inside the test suite's private namespace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AgentProcess } from '../internal/testkit/agent-process.js';
import { InfluxDb1 } from '../internal/testkit/influxdb1.js';
import { pollUntil } from '../internal/testkit/server-process.js';
import { Snmpd } from '../internal/testkit/snmpd.js';

const dir = new URL('../deploy/grafana/influxql/', import.meta.url);
const inSuiteNetns = process.env.NETSCAN_TEST_NETNS === '1';
const haveInfluxd = spawnSync('influxd', ['version']).status === 0;
// Only addresses of this test: the nft table below must not touch any other test's hosts.
const net = '127.0.91';
const dying = [`${net}.5`, `${net}.6`];
const table = 'netscan_dashboards_influxql';

interface Query {
  file: string;
  what: string;
  text: string;
}

/** Every panel target and every query variable of the InfluxQL dashboards. */
export function influxqlQueries(): Query[] {
  const out: Query[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const d = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ query: string; rawQuery?: boolean }> }>;
      templating: { list: Array<{ name: string; type: string; query: string }> };
    };
    for (const p of d.panels) {
      for (const [i, t] of p.targets.entries()) {
        assert.equal(t.rawQuery, true, `${file} "${p.title}" is a raw query`);
        out.push({ file, what: `panel "${p.title}" #${i}`, text: t.query });
      }
    }
    for (const v of d.templating.list)
      if (v.type === 'query') out.push({ file, what: `variable $${v.name}`, text: v.query });
  }
  return out;
}

/** Grafana's substitutions for an InfluxQL datasource. */
function substitute(text: string, vars: Record<string, string>): string {
  return text
    .replaceAll('$timeFilter', 'time > now() - 15m')
    .replaceAll('$__interval', '5s')
    .replaceAll('/^$ip$/', `/^${vars['ip']!.replaceAll('.', '\\.')}$/`)
    .replace(/\$([a-z_]+)/g, (m, name: string) => vars[name] ?? m);
}

test(
  'every InfluxQL dashboard query returns data from a real influxd fed by the real agent',
  {
    timeout: 180_000,
    skip: !inSuiteNetns
      ? 'needs the test suite namespace (nft rules on 127.0.91.x)'
      : !haveInfluxd
        ? 'needs influxd (Debian influxdb)'
        : false,
  },
  async (t) => {
    const queries = influxqlQueries();
    assert.ok(queries.length >= 30, `found ${queries.length} queries`);
    const influx = new InfluxDb1({ databases: ['netscan', 'health'] });
    await influx.start();
    t.after(() => influx.dispose());
    const snmpd = await Snmpd.start({
      community: 'dash-community',
      sysName: 'dash-host',
      sysLocation: 'rack 9',
      sysContact: 'noc',
      sysDescr: 'test device',
    });
    t.after(() => snmpd.stop());
    const agent = await AgentProcess.start({
      config: {
        networks: [`${net}.0/29`],
        summary_interval: '5s',
        health_report_interval: '2s',
        snmp: { community: 'dash-community', port: snmpd.port, timeout: '1s' },
        snmp_rate_limit: 100,
        ping_max_consecutive_fails: 3,
        ping_backoff_duration: '1m',
        influxdb: {
          enabled: true,
          version: 'v1',
          url: influx.url,
          database: 'netscan',
          health_database: 'health',
          flush_interval: '500ms',
        },
      },
    });
    t.after(() => agent.dispose());
    t.after(() => void spawnSync('nft', ['delete', 'table', 'inet', table]));
    await agent.waitForLog('sweep finished');
    // Healthy for a while, then two hosts die: loss, failures and suspension all reach the data.
    await pollUntil(
      () => influx.query('netscan', 'SELECT count("sent") FROM "ping_summary"'),
      (s) => s.length > 0,
      { deadlineMs: 30_000, intervalMs: 500 },
    );
    const rules = `table inet ${table} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip daddr { ${dying.join(', ')} } icmp type echo-request drop\n  }\n}\n`;
    const nft = spawnSync('nft', ['-f', '-'], { input: rules, encoding: 'utf8' });
    assert.equal(nft.status, 0, nft.stderr);
    const vars = { database: 'netscan', health_database: 'health', ip: dying[0]! };
    const failing = (): Promise<Query[]> =>
      Promise.all(
        queries.map(async (q) =>
          (await influx.query('netscan', substitute(q.text, vars)).catch(() => [])).length > 0 ? undefined : q,
        ),
      ).then((r) => r.filter((q): q is Query => q !== undefined));
    // Poll until every query answers (summaries of the dead hosts and SNMP names take a few windows).
    await pollUntil(failing, (f) => f.length === 0, { deadlineMs: 90_000, intervalMs: 2000 }).catch(() => undefined);
    const problems: string[] = [];
    for (const q of queries) {
      const text = substitute(q.text, vars);
      try {
        const series = await influx.query('netscan', text);
        if (series.length === 0 || series.every((s) => s.values.length === 0))
          problems.push(`${q.file} ${q.what}: empty result for ${text}`);
      } catch (err) {
        problems.push(`${q.file} ${q.what}: ${(err as Error).message}`);
      }
    }
    assert.deepEqual(problems, [], agent.tail());
    // A dying host shows up as what it is: loss in the window it died in, then suspended windows
    // that still say 100% loss (sent=0), so it never drops out of a "worst by loss" panel.
    const windows = (): Promise<Array<{ sent: number; loss: number | null }>> =>
      influx
        .query('netscan', `SELECT "sent", "loss_pct" FROM "ping_summary" WHERE "ip" = '${dying[0]}'`)
        .then((s) => (s[0]?.values ?? []).map((row) => ({ sent: row[1] as number, loss: row[2] as number | null })));
    const seen = await pollUntil(windows, (w) => w.some((x) => x.sent === 0), {
      deadlineMs: 60_000,
      intervalMs: 1000,
    }).catch(async () => windows());
    assert.ok(
      seen.some((x) => x.sent > 0 && (x.loss ?? 0) > 0),
      `a window with loss: ${JSON.stringify(seen)}`,
    );
    const suspended = seen.filter((x) => x.sent === 0);
    assert.ok(suspended.length > 0, `suspended windows: ${JSON.stringify(seen)}`);
    assert.deepEqual(
      suspended.map((x) => x.loss),
      suspended.map(() => 100),
      'a suspended window says loss_pct=100',
    );
  },
);
