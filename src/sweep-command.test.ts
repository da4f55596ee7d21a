import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NetscanError } from '../internal/errors/errors.js';
import { FakeClock } from '../internal/testkit/fake-clock.js';
import { TargetPinger } from '../internal/testkit/fake-icmp.js';
import { netnsAvailable, runInNetns } from '../internal/testkit/netns.js';
import type { PingOptions, PingOutcome } from '../internal/model/ping.js';
import type { SweepCommandOptions } from './sweep-argv.js';
import { runSweepCommand, type SweepCommandIo } from './sweep-command.js';

function sink(): { write(chunk: string): boolean; text: string } {
  return {
    text: '',
    write(chunk: string) {
      this.text += chunk;
      return true;
    },
  };
}

const base: SweepCommandOptions = {
  targets: ['127.0.0.0/29'],
  exclude: [],
  ratePps: 1000,
  timeoutMs: 100,
  retries: 0,
  json: false,
};

async function run(
  opts: Partial<SweepCommandOptions>,
  io: Partial<SweepCommandIo> = {},
  configure?: (p: TargetPinger) => void,
) {
  const clock = new FakeClock();
  const pinger = new TargetPinger(clock);
  pinger.targets.set('127.0.0.2', { rttMs: 0.0214 });
  pinger.targets.set('127.0.0.5', { rttMs: 1.5 });
  configure?.(pinger);
  const stdout = sink();
  const stderr = sink();
  let code: number | undefined;
  const done = runSweepCommand({ ...base, ...opts }, { stdout, stderr, isTTY: false, clock, pinger, ...io }).then(
    (c) => {
      code = c;
    },
  );
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
    const lines = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(
      lines.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        { ip: '127.0.0.2', rtt_ms: 0.021 },
        { ip: '127.0.0.5', rtt_ms: 1.5 },
      ],
    );
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
    const done = runSweepCommand(
      { ...base, targets: ['127.0.0.0/24'], ratePps: 10 },
      { stdout: sink(), stderr, isTTY: false, clock, pinger, signal: ac.signal },
    );
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
      stdout: sink(),
      stderr,
      isTTY: false,
      openSocket: () => {
        throw new NetscanError('ERR_ICMP_PERMISSION', 'netscan needs CAP_NET_RAW (advice)');
      },
    });
    assert.equal(code, 1);
    assert.equal(stderr.text, 'netscan: netscan needs CAP_NET_RAW (advice)\n');
  });

  test('prints IPv6 targets in canonical text through the pinger, with IPv4 ones in one sweep', async () => {
    const r = await run({ targets: ['FD00:1:0::2a', 'fd00:1::/126', '127.0.0.2'] }, {}, (p) => {
      p.targets.set('fd00:1::2a', { rttMs: 1 });
      p.targets.set('fd00:1::3', { rttMs: 1 });
    });
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['127.0.0.2', 'fd00:1::2a', 'fd00:1::3']);
    assert.match(r.stderr, /^scanned 6, alive 3,/);
  });

  test('-u prints the silent targets, -q prints none, --order address sorts IPv4 before IPv6', async () => {
    const targets = ['127.0.0.0/29', 'fd00::9', 'fd00::1:0'];
    const u = await run({ targets, show: 'unreachable', order: 'address' });
    assert.equal(u.code, 0, 'two targets answered');
    assert.equal(u.stdout, ['127.0.0.1', '127.0.0.3', '127.0.0.4', '127.0.0.6', 'fd00::9', 'fd00::1:0', ''].join('\n'));
    const a = await run({ targets: ['127.0.0.0/24'], order: 'address' }, {}, (p) =>
      p.targets.set('127.0.0.10', { rttMs: 1 }),
    );
    assert.equal(a.stdout, '127.0.0.2\n127.0.0.5\n127.0.0.10\n');
    const q = await run({ targets, quiet: true });
    assert.deepEqual([q.code, q.stdout], [0, '']);
    assert.match(q.stderr, /^scanned 8, alive 2,/);
  });

  test('exits 1 when no target answered, and 0 as soon as one did', async () => {
    const none = await run({ targets: ['127.0.0.3', '127.0.0.4'] });
    assert.deepEqual([none.code, none.stdout], [1, '']);
    const one = await run({ targets: ['127.0.0.3', '127.0.0.5'] });
    assert.deepEqual([one.code, one.stdout], [0, '127.0.0.5\n']);
  });

  test('-c sends N requests to each target and prints fping statistics on stderr in address order', async () => {
    const r = await run(
      {
        targets: ['127.0.0.10', '127.0.0.2', '127.0.0.3', '127.0.0.5', '127.0.0.7'],
        count: 3,
        periodMs: 20,
        show: 'alive',
      },
      {},
      (p) => {
        p.targets.set('127.0.0.10', { rttMs: 12.345 });
        p.targets.set('127.0.0.7', (attempt) => (attempt === 1 ? { rttMs: 0.5 } : { reason: 'timeout' }));
      },
    );
    assert.equal(r.code, 0);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), [
      '127.0.0.10',
      '127.0.0.2',
      '127.0.0.5',
      '127.0.0.7',
    ]);
    const lines = r.stderr.split('\n');
    assert.deepEqual(lines.slice(0, 5), [
      '127.0.0.2  : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.021/0.021/0.021',
      '127.0.0.3  : xmt/rcv/%loss = 3/0/100%',
      '127.0.0.5  : xmt/rcv/%loss = 3/3/0%, min/avg/max = 1.50/1.50/1.50',
      '127.0.0.7  : xmt/rcv/%loss = 3/1/66%, min/avg/max = 0.500/0.500/0.500',
      '127.0.0.10 : xmt/rcv/%loss = 3/3/0%, min/avg/max = 12.3/12.3/12.3',
    ]);
    assert.match(lines[5]!, /^scanned 5, alive 4, /);
    const q = await run({ targets: ['127.0.0.3'], count: 2, periodMs: 20, quiet: true });
    assert.deepEqual([q.code, q.stdout, q.stderr.split('\n')[0]], [1, '', '127.0.0.3 : xmt/rcv/%loss = 2/0/100%']);
  });

  test('resolves host names to every address, prints a name that does not resolve as fping does and counts it unreachable', async () => {
    const asked: string[] = [];
    const lookup = async (name: string, family: 0 | 4 | 6): Promise<string[]> => {
      asked.push(`${name}/${family}`);
      if (name === 'gw.test') return ['127.0.0.2', '127.0.0.5', '127.0.0.2'];
      if (name === 'six.test') return ['0:0:0:0:0:0:0:1'];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    };
    const r = await run({ targets: ['gw.test', 'nx.invalid', 'six.test'] }, { lookup }, (p) =>
      p.targets.set('::1', { rttMs: 1 }),
    );
    assert.equal(r.code, 0);
    assert.deepEqual(asked.sort(), ['gw.test/0', 'nx.invalid/0', 'six.test/0']);
    assert.deepEqual(r.stdout.split('\n').filter(Boolean).sort(), ['127.0.0.2', '127.0.0.5', '::1']);
    assert.match(r.stderr, /^nx\.invalid: Name or service not known\nscanned 3, alive 3,/);
    const alone = await run({ targets: ['nx.invalid'] }, { lookup });
    assert.deepEqual([alone.code, alone.stdout], [1, '']);
    assert.match(alone.stderr, /^nx\.invalid: Name or service not known\nscanned 0, alive 0,/);
    const again = await run(
      { targets: ['nx.invalid'] },
      { lookup: () => Promise.reject(Object.assign(new Error('x'), { code: 'EAI_AGAIN' })) },
    );
    assert.match(again.stderr, /^nx\.invalid: Temporary failure in name resolution\n/);
  });

  test('prints send errors and ICMP errors once per address instead of swallowing them', async () => {
    const clock = new FakeClock();
    const pinger = new TargetPinger(clock);
    pinger.targets.set('127.0.0.2', { rttMs: 1 });
    const failures: Record<string, PingOutcome> = {
      '127.0.0.3': { ok: false, ip: '127.0.0.3', reason: 'unreachable', sentAtMs: 0, detail: 'Network is unreachable' },
      '127.0.0.4': { ok: false, ip: '127.0.0.4', reason: 'send_error', sentAtMs: 0, detail: 'Operation not permitted' },
      '127.0.0.5': {
        ok: false,
        ip: '127.0.0.5',
        reason: 'unreachable',
        sentAtMs: 0,
        detail: 'host unreachable (from 127.0.0.1)',
      },
    };
    const ping = pinger.ping.bind(pinger);
    const failing = {
      ping: (ip: string, o: PingOptions) => (failures[ip] ? Promise.resolve(failures[ip]) : ping(ip, o)),
    };
    const stdout = sink();
    const stderr = sink();
    const done = runSweepCommand(
      { ...base, targets: ['127.0.0.2-127.0.0.5'], retries: 2 },
      { stdout, stderr, isTTY: false, clock, pinger: failing },
    );
    for (let i = 0; i < 50; i++) await clock.advanceAsync(50);
    assert.equal(await done, 0);
    assert.deepEqual(stderr.text.split('\n').slice(0, 3).sort(), [
      '127.0.0.3: error while sending ping: Network is unreachable',
      '127.0.0.4: error while sending ping: Operation not permitted',
      '127.0.0.5: host unreachable (from 127.0.0.1)',
    ]);
    assert.match(stderr.text.split('\n')[3]!, /^scanned 4, alive 1,/);
  });

  test('keeps the progress bar on screen: each printed line lifts it and it is redrawn below', async () => {
    const screen = sink();
    const r = await run(
      { targets: ['127.0.0.0/24'], ratePps: 100 },
      { isTTY: true, stdoutIsTTY: true, stdout: screen, stderr: screen },
      (p) => {
        p.targets.set('127.0.0.10', { reason: 'send_error' });
      },
    );
    assert.equal(r.code, 0);
    const bar = String.raw`\r\x1b\[K\[[#-]{30}\] \d+% \d+\/254 alive \d`;
    for (const line of ['127.0.0.2', '127.0.0.5', '127.0.0.10: error while sending ping: send_error']) {
      assert.match(screen.text, new RegExp(`(\\n|\\r\\x1b\\[K)${line.replaceAll('.', '\\.')}\\n${bar}`), line);
    }
    assert.match(screen.text, /\r\x1b\[Kscanned 254, alive 2, /);
  });

  test(
    'as uid 65534 without CAP_NET_RAW prints the advice, no stack trace, and exits 1',
    { skip: netnsAvailable() ? false : 'needs root and unshare -n' },
    async () => {
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
    },
  );
});
