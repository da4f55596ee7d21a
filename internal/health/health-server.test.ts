import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { FakeClock } from '../testkit/fake-clock.js';
import { Gauge, Registry } from 'prom-client';
import { HealthServer, type HealthServerOptions } from './health-server.js';
import { silentLogger } from '../testkit/logger.js';
import { hasCode } from '../errors/errors.js';
import { optionError } from '../testkit/option-error.js';

function server(over: Partial<HealthServerOptions> = {}): HealthServer {
  const registry = new Registry();
  new Gauge({ name: 'netscan_devices', help: 'devices', registers: [registry] }).set(7);
  return new HealthServer({
    port: 0,
    host: '127.0.0.1',
    registry,
    logger: silentLogger(),
    health: () => ({ status: 'healthy', version: '1.2.3', device_count: 7 }),
    readiness: () => ({ ready: true }),
    ...over,
  });
}

async function get(
  s: HealthServer,
  path: string,
  method = 'GET',
): Promise<{ status: number; body: string; type: string | null }> {
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
    assert.deepEqual(await get(s, '/health/ready'), {
      status: 503,
      body: 'NOT READY: state not loaded',
      type: 'text/plain; charset=utf-8',
    });
  } finally {
    await s.stop();
  }
});

test('POST /-/reload reports success or the problems, other methods are refused', async () => {
  let calls = 0;
  const s = server({
    reload: async () =>
      ++calls === 1 ? { ok: true, problems: [] } : { ok: false, problems: ['ping_interval: is required'] },
  });
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
    const crossSite = await fetch(`http://127.0.0.1:${s.port}/-/reload`, {
      method: 'POST',
      headers: { origin: 'http://evil.example' },
    });
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
  await assert.rejects(
    s.start(),
    (err: unknown) =>
      hasCode(err, 'ERR_HEALTH') && /127\.0\.0\.1:\d+: address already in use/.test((err as Error).message),
  );
  await Promise.all([s.stop(), s.stop()]);
  blocker.close();
});

test('refuses bad options at start, naming each with its value and what is allowed, and listens on nothing', async () => {
  const s = server({ port: 70_000, maxConnections: 0, headersTimeoutMs: -1 });
  await assert.rejects(
    s.start(),
    optionError('health', [
      'port: must be an integer from 0 to 65535 (got 70000)',
      'maxConnections: must be an integer >= 1 (got 0)',
      'headersTimeoutMs: must be a finite number greater than 0 (got -1)',
    ]),
  );
  assert.equal(s.port, 0);
  await s.stop();
});

