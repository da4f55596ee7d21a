import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { FakeClock, flushMicrotasks } from '../internal/testkit/fake-clock.js';
import { FaultServer, faults } from '../internal/testkit/fault-server.js';
import { captureLogger } from '../internal/testkit/logger.js';
import { Agent } from './agent.js';
import type { Config } from './config/schema.js';
import { parseConfigText } from './config/load.js';

// In-process reloads on a fake clock: no network targets (networks: []), outputs in a temporary
// directory, InfluxDB played by a local fault server that never answers.

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function config(dir: string, over: Record<string, unknown> = {}): Config {
  const text = stringify({
    networks: [],
    ping_interval: '1s',
    health_check_port: 0,
    icmp_discovery_interval: '1h',
    output_file: join(dir, 'out.lp'),
    state_file: join(dir, 'state.json'),
    spool_dir: join(dir, 'spool'),
    // A FakeClock drives these agents; a probe thread would stop on real time, not on it.
    probe_thread: 'main',
    ...over,
  });
  return parseConfigText(text, { env: {} }).config;
}

async function hangingInflux(t: { after: (fn: () => Promise<void>) => void }): Promise<FaultServer> {
  const server = new FaultServer(faults.hang());
  await server.start();
  t.after(() => server.stop());
  return server;
}

/**
 * Advances the fake clock in 50 ms steps, giving real I/O (files, sockets) a millisecond of real
 * time between steps, until `p` settles; returns the simulated ms that took. Fails past `limitMs`.
 */
async function settleOnClock(clock: FakeClock, p: Promise<unknown>, limitMs = 60_000): Promise<number> {
  let done = false;
  void p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  let waited = 0;
  while (!done && waited < limitMs) {
    await clock.advanceAsync(50);
    waited += 50;
    await new Promise((resolve) => setTimeout(resolve, 1));
    await flushMicrotasks();
  }
  assert.ok(done, `did not settle within ${limitMs} simulated ms`);
  await p;
  return waited;
}

test('a reload that changes output_file_max_files rebuilds the outputs', async (t) => {
  const dir = tempDir(t);
  const { logger, lines } = captureLogger('info');
  const clock = new FakeClock();
  const agent = new Agent({ config: config(dir, { output_file_max_files: 5 }), logger, clock });
  await agent.start();
  await agent.reload(config(dir, { output_file_max_files: 1 }));
  assert.equal(lines.filter((l) => l['msg'] === 'outputs replaced').length, 1);
  await settleOnClock(clock, agent.stop());
});

test('a reload that changes shutdown_timeout bounds the final flush with the new value', async (t) => {
  const dir = tempDir(t);
  const server = await hangingInflux(t);
  const influxdb = { url: server.url, token: 'tok', org: 'o', bucket: 'b', flush_interval: '100ms' };
  const { logger } = captureLogger('info');
  const clock = new FakeClock();
  // As cmd/ builds it: no explicit close deadline, so it follows shutdown_timeout.
  const agent = new Agent({
    config: config(dir, { output_file: '', spool_max_bytes: 0, influxdb, shutdown_timeout: '20s' }),
    logger,
    clock,
  });
  await agent.start();
  await agent.reload(config(dir, { output_file: '', spool_max_bytes: 0, influxdb, shutdown_timeout: '1s' }));
  // With the start-time deadline (20 s) stop() would wait that long on the hanging server; the
  // margin above 1 s is simulated time that passed while real file and socket I/O completed.
  const took = await settleOnClock(clock, agent.stop());
  assert.ok(took < 10_000, `stop took ${took} simulated ms with shutdown_timeout 1s`);
});

test('reloading the spool A -> B -> A while A is still closing waits for the old writer before reopening A', async (t) => {
  const dir = tempDir(t);
  const server = await hangingInflux(t);
  const influxdb = { url: server.url, token: 'tok', org: 'o', bucket: 'b', flush_interval: '100ms' };
  const withSpool = (name: string): Config =>
    config(dir, {
      output_file: '',
      influxdb,
      spool_dir: join(dir, name),
      shutdown_timeout: '3s',
      health_report_interval: '100ms',
    });
  const { logger, lines } = captureLogger('info');
  const clock = new FakeClock();
  const agent = new Agent({ config: withSpool('A'), logger, clock });
  await agent.start();
  await clock.advanceAsync(500); // health points queue up against the hanging server
  await agent.reload(withSpool('B')); // A closes in the background (3 s deadline)
  const back = agent.reload(withSpool('A'));
  await settleOnClock(clock, back);
  const stopped = lines.findIndex((l) => l['msg'] === 'Writer stopped');
  const replaced = lines.map((l, i) => (l['msg'] === 'outputs replaced' ? i : -1)).filter((i) => i >= 0);
  assert.equal(replaced.length, 2);
  assert.ok(
    stopped >= 0 && stopped < replaced[1]!,
    `the writer on spool A stopped (line ${stopped}) before spool A was reopened (line ${replaced[1]})`,
  );
  await settleOnClock(clock, agent.stop());
});

