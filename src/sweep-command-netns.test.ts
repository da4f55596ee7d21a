// `netscan sweep` as operators run it (the compiled binary) against fping on the same targets,
// in a private network namespace where nft drops echo requests to some addresses. Needs a build
// (`npx tsc -p tsconfig.json`), root for the namespaces, and fping.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canonicalIp } from '../internal/net/ipv6.js';
import { lastJsonLine, netnsAvailable, nftRuleset, runInNetns } from '../internal/testkit/netns.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
interface Pair {
  netscan: Run;
  fping: Run;
}
interface Result {
  ipv6: Pair;
  dualStack: Pair;
  mixed: Pair & { fpingX1: Run };
  dead: Pair;
  alive: Pair;
  unreachable: Pair;
  file: Pair;
  stdin: Pair;
  cidr: Pair;
  count: Pair;
  names: Pair;
  usage: { badTarget: Run; badFlag: Run; both: Run };
}

const script = fileURLToPath(new URL('./testdata/sweep-vs-fping.ts', import.meta.url));
const built = existsSync(fileURLToPath(new URL('../dist/cmd/netscan.js', import.meta.url)));
const hasFping = spawnSync('fping', ['-v'], { stdio: 'ignore' }).status === 0;
const skip = !netnsAvailable()
  ? 'needs root and unshare -n'
  : !hasFping
    ? 'needs fping'
    : !built
      ? 'needs a build (npx tsc -p tsconfig.json)'
      : false;

const dropped = ['127.0.9.3', '127.0.9.5', '127.0.9.7'];
const lines = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .sort();

describe('netscan sweep against fping in a private namespace', { skip }, () => {
  let result: Result;
  test('runs both on the same targets', async () => {
    const res = await runInNetns({ script, nftRuleset: nftRuleset({ dropEchoTo: dropped }), timeoutMs: 120_000 });
    assert.equal(res.code, 0, res.stderr);
    result = lastJsonLine<Result>(res);
  });

  test('finds the same alive set; exits 0 when a target answered (fping -x 1), 1 when none did', () => {
    const { mixed, dead, alive } = result;
    assert.deepEqual(lines(mixed.netscan.stdout), lines(mixed.fping.stdout));
    assert.deepEqual(lines(mixed.netscan.stdout), ['127.0.9.1']);
    assert.deepEqual([mixed.netscan.code, mixed.fpingX1.code, mixed.fping.code], [0, 0, 1]);
    assert.deepEqual([dead.netscan.code, dead.fping.code, dead.netscan.stdout, dead.fping.stdout], [1, 1, '', '']);
    assert.deepEqual([alive.netscan.code, alive.fping.code], [0, 0]);
    assert.deepEqual(lines(alive.netscan.stdout), lines(alive.fping.stdout));
  });

  test('sweeps an IPv6 prefix of a ULA test bed: every address found, the same set as fping -6', () => {
    const { netscan, fping } = result.ipv6;
    assert.equal(netscan.code, 0, netscan.stderr);
    assert.equal(lines(netscan.stdout).length, 256);
    // fping echoes addresses as given (fd00:1::0); netscan prints the canonical RFC 5952 form (fd00:1::).
    assert.deepEqual(
      lines(netscan.stdout),
      lines(fping.stdout)
        .map((ip) => canonicalIp(ip) ?? ip)
        .sort(),
    );
    assert.ok(
      netscan.stdout.includes('fd00:1::\n') && netscan.stdout.includes('fd00:1::ff\n'),
      'canonical RFC 5952 text',
    );
  });

  test('mixes IPv4 and IPv6 targets in one sweep, as fping does', () => {
    const { netscan, fping } = result.dualStack;
    assert.equal(netscan.code, 0, netscan.stderr);
    assert.deepEqual(lines(netscan.stdout), ['127.0.9.1', '::1', 'fd00:1::7', 'fd00:1::8', 'fd00:1::9']);
    assert.deepEqual(lines(netscan.stdout), lines(fping.stdout));
  });

  test('-u prints the same unreachable set', () => {
    assert.deepEqual(lines(result.unreachable.netscan.stdout), ['127.0.9.3', '127.0.9.5']);
    assert.deepEqual(lines(result.unreachable.netscan.stdout), lines(result.unreachable.fping.stdout));
  });

  test('reads targets from -f FILE and from standard input, comments and blank lines ignored', () => {
    for (const r of [result.file, result.stdin]) {
      assert.deepEqual(lines(r.netscan.stdout), ['127.0.9.1', '127.0.9.10', '127.0.9.2']);
      assert.deepEqual(lines(r.netscan.stdout), lines(r.fping.stdout));
      assert.deepEqual([r.netscan.code, r.fping.code], [0, 1]);
    }
  });

  test('a CIDR finds what fping -g finds', () => {
    assert.equal(lines(result.cidr.netscan.stdout).length, 14 - dropped.length);
    assert.deepEqual(lines(result.cidr.netscan.stdout), lines(result.cidr.fping.stdout));
  });

  test('-c prints the per-target statistics fping prints, same counts and layout', () => {
    const shape = (text: string): string[] =>
      text
        .split('\n')
        .filter((l) => l.includes(' : xmt/rcv/%loss'))
        .map((l) => l.replace(/min\/avg\/max = [0-9.e+-]+\/[0-9.e+-]+\/[0-9.e+-]+$/, 'min/avg/max = N/N/N'));
    const ours = result.count.netscan.stderr;
    const theirs = result.count.fping.stderr;
    assert.deepEqual(shape(ours), [
      '127.0.9.1  : xmt/rcv/%loss = 3/3/0%, min/avg/max = N/N/N',
      '127.0.9.3  : xmt/rcv/%loss = 3/0/100%',
      '127.0.9.10 : xmt/rcv/%loss = 3/3/0%, min/avg/max = N/N/N',
    ]);
    assert.deepEqual(shape(ours), shape(theirs));
    // fping's three significant digits (0.053, 1.23, 12.3, 123), whatever the machine's load.
    const ms = String.raw`(?:0\.\d{3}|[1-9]\.\d{2}|[1-9]\d\.\d|[1-9]\d+)`;
    assert.match(ours, new RegExp(`127\\.0\\.9\\.1  : .*min/avg/max = ${ms}/${ms}/${ms}\n`));
    assert.deepEqual(lines(result.count.netscan.stdout), ['127.0.9.1', '127.0.9.10']);
    assert.deepEqual([result.count.netscan.code, result.count.fping.code], [0, 1]);
  });

  test('resolves names through the system resolver and prints a name that does not resolve as fping does', () => {
    const { netscan, fping } = result.names;
    assert.deepEqual(lines(netscan.stdout), ['127.0.9.1']);
    assert.deepEqual(lines(netscan.stdout), lines(fping.stdout));
    const error = 'nx.invalid: Name or service not known';
    assert.ok(fping.stderr.split('\n').includes(error), fping.stderr);
    assert.ok(netscan.stderr.split('\n').includes(error), netscan.stderr);
    // fping exits 2 for a name it cannot resolve; netscan counts it unreachable (a target answered: 0).
    assert.deepEqual([netscan.code, fping.code], [0, 2]);
  });

  test('usage errors exit 2 with one line and no stack trace', () => {
    const { badTarget, badFlag, both } = result.usage;
    assert.deepEqual([badTarget.code, badTarget.stderr], [2, 'netscan: invalid address: 127.0.9.300\n']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /unknown option '--bogus'/);
    assert.deepEqual([both.code, both.stderr], [2, 'netscan: -a and -u exclude each other: give one\n']);
    for (const r of [badTarget, badFlag, both]) assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
