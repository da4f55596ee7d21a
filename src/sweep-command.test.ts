import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NetscanError, hasCode } from '../internal/errors/errors.js';
import { FakeClock } from '../internal/testkit/fake-clock.js';
import { TargetPinger } from '../internal/testkit/fake-icmp.js';
import { netnsAvailable, runInNetns } from '../internal/testkit/netns.js';
import type { PingOptions, PingOutcome } from '../internal/model/ping.js';
import { fpingMs, parseSweepCommandArgs, parseTargetList, runSweepCommand, type SweepCommandIo, type SweepCommandOptions } from './sweep-command.js';

function sink(): { write(chunk: string): boolean; text: string } {
  return { text: '', write(chunk: string) { this.text += chunk; return true; } };
}

const base: SweepCommandOptions = { targets: ['127.0.0.0/29'], exclude: [], ratePps: 1000, timeoutMs: 100, retries: 0, json: false };

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
    const r = await run({ targets: ['127.0.0.0/24', '127.0.0.0/40'] });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'netscan: invalid CIDR notation: 127.0.0.0/40\n');
    assert.equal(r.stdout, '');
  });

  test('exits 130 with a partial summary when interrupted', async () => {
    const ac = new AbortController();
    const clock = new FakeClock();
    const pinger = new TargetPinger(clock);
    const stderr = sink();
    const done = runSweepCommand({ ...base, targets: ['127.0.0.0/24'], ratePps: 10 }, { stdout: sink(), stderr, isTTY: false, clock, pinger, signal: ac.signal });
    await clock.advanceAsync(1000);
    ac.abort();
    assert.equal(await done, 130);
    assert.match(stderr.text, /^scanned \d+ of 254, alive 0, .* \(interrupted\)\n$/);
  });

  test('draws and clears a progress bar on a terminal', async () => {
    const r = await run({ targets: ['127.0.0.0/24'], ratePps: 100 }, { isTTY: true, stdoutIsTTY: false });
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
      targets: ['127.0.0.0/24', '127.0.1.0/24', '127.0.2.1'], exclude: ['127.0.0.0/30'], ratePps: 5000, timeoutMs: 250, retries: 2, json: true, inFlight: 64,
      show: 'alive', quiet: false, periodMs: 1000, order: 'arrival',
    });
    assert.deepEqual(parseSweepCommandArgs(['fd00::1', 'fd00::1-fd00::9', 'gw.example'], { unreach: true, quiet: true, count: '3', period: '20', timeout: '500', order: 'address', ipv6: true }), {
      targets: ['fd00::1', 'fd00::1-fd00::9', 'gw.example'], exclude: [], ratePps: 1000, timeoutMs: 500, retries: 1, json: false, inFlight: 1024,
      show: 'unreachable', quiet: true, periodMs: 20, order: 'address', count: 3, family: 6,
    });
  });

  test('refuses bad targets and flags with one exact line each', () => {
    const problems = (targets: string[], argv: Parameters<typeof parseSweepCommandArgs>[1]): string[] => {
      try {
        parseSweepCommandArgs(targets, argv);
        return [];
      } catch (e) {
        assert.ok(hasCode(e, 'ERR_USAGE'));
        return e.message.split('\n');
      }
    };
    assert.deepEqual(problems(['127.0.0.0/33'], { exclude: 'x', rate: '0', retries: '-1', timeout: 'soon', inFlight: '1.5', count: '0', order: 'random' }), [
      'invalid CIDR notation: 127.0.0.0/33',
      'invalid CIDR notation: x',
      '--rate must be a number > 0, got "0"',
      '--retries must be an integer 0..100, got "-1"',
      '--in-flight must be an integer 1..60000, got "1.5"',
      '--count must be an integer 1..100000, got "0"',
      '--timeout: invalid duration "soon"',
      '--order must be arrival or address, got "random"',
    ]);
    assert.deepEqual(problems([], {}), ['no targets: give them as arguments, in a file with -f FILE, or one per line on standard input']);
    assert.deepEqual(problems(['127.0.0.1'], { alive: true, unreach: true, ipv4: true, ipv6: true }), ['-a and -u exclude each other: give one', '-4 and -6 exclude each other: give one']);
    assert.deepEqual(problems(['fd00::/64', '::1', '127.0.0.300'], { ipv4: true }), [
      'IPv6 prefix fd00::/64 is too large to sweep (2^64 addresses; the limit is /112, 65536 addresses): list the hosts to probe as targets instead',
      '::1: an IPv6 target, but -4 limits the sweep to IPv4',
      'invalid address: 127.0.0.300',
    ]);
    assert.deepEqual(problems(['127.0.0.1'], { period: '-5ms', timeout: '0' }), ['--timeout must be > 0, got "0"', '--period must be >= 0, got "-5ms"']);
  });

  test('reads a target list: one or more per line, blank lines and # comments ignored', () => {
    assert.deepEqual(parseTargetList('# routers\n127.0.0.1\n\n  127.0.0.0/30 # lab\r\nfd00::1 fd00::2\n#127.0.0.9\ngw.example'), [
      '127.0.0.1', '127.0.0.0/30', 'fd00::1', 'fd00::2', 'gw.example',
    ]);
  });

  test('as uid 65534 without CAP_NET_RAW prints the advice, no stack trace, and exits 1', { skip: netnsAvailable() ? false : 'needs root and unshare -n' }, async () => {
    const moduleUrl = new URL('./sweep-command.ts', import.meta.url).href;
    const res = await runInNetns({
      withoutNetRaw: true,
      evalModule: [
        `const { runSweepCommand } = await import(${JSON.stringify(moduleUrl)});`,
        `const code = await runSweepCommand({ targets: ['127.0.0.1'], exclude: [], ratePps: 10, timeoutMs: 100, retries: 0, json: false },`,
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
