import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Gauge, Registry } from 'prom-client';
import { HealthServer, type HealthServerOptions } from './health-server.js';
import { silentLogger } from '../testkit/logger.js';
import { hasCode } from '../errors/errors.js';

function server(over: Partial<HealthServerOptions> = {}): HealthServer {
  const registry = new Registry();
  new Gauge({ name: 'netscan_devices', help: 'devices', registers: [registry] }).set(7);
  return new HealthServer({
    port: 0, host: '127.0.0.1', registry, logger: silentLogger(),
    health: () => ({ status: 'healthy', version: '1.2.3', device_count: 7 }),
    readiness: () => ({ ready: true }),
    ...over,
  });
}

async function get(s: HealthServer, path: string, method = 'GET'): Promise<{ status: number; body: string; type: string | null }> {
  const r = await fetch(`http://127.0.0.1:${s.port}${path}`, { method });
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') };
}

test('serves /health JSON, /health/live, /health/ready and /metrics', async () => {
  const s = server();
  await s.start();
  try {
    const h = await get(s, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.type, 'application/json');
    assert.deepEqual(JSON.parse(h.body), { status: 'healthy', version: '1.2.3', device_count: 7 });
    assert.deepEqual(await get(s, '/health/live'), { status: 200, body: 'ALIVE', type: 'text/plain; charset=utf-8' });
    assert.equal((await get(s, '/health/ready')).body, 'READY');
    const m = await get(s, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^netscan_devices 7$/m);
    assert.equal((await get(s, '/nope')).status, 404);
  } finally {
    await s.stop();
  }
});

test('/health/ready answers 503 with the reason when not ready', async () => {
  const s = server({ readiness: () => ({ ready: false, reason: 'state not loaded' }) });
  await s.start();
  try {
    assert.deepEqual(await get(s, '/health/ready'), { status: 503, body: 'NOT READY: state not loaded', type: 'text/plain; charset=utf-8' });
  } finally {
    await s.stop();
  }
});

test('POST /-/reload reports success or the problems, other methods are refused', async () => {
  let calls = 0;
  const s = server({ reload: async () => (++calls === 1 ? { ok: true, problems: [] } : { ok: false, problems: ['ping_interval: is required'] }) });
  await s.start();
  try {
    assert.equal((await get(s, '/-/reload', 'GET')).status, 405);
    assert.equal((await get(s, '/-/reload', 'POST')).status, 200);
    const bad = await get(s, '/-/reload', 'POST');
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { ok: false, problems: ['ping_interval: is required'] });
    const refused = await fetch(`http://127.0.0.1:${s.port}/-/reload`, { method: 'PUT' });
    assert.equal(refused.headers.get('allow'), 'POST');
    // What a web page's cross-site form POST looks like: refused, the reload never runs.
    const crossSite = await fetch(`http://127.0.0.1:${s.port}/-/reload`, { method: 'POST', headers: { origin: 'http://evil.example' } });
    assert.equal(crossSite.status, 403);
    assert.equal(calls, 2);
  } finally {
    await s.stop();
  }
});

test('a busy port is an ERR_HEALTH error naming the address, and stop is idempotent', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const s = server({ port });
  await assert.rejects(s.start(), (err: unknown) => hasCode(err, 'ERR_HEALTH') && /127\.0\.0\.1:\d+: address already in use/.test((err as Error).message));
  await Promise.all([s.stop(), s.stop()]);
  blocker.close();
});
