import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NetscanError, hasCode } from '../internal/errors/errors.js';
import { FakeClock } from '../internal/testkit/fake-clock.js';
import { TargetPinger } from '../internal/testkit/fake-icmp.js';
import { netnsAvailable, runInNetns } from '../internal/testkit/netns.js';
import { parseSweepCommandArgs, runSweepCommand, type SweepCommandIo, type SweepCommandOptions } from './sweep-command.js';

function sink(): { write(chunk: string): boolean; text: string } {
  return { text: '', write(chunk: string) { this.text += chunk; return true; } };
}

const base: SweepCommandOptions = { cidrs: ['127.0.0.0/29'], exclude: [], ratePps: 1000, timeoutMs: 100, retries: 0, json: false };

async function run(opts: Partial<SweepCommandOptions>, io: Partial<SweepCommandIo> = {}, configure?: (p: TargetPinger) => void) {
  const clock = new FakeClock();
  const pinger = new TargetPinger(clock);
  pinger.targets.set('127.0.0.2', { rttMs: 0.0214 });
  pinger.targets.set('127.0.0.5', { rttMs: 1.5 });
  configure?.(pinger);
  const stdout = sink();
  const stderr = sink();
  let code: number | undefined;
  const done = runSweepCommand({ ...base, ...opts }, { stdout, stderr, isTTY: false, clock, pinger, ...io }).then((c) => { code = c; });
  for (let i = 0; i < 1000 && code === undefined; i++) await clock.advanceAsync(50);
  await done;
  return { code: code!, stdout: stdout.text, stderr: stderr.text };
}

describe('netscan sweep', () => {
  test('prints alive addresses one per line and the summary on stderr', async () => {
    const r = await run({});
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['127.0.0.2', '127.0.0.5']);
    assert.match(r.stderr, /^scanned 6, alive 2, elapsed \d+\.\d{3} s, rate \d+ pps\n$/);
  });

  test('prints one JSON object per alive host with --json, RTT rounded to the microsecond', async () => {
    const r = await run({ json: true });
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(lines.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), [
      { ip: '127.0.0.2', rtt_ms: 0.021 },
      { ip: '127.0.0.5', rtt_ms: 1.5 },
    ]);
    const summary = JSON.parse(r.stderr) as Record<string, unknown>;
    assert.deepEqual([summary.scanned, summary.alive, summary.interrupted], [6, 2, false]);
  });

  test('exits 2 with the offending CIDR on a usage error', async () => {
    const r = await run({ cidrs: ['127.0.0.0/24', '127.0.0.0/40'] });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'netscan: invalid CIDR notation: 127.0.0.0/40\n');
    assert.equal(r.stdout, '');
  });

  test('exits 130 with a partial summary when interrupted', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const pinger = new TargetPinger(clock);
    const stderr = sink();
    const done = runSweepCommand({ ...base, cidrs: ['127.0.0.0/24'], ratePps: 10 }, { stdout: sink(), stderr, isTTY: false, clock, pinger, signal: ac.signal });
    await clock.advanceAsync(1000);
    ac.abort();
    assert.equal(await done, 130);
    assert.match(stderr.text, /^scanned \d+ of 254, alive 0, .* \(interrupted\)\n$/);
  });

  test('draws and clears a progress bar on a terminal', async () => {
    const r = await run({ cidrs: ['127.0.0.0/24'], ratePps: 100 }, { isTTY: true });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^netscan: sweeping 254 addresses at up to 100 pps\n/);
    assert.match(r.stderr, /\r\x1b\[K\[#*-*\] \d+% \d+\/254 alive \d/);
    assert.match(r.stderr, /\r\x1b\[Kscanned 254, alive 2/);
  });

  test('prints the permission advice without a stack trace and exits 1', async () => {
    const stderr = sink();
    const code = await runSweepCommand(base, {
      stdout: sink(), stderr, isTTY: false,
      openSocket: () => { throw new NetscanError('ERR_ICMP_PERMISSION', 'netscan needs CAP_NET_RAW (advice)'); },
    });
    assert.equal(code, 1);
    assert.equal(stderr.text, 'netscan: netscan needs CAP_NET_RAW (advice)\n');
  });

  test('parses argv into options and lists every problem at once', () => {
    assert.deepEqual(parseSweepCommandArgs(['127.0.0.0/24', '127.0.1.0/24,127.0.2.1'], { exclude: ['127.0.0.0/30'], rate: '5000', timeout: '250ms', retries: '2', json: true, inFlight: '64' }), {
      cidrs: ['127.0.0.0/24', '127.0.1.0/24', '127.0.2.1'], exclude: ['127.0.0.0/30'], ratePps: 5000, timeoutMs: 250, retries: 2, json: true, inFlight: 64,
    });
    assert.deepEqual(parseSweepCommandArgs(['127.0.0.1'], {}), {
      cidrs: ['127.0.0.1'], exclude: [], ratePps: 1000, timeoutMs: 1000, retries: 1, json: false, inFlight: 1024,
    });
    assert.throws(() => parseSweepCommandArgs(['127.0.0.0/33'], { exclude: 'x', rate: '0', retries: '-1', timeout: 'soon', inFlight: '1.5' }), (e) =>
      hasCode(e, 'ERR_USAGE') && e.message.split('\n').length === 6 && /^invalid CIDR notation: 127\.0\.0\.0\/33\ninvalid CIDR notation: x\n--rate must be a number > 0, got "0"\n--retries must be an integer 0\.\.100, got "-1"\n--in-flight must be an integer 1\.\.60000, got "1\.5"\n--timeout: /.test(e.message));
    assert.throws(() => parseSweepCommandArgs([], {}), (e) => hasCode(e, 'ERR_USAGE') && e.message === 'at least one CIDR is required');
  });

  test('as uid 65534 without CAP_NET_RAW prints the advice, no stack trace, and exits 1', { skip: netnsAvailable() ? false : 'needs root and unshare -n' }, async () => {
    const moduleUrl = new URL('./sweep-command.ts', import.meta.url).href;
    const res = await runInNetns({
      withoutNetRaw: true,
      evalModule: [
        `const { runSweepCommand } = await import(${JSON.stringify(moduleUrl)});`,
        `const code = await runSweepCommand({ cidrs: ['127.0.0.1'], exclude: [], ratePps: 10, timeoutMs: 100, retries: 0, json: false },`,
        `  { stdout: process.stdout, stderr: process.stderr, isTTY: false });`,
        'process.exitCode = code;',
      ].join('\n'),
    });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /^netscan: netscan needs CAP_NET_RAW to send ICMP echo requests/);
    assert.match(res.stderr, /setcap cap_net_raw\+ep/);
    assert.match(res.stderr, /AmbientCapabilities=CAP_NET_RAW/);
    assert.match(res.stderr, /capabilities\.add: \["NET_RAW"\]/);
    assert.doesNotMatch(res.stderr, /\n\s+at /);
    assert.equal(res.stdout, '');
  });
});