/** Sends raw bytes and returns the whole answer (the server closes or the reply ends). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      out += d;
      if (/\r\n\r\n/.test(out) && /content-length: 0|\r\n\r\n[\s\S]+/i.test(out)) sock.end();
    });
    sock.on('error', reject);
    sock.on('close', () => resolve(out));
    sock.write(bytes);
  });
}

test('read endpoints answer GET and HEAD only; anything else is 405 with Allow', async () => {
  const s = server({ reload: async () => ({ ok: true, problems: [] }) });
  await s.start();
  try {
    for (const path of ['/', '/health', '/health/live', '/health/ready', '/metrics']) {
      for (const method of ['PUT', 'DELETE', 'POST', 'PATCH']) {
        const r = await fetch(`http://127.0.0.1:${s.port}${path}`, { method });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.get('allow'), 'GET, HEAD');
        await r.text();
      }
      const head = await fetch(`http://127.0.0.1:${s.port}${path}`, { method: 'HEAD' });
      assert.equal(head.status, 200, `HEAD ${path}`);
    }
    assert.equal(s.stats().methodRefused, 20);
    const trace = await raw(s.port, 'TRACE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(trace, /^HTTP\/1\.1 405 /);
  } finally {
    await s.stop();
  }
});

test('/ lists every endpoint', async () => {
  const s = server();
  await s.start();
  try {
    const r = await get(s, '/');
    assert.equal(r.status, 200);
    for (const p of ['/health ', '/health/live', '/health/ready', '/metrics', '/-/reload'])
      assert.ok(r.body.includes(p), p);
  } finally {
    await s.stop();
  }
});

test('a reload with a body over the limit is 413 and never reloads; an empty or tiny body reloads', async () => {
  let calls = 0;
  const s = server({ reload: async () => (calls++, { ok: true, problems: [] }), maxBodyBytes: 1024 });
  await s.start();
  try {
    const big = await fetch(`http://127.0.0.1:${s.port}/-/reload`, {
      method: 'POST',
      body: 'x'.repeat(10 * 1024 * 1024),
    });
    assert.equal(big.status, 413);
    // Chunked, so the server cannot see the size up front.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode('y'.repeat(512)));
        c.close();
      },
    });
    const chunked = await fetch(`http://127.0.0.1:${s.port}/-/reload`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal(calls, 0);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/-/reload`, { method: 'POST', body: '{}' })).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${s.port}/-/reload`, { method: 'POST' })).status, 200);
    assert.equal(calls, 2);
    assert.equal(s.stats().bodyTooLarge, 2);
  } finally {
    await s.stop();
  }
});

test('a request line without HTTP/1.x is not served', async () => {
  const s = server();
  await s.start();
  try {
    const nine = await raw(s.port, 'GET /health\r\n\r\n');
    assert.doesNotMatch(nine, /"status":"healthy"/);
    const two = await raw(s.port, 'GET /health HTTP/2.0\r\nHost: x\r\n\r\n');
    assert.doesNotMatch(two, /"status":"healthy"/);
  } finally {
    await s.stop();
  }
});

test('/metrics is rendered at most once per cache interval, and concurrent requests share one render', async () => {
  const clock = new FakeClock();
  const registry = new Registry();
  let renders = 0;
  new Gauge({
    name: 'netscan_renders',
    help: 'renders',
    registers: [registry],
    collect() {
      this.set(++renders);
    },
  });
  const s = server({ registry, clock, metricsCacheMs: 1000 });
  await s.start();
  try {
    const burst = await Promise.all(Array.from({ length: 50 }, () => get(s, '/metrics')));
    assert.ok(burst.every((r) => r.status === 200 && /^netscan_renders 1$/m.test(r.body)));
    assert.equal(renders, 1);
    clock.advance(999);
    assert.match((await get(s, '/metrics')).body, /^netscan_renders 1$/m);
    clock.advance(1);
    assert.match((await get(s, '/metrics')).body, /^netscan_renders 2$/m);
    assert.deepEqual(
      { renders: s.stats().metricsRenders, cached: s.stats().metricsCached },
      { renders: 2, cached: 50 },
    );
  } finally {
    await s.stop();
  }
});

test('connections beyond the cap are closed at once while the first ones are served', async () => {
  const s = server({ maxConnections: 2 });
  await s.start();
  try {
    const held = [connect(s.port, '127.0.0.1'), connect(s.port, '127.0.0.1')];
    await Promise.all(held.map((c) => new Promise((r) => c.once('connect', r))));
    const extra = connect(s.port, '127.0.0.1');
    const closed = await new Promise<boolean>((resolve) => {
      extra.once('close', () => resolve(true));
      extra.once('error', () => resolve(true));
      extra.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
      extra.once('data', () => resolve(false));
    });
    assert.equal(closed, true);
    for (const c of held) c.destroy();
  } finally {
    await s.stop();
  }
});

test('/metrics appends the extra (per-device) text after the registry', async () => {
  const s = server({ extraMetrics: () => 'netscan_device_up{ip="127.0.0.2"} 1\n', metricsCacheMs: 0 });
  await s.start();
  try {
    const m = await get(s, '/metrics');
    assert.match(m.body, /^netscan_devices 7\n[\s\S]*^netscan_device_up\{ip="127\.0\.0\.2"\} 1$/m);
  } finally {
    await s.stop();
  }
});
