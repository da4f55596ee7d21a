// The real native socket, each scenario in its own network namespace (only loopback, plus a ULA
// prefix routed to it), so nft rules and sysctls cannot disturb other tests. See
// testdata/netns-scenario.ts for the child side.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { PingOutcome } from '../model/ping.js';
import type { SweepSummary } from '../sweep/sweeper.js';
import { lastJsonLine, netnsAvailable, nftRuleset, runInNetns, type NetnsRunOptions } from '../testkit/netns.js';
import type { IcmpEngineStats } from './engine.js';
import { nativeAddonPath } from './native-socket.js';

const script = fileURLToPath(new URL('./testdata/netns-scenario.ts', import.meta.url));

async function scenario<T>(name: string, opts: Partial<NetnsRunOptions> = {}, args: string[] = []): Promise<T> {
  const res = await runInNetns({ script, args: [name, ...args], ...opts });
  assert.equal(res.code, 0, `scenario ${name} failed:\n${res.stderr}`);
  return lastJsonLine<T>(res);
}

const dead = [10, 11, 12, 50, 99, 128, 129, 130, 254].map((h) => `127.0.3.${h}`);

const addonBuilt = existsSync(nativeAddonPath());
const skip = !netnsAvailable()
  ? 'needs root and unshare -n (network namespaces)'
  : !addonBuilt
    ? 'the ICMP addon is not built (node scripts/build-native.mjs)'
    : false;

