// The native ICMP socket addon on real sockets, each scenario in its own network namespace (only
// loopback, plus fd00:1::/64 made local), so nft rules, qdiscs and sysctls cannot disturb other
// tests. See testdata/native-scenario.ts for the child side.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { netnsAvailable } from '../testkit/netns.js';

const script = fileURLToPath(new URL('./testdata/native-scenario.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const skip = netnsAvailable() ? false : 'needs root and unshare -n (network namespaces)';

interface RunOptions {
  /** Run as uid/gid 65534 with an empty capability bounding set. */
  nobody?: boolean;
  /** net.ipv4.ping_group_range = "0 2147483647" (datagram ICMP for every group). */
  pingGroup?: boolean;
  /** nftables ruleset loaded in the namespace. */
  nft?: string;
  /** Shell lines run in the namespace before the script (as root). */
  setup?: string[];
  /** A slow token bucket on lo, so sent datagrams wait in the qdisc (and in the socket's send buffer). */
  tbf?: boolean;
  nodeArgs?: string[];
}

let nobodyArgs: string[] | undefined;
/** setpriv arguments for an unprivileged run: uid 65534 when it can read the checkout, else root without any capability. */
function dropArgs(): string[] {
  if (!nobodyArgs) {
    const ids = ['--reuid=65534', '--regid=65534', '--clear-groups'];
    const readable =
      spawnSync('setpriv', [...ids, 'test', '-r', join(root, 'node_modules', 'tsx', 'package.json')], {
        stdio: 'ignore',
      }).status === 0;
    nobodyArgs = ['setpriv', ...(readable ? ids : []), '--bounding-set=-all', '--inh-caps=-all'];
  }
  return nobodyArgs;
}

async function scenario<T>(args: string[], opts: RunOptions = {}): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-native-'));
  const lines = ['set -e', 'ip link set lo up', 'ip -6 route add local fd00:1::/64 dev lo'];
  if (opts.pingGroup) lines.push("echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range");
  if (opts.nft) {
    writeFileSync(join(dir, 'rules.nft'), opts.nft);
    lines.push(`nft -f '${join(dir, 'rules.nft')}'`);
  }
  lines.push(...(opts.setup ?? []));
  if (opts.tbf) lines.push('tc qdisc add dev lo root tbf rate 2mbit burst 3000 latency 1s');
  lines.push(`exec ${opts.nobody ? `${dropArgs().join(' ')} ` : ''}"$0" "$@"`);
  const argv = [...(opts.nodeArgs ?? []), '--import', 'tsx', script, ...args];
  try {
    const res = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('unshare', ['-n', '--', 'sh', '-c', lines.join('\n'), process.execPath, ...argv], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      // A socket that kept the event loop alive after close() would hang here.
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    assert.equal(res.code, 0, `scenario ${args.join(' ')} failed (exit ${res.code}):\n${res.stderr}\n${res.stdout}`);
    const line = res.stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(line) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Stats {
  malformed: number;
  txFromRing: number;
  txNoCopy: number;
  staleErrors: number;
}

interface EchoResult {
  identifier: number | null;
  kernelStamps: boolean;
  count: number;
  send: { sent: number; failures: Record<string, number> };
  replies: number;
  uniqueReplies: number;
  txStamps: number;
  txUnique: number;
  otherErrors: number;
  pairs: number;
  rxBeforeTx: number;
  badId: number;
  badSource: number;
  badPayload: number;
  badCopy: number;
  badDest: number;
  rxNaN: number;
  txNaN: number;
  stats: Stats;
}

function checkEcho(r: EchoResult, count: number): void {
  assert.equal(r.kernelStamps, true);
  assert.equal(r.send.sent, count);
  assert.deepEqual(r.send.failures, {});
  // Every request answered once, from the address it went to, with our identifier and payload.
  assert.equal(r.uniqueReplies, count);
  assert.equal(r.replies, count);
  assert.deepEqual([r.badId, r.badSource, r.badPayload, r.rxNaN], [0, 0, 0, 0]);
  // Transmit stamps carry the ICMP message as sent and its destination. The kernel may skip a few.
  assert.ok(r.txUnique >= count * 0.95, `only ${r.txUnique} of ${count} transmit stamps`);
  assert.deepEqual([r.badCopy, r.badDest, r.txNaN, r.otherErrors], [0, 0, 0, 0]);
  // Kernel stamps exist and a reply never arrives before its request left. No duration bound.
  assert.ok(r.pairs >= count * 0.95, `only ${r.pairs} RX/TX pairs`);
  assert.equal(r.rxBeforeTx, 0);
}

describe('native ICMP socket addon in a private namespace', { skip, concurrency: 4 }, () => {
  for (const mode of ['raw', 'dgram'] as const) {
    for (const family of ['ipv4', 'ipv6'] as const) {
      test(`${mode} ${family}: 300 echo requests to loopback targets, replies with RX stamps, TX stamps with copies`, async () => {
        const r = await scenario<EchoResult>(['echo', mode, family, '300'], { pingGroup: mode === 'dgram' });
        checkEcho(r, 300);
        // As root, SO_RCVBUFFORCE grants the 4 MiB asked for, whatever rmem_max says (reported doubled).
        assert.equal((r as EchoResult & { rcvbufBytes: number }).rcvbufBytes, 8 << 20);
        if (mode === 'dgram') assert.ok(r.identifier! > 0, 'datagram sockets report their bound port as identifier');
        else assert.equal(r.identifier, null);
      });
    }
  }

  test('datagram mode as uid 65534 without capabilities works when ping_group_range allows it; raw mode is refused', async () => {
    interface Opened {
      opened: true;
      identifier: number;
      sent: number;
      replies: number;
      replyIds: number[];
      rxStamped: number;
      txStamps: number;
      rcvbufBytes?: number;
    }
    interface Refused {
      opened: false;
      permission: boolean;
      code: string;
      causeCode: string;
      causeIsSocketError: boolean;
      message: string;
    }
    const r = await scenario<
      Record<string, Opened | Refused> & { rcvbuf: { requested: number; granted: number; rmemMax: number } }
    >(['permissions'], { nobody: true, pingGroup: true });
    // Unprivileged, the receive buffer stops at rmem_max (doubled, as getsockopt reports it).
    assert.equal(r.rcvbuf.granted, 2 * r.rcvbuf.rmemMax);
    for (const family of ['ipv4', 'ipv6']) {
      const d = r[`dgram-${family}`] as Opened;
      assert.equal(d.opened, true, `dgram ${family}: ${JSON.stringify(d)}`);
      assert.ok(d.identifier > 0);
      assert.deepEqual([d.sent, d.replies, d.rxStamped, d.txStamps], [3, 3, 3, 3]);
      // The kernel wrote the bound port over our identifier, and replies carry it.
      assert.deepEqual(d.replyIds, [d.identifier]);
      const raw = r[`raw-${family}`] as Refused;
      assert.equal(raw.opened, false);
      assert.equal(raw.permission, true);
      assert.equal(raw.causeIsSocketError, true);
      assert.ok(raw.causeCode === 'EPERM' || raw.causeCode === 'EACCES', raw.causeCode);
    }
  });

  test('without ping_group_range every socket is refused with ERR_ICMP_PERMISSION and the errno as cause', async () => {
    const r = await scenario<
      Record<
        string,
        { opened: boolean; permission: boolean; code: string; causeCode: string; causeIsSocketError: boolean }
      >
    >(['permissions'], { nobody: true });
    for (const [key, v] of Object.entries(r)) {
      if (key === 'uid' || key === 'rcvbuf') continue;
      assert.equal(v.opened, false, key);
      assert.equal(v.code, 'ERR_ICMP_PERMISSION', key);
      assert.equal(v.causeIsSocketError, true, key);
      assert.ok(v.causeCode === 'EACCES' || v.causeCode === 'EPERM', `${key}: ${v.causeCode}`);
    }
  });

  const rejects = [
    'table inet netscan_native {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    '    ip daddr 127.0.0.2 icmp type echo-request reject with icmp type host-unreachable',
    '    ip6 daddr fd00:1::2 icmpv6 type echo-request reject with icmpv6 type admin-prohibited',
    '    ip6 daddr fd00:1::3 icmpv6 type echo-request reject with icmpv6 type addr-unreachable',
    '  }',
    '}',
    '',
  ].join('\n');

  interface ErrorsResult {
    identifier: number;
    first: Array<{
      type: number;
      code: number;
      destination: string;
      offender: string;
      length: number;
      dataType: number;
      dataId: number;
      dataSeq: number;
      marked: boolean;
    }>;
    readWhilePending: number;
    sentAfterPending: number;
    errorAfterPending: string | null;
    liveReplies: number;
    icmpErrors: number;
    stats: Stats;
  }

  test('datagram IPv4: a host-unreachable reaches readErrors with type, code, offender, destination and our request', async () => {
    const r = await scenario<ErrorsResult>(['icmpErrors', 'ipv4'], { pingGroup: true, nft: rejects });
    assert.equal(r.first.length, 2);
    for (const [k, e] of r.first.entries()) {
      assert.deepEqual([e.type, e.code], [3, 1]);
      assert.equal(e.destination, '127.0.0.2');
      assert.equal(e.offender, '127.0.0.2');
      assert.deepEqual([e.dataType, e.dataId, e.dataSeq, e.marked], [8, r.identifier, k + 1, true]);
      assert.equal(e.length, 64);
    }
    // The errno each error leaves pending fails neither the next read nor sends to other hosts.
    assert.equal(r.readWhilePending, 0);
    assert.equal(r.sentAfterPending, 20);
    assert.equal(r.errorAfterPending, null);
    assert.equal(r.liveReplies, 20);
    assert.equal(r.icmpErrors, 4);
    assert.ok(r.stats.staleErrors >= 1);
  });

  test('datagram IPv6: admin-prohibited and address-unreachable reach readErrors', async () => {
    const r = await scenario<ErrorsResult>(['icmpErrors', 'ipv6'], { pingGroup: true, nft: rejects });
    assert.deepEqual(
      r.first.map((e) => [e.type, e.code, e.destination]),
      [
        [1, 1, 'fd00:1:0:0:0:0:0:2'],
        [1, 3, 'fd00:1:0:0:0:0:0:3'],
      ],
    );
    for (const [k, e] of r.first.entries()) {
      assert.notEqual(e.offender, '0:0:0:0:0:0:0:0');
      assert.deepEqual([e.dataType, e.dataId, e.dataSeq, e.marked], [128, r.identifier, k + 1, true]);
    }
    assert.deepEqual([r.sentAfterPending, r.errorAfterPending, r.liveReplies, r.icmpErrors], [20, null, 20, 4]);
  });

  for (const family of ['ipv4', 'ipv6'] as const) {
    test(`raw ${family}: ICMP errors arrive through read(), not the error queue`, async () => {
      const r = await scenario<{ got: { type: number; code: number; length: number } | null; errorQueue: number }>(
        ['rawErrors', family],
        { nft: rejects },
      );
      assert.deepEqual(r.got && [r.got.type, r.got.code], family === 'ipv4' ? [3, 1] : [1, 1]);
      assert.equal(r.errorQueue, 0);
    });
  }

  interface HostileResult {
    sendErrors: number;
    reads: number;
    maxLength: number;
    minLength: number;
    slotBytes: number;
    headerOnly: number | null;
    nineBytes: number | null;
    oversized: number | null;
    oversizedHead: string | null;
    withOptions: { length: number; type: number } | null;
    shortOnes: number[];
    filteredTypeSeen: boolean;
    requestsSeen: boolean;
    errorsRead: number;
    errorQueue: Array<{ type: number; code: number; length: number; seq: number; destination: string }>;
    otherEntries: number;
    stats: Stats;
    sawEnd: boolean;
  }

  for (const mode of ['raw', 'dgram'] as const) {
    for (const family of ['ipv4', 'ipv6'] as const) {
      test(`${mode} ${family}: short, oversized, optioned, truncated and random packets come back with sane lengths`, async () => {
        const r = await scenario<HostileResult>(['hostile', mode, family], { pingGroup: mode === 'dgram' });
        assert.equal(r.sawEnd, true);
        assert.ok(r.maxLength <= r.slotBytes && r.minLength >= 0);
        assert.equal(r.headerOnly, 8);
        assert.equal(r.nineBytes, 9);
        // 65,000 bytes: truncated to the slot, the header intact.
        assert.equal(r.oversized, r.slotBytes);
        assert.match(r.oversizedHead ?? '', family === 'ipv4' ? /^0000/ : /^8100/);
        // 40 bytes of IPv4 options are stripped with the header.
        if (family === 'ipv4') assert.deepEqual(r.withOptions, { length: 64, type: 0 });
        assert.equal(r.filteredTypeSeen, false);
        assert.equal(r.requestsSeen, false);
        assert.equal(r.stats.malformed, 0); // the kernel never passed a bad IPv4 header
        if (mode === 'raw') {
          assert.ok(r.reads > 100, `raw socket read ${r.reads}`);
          assert.ok(r.errorsRead > 0);
          assert.equal(r.errorQueue.length, 0);
        } else {
          // Only the error quoting a whole request of ours reaches a datagram socket.
          assert.equal(r.errorQueue.length, 1);
          assert.deepEqual([r.errorQueue[0]!.length, r.errorQueue[0]!.seq], [8, 5]);
          assert.equal(r.errorQueue[0]!.destination, family === 'ipv4' ? '127.0.0.9' : 'fd00:1:0:0:0:0:0:9');
          assert.deepEqual(r.shortOnes, []);
        }
      });
    }
  }

  test('batch edges: empty flush, full batch, bad addresses, a failure mid-batch and discardFirst, close twice, use after close', async () => {
    const r = await scenario<Record<string, unknown>>(['batchEdges']);
    assert.deepEqual(r.emptyFlush, { sent: 0, lastSendError: null, queued: 0 });
    assert.equal((r.overfull as { name: string }).name, 'RangeError');
    assert.deepEqual(r.fullFlush, { sent: 64, queued: 0, lastSendError: null });
    assert.deepEqual(
      [(r.badAddress as { code: string }).code, (r.v6OnV4 as { code: string }).code],
      ['EINVAL', 'EINVAL'],
    );
    assert.equal((r.badLength as { name: string }).name, 'RangeError');
    assert.equal(r.queuedAfterBad, 0);
    // [ok, ok, no route, ok, ok]: two go, ENETUNREACH names the third, which discardFirst drops.
    assert.deepEqual(r.partial, {
      sent: 2,
      lastSendError: 'ENETUNREACH',
      queued: 3,
      afterDiscard: 2,
      second: 2,
      lastSendError2: null,
      queued2: 0,
    });
    assert.equal(r.discardEmpty, 0);
    assert.deepEqual(r.partialReplies, ['200@127.0.1.1', '201@127.0.1.2', '203@127.0.1.4', '204@127.0.1.5']);
    assert.equal(r.fullReplies, 64);
    const after = r.afterClose as {
      read: number;
      readErrors: number;
      flush: number;
      queued: number;
      queue: { code: string };
      closed: boolean;
    };
    assert.deepEqual(
      [after.read, after.readErrors, after.flush, after.queued, after.queue.code, after.closed],
      [0, 0, 0, 0, 'EBADF', true],
    );
  });

  test('a tiny send buffer behind a slow qdisc: partial sends, EAGAIN/ENOBUFS, onceWritable, every datagram sent once in order', async () => {
    const r = await scenario<{
      firstFlush: { sent: number; lastSendError: string | null };
      result: { sent: number; eagain: number; failures: Record<string, number> };
      writableCalls: number;
      uniqueReplies: number;
    }>(['partialSend'], { tbf: true });
    assert.ok(r.firstFlush.sent > 0 && r.firstFlush.sent < 64, `first flush sent ${r.firstFlush.sent}`);
    assert.match(r.firstFlush.lastSendError ?? '', /^(EAGAIN|ENOBUFS)$/);
    assert.equal(r.result.sent, 200);
    assert.deepEqual(r.result.failures, {});
    assert.ok(r.result.eagain >= 1);
    assert.equal(r.writableCalls, r.result.eagain);
    assert.equal(r.uniqueReplies, 200);
  });

  test('without SO_SELECT_ERR_QUEUE (bare POLLERR, which libuv reports as UV_EBADF) the socket stays readable and healthy', async () => {
    const r = await scenario<{ txStamps: number; replies: number; failed: string | null; closed: boolean }>([
      'bareErrQueue',
    ]);
    assert.deepEqual(r, { txStamps: 200, replies: 200, failed: null, closed: false });
  });

  test('a throwing callback reaches uncaughtException; a polling socket nobody references survives GC, and is collectable once closed', async () => {
    const r = await scenario<{
      uncaught: string[];
      callsAfter: number;
      orphanEvents: number;
      orphanReplies: number;
      finalizedAfterClose: string[];
    }>(['callbacks'], { pingGroup: true, nodeArgs: ['--expose-gc'] });
    assert.deepEqual(r.uncaught, ['boom from onReadable']);
    assert.ok(r.callsAfter >= 2, 'the socket kept calling back after the exception');
    assert.ok(r.orphanReplies >= 20 && r.orphanEvents >= 1);
    assert.deepEqual(r.finalizedAfterClose, ['orphan']);
  });

  test('a terminated worker thread with polling sockets exits cleanly; sockets dropped without close() are collected, fds closed', async () => {
    const r = await scenario<{
      whileOpen: number;
      exitCode: number;
      afterTerminate: number;
      dropped: number;
      afterGc: number;
      links: string[];
    }>(['lifecycle'], { pingGroup: true, nodeArgs: ['--expose-gc'] });
    assert.ok(r.whileOpen >= 5);
    assert.equal(r.afterTerminate, 0);
    assert.ok(r.dropped >= 33, `dropped ${r.dropped}`);
    assert.equal(r.afterGc, 0, `still open: ${r.links.join(', ')}`);
  });

  test('tos and ttl, a source address and a device apply to what is sent; bad ones fail at open with the errno', async () => {
    const nft = [
      'table inet netscan_native {',
      '  counter ipv4_marked { }',
      '  counter ipv6_marked { }',
      '  chain output {',
      '    type filter hook output priority 0; policy accept;',
      '    ip saddr 127.0.0.5 ip ttl 7 ip dscp cs1 icmp type echo-request counter name ipv4_marked',
      '    ip6 saddr fd00:1::5 ip6 hoplimit 7 ip6 dscp cs1 icmpv6 type echo-request counter name ipv6_marked',
      '  }',
      '}',
      '',
    ].join('\n');
    const r = await scenario<
      Record<string, { marked: number; replies: number } & { code?: string; causeCode?: string; message: string }>
    >(['options'], {
      pingGroup: true,
      nft,
      setup: ['ip -6 addr add fd00:1::5/128 dev lo nodad'],
    });
    for (const name of ['v4raw', 'v4dgram', 'v6raw', 'v6dgram'])
      assert.deepEqual([r[name]!.marked, r[name]!.replies], [3, 3], name);
    assert.deepEqual([r.noDevice!.code, r.noDevice!.causeCode], ['ERR_ICMP_SOCKET', 'ENODEV']);
    assert.deepEqual([r.wrongFamilySource!.code, r.wrongFamilySource!.causeCode], ['ERR_ICMP_SOCKET', 'EINVAL']);
    assert.deepEqual([r.foreignSource!.code, r.foreignSource!.causeCode], ['ERR_ICMP_SOCKET', 'EADDRNOTAVAIL']);
    assert.deepEqual(
      [r.badTtl!.code, r.badTtl!.message],
      ['ERR_CONFIG', 'ttl: must be an integer from 1 to 255 (got 0)'],
    );
  });

  const outputDrop = [
    'table inet netscan_native {',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    '    ip daddr 127.0.7.66 drop',
    '  }',
    '}',
    '',
  ].join('\n');

  for (const mode of ['raw', 'dgram'] as const) {
    test(`${mode}: transmit stamps without data (OPT_TSONLY) get their copy from the ring, also across EPERM and ENETUNREACH`, async () => {
      const r = await scenario<{
        tsOnly: boolean;
        send: { sent: number; failures: Record<string, number> };
        good: number;
        txStamps: number;
        mismatched: number;
        stats: Stats;
      }>(['tsOnlyRing', mode], { pingGroup: true, nft: outputDrop });
      assert.equal(r.tsOnly, true);
      assert.deepEqual(r.send.failures, { EPERM: 4, ENETUNREACH: 4 });
      assert.equal(r.send.sent, r.good);
      assert.ok(r.txStamps >= r.good * 0.95);
      assert.equal(r.mismatched, 0);
      assert.equal(r.stats.txNoCopy, 0);
      assert.equal(r.stats.txFromRing, r.txStamps);
    });
  }

  const egressDrop = [
    'table netdev netscan_native {',
    '  chain egress {',
    '    type filter hook egress device "lo" priority 0; policy accept;',
    '    ip daddr 127.0.7.77 drop',
    '    ip daddr 127.0.7.88 quota until 100 bytes drop',
    '  }',
    '}',
    '',
  ].join('\n');

  test('dgram: transmit stamps without data keep their own copy after sends the qdisc layer dropped (ENOBUFS after the kernel numbered them)', async () => {
    const r = await scenario<{
      tsOnly: boolean;
      sent: number;
      failures: Record<string, number>;
      goodSeqs: number[];
      stampSeqs: number[];
      stats: Stats;
    }>(['tsOnlyEgressDrop', 'dgram'], { pingGroup: true, nft: egressDrop });
    assert.equal(r.tsOnly, true);
    assert.deepEqual(Object.keys(r.failures), ['ENOBUFS']);
    assert.equal(r.sent, r.goodSeqs.length);
    // Stamps come in send order, each with the copy of the datagram it stamps.
    assert.deepEqual(r.stampSeqs, r.goodSeqs);
    assert.equal(r.stats.txNoCopy, 0);
  });

  test('dgram: transmit stamps without data keep their own copy when a send failed silently inside sendmmsg and its retry went out', async () => {
    const r = await scenario<{
      tsOnly: boolean;
      sent: number;
      failures: Record<string, number>;
      goodSeqs: number[];
      stampSeqs: number[];
      stats: Stats;
    }>(['tsOnlyEgressDrop', 'dgram', 'once'], { pingGroup: true, nft: egressDrop });
    assert.equal(r.tsOnly, true);
    assert.equal(r.sent, 40);
    assert.deepEqual(r.stampSeqs, r.goodSeqs);
    assert.equal(r.stats.txNoCopy, 0);
  });
});