test('a reload that arrives while the agent is starting is applied once every stage runs', async (t) => {
  const dir = tempDir(t);
  const { logger, lines } = captureLogger('info');
  const clock = new FakeClock();
  const agent = new Agent({ config: config(dir), logger, clock });
  const starting = agent.start();
  const reloaded = agent.reload(config(dir, { ping_interval: '2s' }));
  await starting;
  await reloaded;
  const order = lines.map((l) => l['msg']).filter((m) => m === 'netscan started' || m === 'configuration reloaded');
  assert.deepEqual(order, ['netscan started', 'configuration reloaded']);
  await settleOnClock(clock, agent.stop());
});

test('a stop that arrives while the agent is starting lets it finish, then stops everything it opened', async (t) => {
  const dir = tempDir(t);
  const { logger, lines } = captureLogger('info');
  const clock = new FakeClock();
  const agent = new Agent({ config: config(dir, { health_check_port: 0 }), logger, clock });
  const starting = agent.start();
  const stopping = agent.stop();
  await starting.catch(() => undefined);
  await settleOnClock(clock, stopping);
  const msgs = lines.map((l) => l['msg']);
  assert.ok(
    msgs.indexOf('ICMP engine stopped') > msgs.indexOf('ICMP engine started'),
    'the engine opened during start-up is closed',
  );
  assert.equal(msgs.at(-1), 'netscan stopped');
});

test('a reload whose new outputs cannot start is rejected and the running outputs stay', async (t) => {
  const dir = tempDir(t);
  const server = await hangingInflux(t);
  const { logger, lines } = captureLogger('info');
  const clock = new FakeClock();
  const agent = new Agent({ config: config(dir), logger, clock });
  await agent.start();
  writeFileSync(join(dir, 'not-a-dir'), 'x');
  const influxdb = { url: server.url, token: 'tok', org: 'o', bucket: 'b' };
  await assert.rejects(
    agent.reload(config(dir, { influxdb, output_file: '', spool_dir: join(dir, 'not-a-dir', 'spool') })),
    /spool_dir/,
  );
  assert.equal(lines.filter((l) => l['msg'] === 'outputs replaced').length, 0);
  assert.equal(agent.healthDocument().output_state, 'writing');
  assert.equal(agent.config.spool_dir, join(dir, 'spool'));
  await settleOnClock(clock, agent.stop());
});

test('outputs that could not start after a hand-over report influxdb_ok false and not ready', async (t) => {
  const dir = tempDir(t);
  const { logger } = captureLogger('info');
  const clock = new FakeClock();
  const agent = new Agent({ config: config(dir), logger, clock });
  await agent.start();
  writeFileSync(join(dir, 'not-a-dir'), 'x');
  const server = await hangingInflux(t);
  const influxdb = { url: server.url, token: 'tok', org: 'o', bucket: 'b' };
  // Same output file: a hand-over (old outputs close first), then the new ones fail to start.
  await settleOnClock(clock, agent.reload(config(dir, { influxdb, spool_dir: join(dir, 'not-a-dir', 'spool') })));
  const health = agent.healthDocument();
  assert.equal(health.influxdb_ok, false);
  assert.equal(agent.readiness().ready, false);
  await settleOnClock(clock, agent.stop());
});

test('a rejected reload is counted in /health and /metrics, and the last reload says whether it applied', async (t) => {
  const dir = tempDir(t);
  const { logger } = captureLogger('info');
  const clock = new FakeClock();
  let next: () => Config = () => config(dir, { ping_interval: '2s' });
  const agent = new Agent({
    config: config(dir),
    logger,
    clock,
    loadConfig: async () => ({ config: next(), warnings: [] }),
  });
  await agent.start();
  let stopped = false;
  t.after(async () => {
    if (!stopped) await settleOnClock(clock, agent.stop());
  });
  const figures = () => {
    const h = agent.healthDocument();
    return [h['config_reloads'], h['config_reload_failures'], h['config_last_reload_ok']];
  };
  assert.deepEqual(figures(), [0, 0, true]);
  next = () => parseConfigText('ping_interval: 5\n', { env: {} }).config;
  assert.equal((await agent.reloadFromSource()).ok, false);
  assert.deepEqual(figures(), [0, 1, false], 'the old config runs on, and the failure shows');
  assert.equal(agent.config.ping_interval, 1000);
  next = () => config(dir, { ping_interval: '2s' });
  assert.equal((await agent.reloadFromSource()).ok, true);
  assert.deepEqual(figures(), [1, 1, true]);
  stopped = true;
  await settleOnClock(clock, agent.stop());
});