describe('IcmpEngine on the real native socket in a private namespace', { skip }, () => {
  test('finds every live host of a /24 and never reports an nft-dropped or rejected one', async () => {
    const r = await scenario<{
      alive: string[];
      summary: SweepSummary;
      rejected: PingOutcome;
      dropped: PingOutcome;
      stats: IcmpEngineStats;
    }>('aliveAndDead', { nftRuleset: nftRuleset({ dropEchoTo: dead, rejectEchoTo: ['127.0.3.200'] }) });
    const expected = Array.from({ length: 254 }, (_, i) => `127.0.3.${i + 1}`).filter(
      (ip) => !dead.includes(ip) && ip !== '127.0.3.200',
    );
    assert.deepEqual([...r.alive].sort(), [...expected].sort());
    assert.deepEqual([r.summary.scanned, r.summary.alive], [254, 244]);
    assert.equal(r.rejected.ok === false && r.rejected.reason, 'unreachable');
    // The kernel's reject answers from the address that was probed.
    assert.match(
      r.rejected.ok === false ? (r.rejected.detail ?? '') : '',
      /^host unreachable \(from 127\.0\.3\.200\)$/,
    );
    assert.equal(r.dropped.ok === false && r.dropped.reason, 'timeout');
    assert.equal(r.stats.invalid, 0);
    assert.deepEqual([r.stats.mode, r.stats.kernelStamps], ['raw', true]);
  });

  test('ignores replies with a wrong identifier, sequence, source, tag, nonce or payload, and counts a late reply as late', async () => {
    const r = await scenario<{
      silent: PingOutcome;
      answered: PingOutcome;
      stats: IcmpEngineStats;
      repliesSent: number;
    }>('forged', { sysctls: { 'net.ipv4.icmp_echo_ignore_all': '1' } });
    assert.equal(r.repliesSent, 16);
    assert.equal(r.silent.ok === false && r.silent.reason, 'timeout');
    assert.equal(r.answered.ok, true);
    assert.equal(r.stats.replies, 1);
    assert.equal(r.stats.late, 1);
    // Per request: wrong id, wrong seq, wrong source, bad tag, a flipped padding byte and a payload
    // cut to the stamp are ours but invalid; a bad nonce never reaches the engine (the socket's
    // filter drops it in the kernel).
    assert.equal(r.stats.invalid, 12);
    assert.deepEqual([r.stats.invalidIdentity, r.stats.invalidSource, r.stats.invalidPayload], [6, 2, 4]);
    assert.equal(r.stats.foreign, 0);
  });

  test('a raw engine never reads the echo replies of another raw engine beside it (the kernel drops them by nonce)', async () => {
    const r = await scenario<Record<'ipv4' | 'ipv6', Record<string, number | boolean>>>('twoEngines');
    for (const family of ['ipv4', 'ipv6'] as const)
      assert.deepEqual(
        r[family],
        { busyOk: 300, busyForeign: 0, quietOk: true, quietReplies: 1, quietForeign: 0 },
        `${family}: ${JSON.stringify(r[family])}`,
      );
  });

  test('measures a 5 ms userspace delay as 5 ms with sub-millisecond error', async () => {
    const r = await scenario<{
      rtts: number[];
      medianDiffMs: number;
      minDiffMs: number;
      medianRttMs: number;
      stats: IcmpEngineStats;
    }>('rtt', { sysctls: { 'net.ipv4.icmp_echo_ignore_all': '1' } }, ['5']);
    // The RTT can only exceed the time the responder held the request: the rest is loopback and
    // event-loop dispatch, tens of microseconds on an idle machine.
    assert.ok(r.minDiffMs >= 0, `RTT shorter than the hold: ${r.minDiffMs} ms`);
    assert.ok(r.medianDiffMs < 1, `median RTT error ${r.medianDiffMs} ms`);
    assert.ok(r.medianRttMs >= 5, `median RTT ${r.medianRttMs} ms`);
    // ns resolution: the samples are not whole milliseconds (net-ping's Date-based RTTs were).
    assert.ok(r.rtts.some((x) => !Number.isInteger(x)));
    assert.deepEqual([r.stats.rttKernel, r.stats.rttUserspace], [20, 0], 'every sample from kernel stamps');
  });

  test('sees random loss from nft numgen and still finds every host with retries', async () => {
    const r = await scenario<{ okOnce: number; total: number; aliveWithRetries: number }>('loss', {
      nftRuleset: nftRuleset({ lossPercent: 25 }),
    });
    // 400 single pings at 25 % loss: 300 expected, binomial sd ≈ 8.7.
    assert.ok(r.okOnce >= 240 && r.okOnce <= 360, `answered ${r.okOnce} of ${r.total}`);
    // With 10 retries a host is missed with probability 0.25^11 ≈ 2e-7.
    assert.equal(r.aliveWithRetries, 254);
  });

  test('survives 100,000 pings with garbage collections forced in between, even when nothing references the engine', async () => {
    const r = await scenario<{
      ok: number;
      failed: number;
      heapUsedMb: number;
      aliveAfterGc: boolean;
      stats: IcmpEngineStats;
    }>('gcSurvival', { nodeArgs: ['--expose-gc'], timeoutMs: 120_000 });
    assert.deepEqual([r.ok, r.failed], [100_000, 0]);
    assert.equal(r.aliveAfterGc, true);
    assert.equal(r.stats.inFlight, 0);
    assert.ok(r.heapUsedMb < 64, `heap after 90k pings: ${r.heapUsedMb} MB`);
  });

  test('without CAP_NET_RAW a raw engine fails to start with ERR_ICMP_PERMISSION and advice', async () => {
    const r = await scenario<{ started: boolean; permissionError: boolean; message: string }>('permission', {
      withoutNetRaw: true,
    });
    assert.equal(r.started, false, 'started');
    assert.match(r.message, /CAP_NET_RAW/, r.message);
    assert.equal(r.started, false);
    assert.equal(r.permissionError, true);
    assert.match(r.message, /CAP_NET_RAW/);
    assert.match(r.message, /setcap cap_net_raw\+ep/);
  });

  test('pings loopback and ULA targets in each mode and family, timing every reply with kernel stamps', async () => {
    const r = await scenario<{ asRoot: ModeResult[] }>('modes', { sysctls: { 'net.ipv4.ping_group_range': '0 0' } });
    assert.deepEqual(r.asRoot.map(summary), [
      'ipv4 raw 200/200 stamps kernel 200 user 0 invalid 0',
      'ipv6 raw 200/200 stamps kernel 200 user 0 invalid 0',
      'ipv4 dgram 200/200 stamps kernel 200 user 0 invalid 0',
      'ipv6 dgram 200/200 stamps kernel 200 user 0 invalid 0',
    ]);
    assert.deepEqual(r.asRoot[1]!.ips, ['::1', 'fd00:1::1']);
  });

  test('as uid 65534 without capabilities, with ping_group_range allowing it, datagram sockets ping both families and raw ones are refused', async () => {
    const r = await scenario<{ asNobody: ModeResult[]; uid: number }>(
      'modes',
      { sysctls: { 'net.ipv4.ping_group_range': '0 2147483647' } },
      ['drop'],
    );
    assert.equal(r.uid, 65534);
    assert.deepEqual(r.asNobody.map(summary), [
      'ipv4 raw refused ERR_ICMP_PERMISSION',
      'ipv6 raw refused ERR_ICMP_PERMISSION',
      'ipv4 dgram 200/200 stamps kernel 200 user 0 invalid 0',
      'ipv6 dgram 200/200 stamps kernel 200 user 0 invalid 0',
    ]);
  });

  test('a datagram engine past 65,536 sequence numbers rotates to a new socket and loses no reply', async () => {
    const r = await scenario<{ ok: number; failed: number; firstId: number; lastId: number; stats: IcmpEngineStats }>(
      'dgramRotation',
      { timeoutMs: 120_000, sysctls: { 'net.ipv4.ping_group_range': '0 0' } },
    );
    assert.deepEqual([r.ok, r.failed], [70_000, 0]);
    assert.ok(r.stats.identifierRotations >= 1, `rotations ${r.stats.identifierRotations}`);
    assert.notEqual(r.lastId, r.firstId);
    assert.deepEqual([r.stats.socketsOpen, r.stats.late, r.stats.invalid], [1, 0, 0]);
  });
});

interface ModeResult {
  family: string;
  mode: string;
  ok: number;
  total: number;
  code?: string;
  kernelStamps?: boolean;
  rttKernel?: number;
  rttUserspace?: number;
  invalid?: number;
  ips?: string[];
}

function summary(m: ModeResult): string {
  if (m.code !== undefined) return `${m.family} ${m.mode} refused ${m.code}`;
  return `${m.family} ${m.mode} ${m.ok}/${m.total} stamps kernel ${m.rttKernel} user ${m.rttUserspace} invalid ${m.invalid}`;
}
