import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasCode, NetscanError } from '../errors/errors.js';
import { captureLogger } from '../testkit/logger.js';
import type { IcmpSocket, IcmpSocketMode, OpenIcmpSocketOptions } from './icmp-socket.js';
import {
  groupInPingRange,
  icmpPermissionAdvice,
  IcmpSocketOpener,
  PING_GROUP_RANGE_PATH,
  type IcmpModeSetting,
} from './open.js';

/** What the kernel allows in a scenario: which kinds open, and the errno of a refusal. */
interface Kernel {
  allowed: ReadonlySet<IcmpSocketMode>;
  calls: OpenIcmpSocketOptions[];
}

const refusal = (mode: IcmpSocketMode): NetscanError =>
  new NetscanError('ERR_ICMP_PERMISSION', `${mode} socket refused`, {
    stage: 'icmp',
    cause: Object.assign(new Error('refused'), { code: mode === 'raw' ? 'EPERM' : 'EACCES' }),
  });

function opener(
  mode: IcmpModeSetting,
  allowed: IcmpSocketMode[],
  extra: { range?: string | Error; gid?: number; groups?: number[] } = {},
) {
  const kernel: Kernel = { allowed: new Set(allowed), calls: [] };
  const { logger, lines } = captureLogger();
  const o = new IcmpSocketOpener({
    mode,
    logger,
    open: (opts) => {
      kernel.calls.push(opts);
      if (!kernel.allowed.has(opts.mode)) throw refusal(opts.mode);
      return {
        family: opts.family,
        mode: opts.mode,
        kernelStamps: opts.family === 'ipv4',
        close() {},
      } as unknown as IcmpSocket;
    },
    readFile: (path) => {
      assert.equal(path, PING_GROUP_RANGE_PATH);
      if (extra.range instanceof Error) throw extra.range;
      return `${extra.range ?? '1\t0'}\n`;
    },
    processGroups: () => ({ gid: extra.gid ?? 65534, groups: extra.groups ?? [] }),
  });
  return { o, kernel, lines };
}

const base: OpenIcmpSocketOptions = { family: 'ipv4', mode: 'raw', rcvbufBytes: 1 << 20 };

describe('IcmpSocketOpener', () => {
  test('auto opens a raw socket when the capability is held, and reports raw', () => {
    const { o, kernel, lines } = opener('auto', ['raw', 'dgram']);
    assert.equal(o.open(base).mode, 'raw');
    assert.deepEqual(
      kernel.calls.map((c) => c.mode),
      ['raw'],
    );
    assert.equal(o.modeOf('ipv4'), 'raw');
    assert.deepEqual(o.sockets(), [{ family: 'ipv4', mode: 'raw', kernelStamps: true }]);
    assert.deepEqual(
      lines.filter((l) => l['msg'] === 'ICMP socket mode chosen').map((l) => [l['family'], l['mode'], l['refused']]),
      [['ipv4', 'raw', []]],
    );
  });

  test('auto falls back to a datagram socket when the raw one is refused, and keeps it for later reopens', () => {
    const { o, kernel, lines } = opener('auto', ['dgram']);
    assert.equal(o.open(base).mode, 'dgram');
    assert.equal(
      o.open({ ...base, mode: 'raw' }).mode,
      'dgram',
      'a reopen (identifier rotation, socket failure) gets the same kind',
    );
    assert.deepEqual(
      kernel.calls.map((c) => c.mode),
      ['raw', 'dgram', 'dgram'],
    );
    assert.equal(o.modeOf('ipv4'), 'dgram');
    assert.equal(o.modeOf('ipv6'), undefined);
    assert.deepEqual(
      lines.filter((l) => l['msg'] === 'ICMP socket mode chosen').map((l) => [l['mode'], l['refused']]),
      [['dgram', ['raw: EPERM']]],
    );
  });

  test('remembers the kind per family and passes every other option through', () => {
    const { o, kernel } = opener('auto', ['dgram']);
    const v6: OpenIcmpSocketOptions = {
      family: 'ipv6',
      mode: 'raw',
      rcvbufBytes: 4096,
      tos: 184,
      ttl: 7,
      sourceAddress: '::1',
      interfaceName: 'lo',
    };
    o.open(base);
    o.open(v6);
    assert.deepEqual(kernel.calls.at(-1), { ...v6, mode: 'dgram' });
    assert.deepEqual(o.sockets(), [
      { family: 'ipv4', mode: 'dgram', kernelStamps: true },
      { family: 'ipv6', mode: 'dgram', kernelStamps: false },
    ]);
  });

  test('a kind that worked and is later refused is not swapped for the other one', () => {
    const { o, kernel } = opener('auto', ['raw', 'dgram']);
    o.open(base);
    (kernel as { allowed: ReadonlySet<IcmpSocketMode> }).allowed = new Set(['dgram']);
    assert.throws(
      () => o.open(base),
      (e) => hasCode(e, 'ERR_ICMP_PERMISSION'),
    );
    assert.deepEqual(
      kernel.calls.map((c) => c.mode),
      ['raw', 'raw'],
    );
  });

  test('auto with both kinds refused throws the advice naming both fixes, the gid and the range', () => {
    const { o, kernel } = opener('auto', [], { range: '1\t0', gid: 65534 });
    assert.throws(
      () => o.open(base),
      (e) => {
        assert.ok(hasCode(e, 'ERR_ICMP_PERMISSION'));
        assert.equal(e.stage, 'icmp');
        assert.equal((e.cause as { code?: string }).code, 'EACCES');
        assert.equal(
          e.message,
          [
            'netscan needs CAP_NET_RAW to send ICMP echo requests (raw socket), or its group in net.ipv4.ping_group_range (datagram socket); icmp_mode auto tried both and the kernel refused both (raw: EPERM, dgram: EACCES).',
            'This process runs with gid 65534; net.ipv4.ping_group_range is "1 0", which does not include it.',
            'Fix one of:',
            "  - allow datagram ICMP sockets for the agent's group (no capability needed; icmp_mode auto or dgram):",
            '      sudo sysctl -w net.ipv4.ping_group_range="0 2147483647" (or any range holding gid 65534), and persist it in /etc/sysctl.d/;',
            '      Docker >= 20.10 sets this range in every container;',
            '      Kubernetes: pod securityContext.sysctls: [{name: net.ipv4.ping_group_range, value: "0 2147483647"}] (a safe sysctl).',
            '  - or grant CAP_NET_RAW (icmp_mode auto or raw):',
            '      run as root;',
            '      grant the capability to node: sudo setcap cap_net_raw+ep "$(readlink -f "$(which node)")";',
            '      systemd: AmbientCapabilities=CAP_NET_RAW and CapabilityBoundingSet=CAP_NET_RAW in the [Service] section;',
            '      Kubernetes: securityContext.capabilities.add: ["NET_RAW"] on the container;',
            '      Docker: docker run --cap-add=NET_RAW.',
          ].join('\n'),
        );
        return true;
      },
    );
    assert.deepEqual(
      kernel.calls.map((c) => c.mode),
      ['raw', 'dgram'],
    );
    assert.equal(o.modeOf('ipv4'), undefined);
  });

  test('explicit raw refused: the advice leads with the capability and offers dgram as the alternative', () => {
    const { o, kernel } = opener('raw', ['dgram'], { range: '0 2147483647', gid: 1000, groups: [1000, 27] });
    assert.throws(
      () => o.open({ ...base, mode: 'dgram' }),
      (e) => {
        assert.ok(hasCode(e, 'ERR_ICMP_PERMISSION'));
        const lines = e.message.split('\n');
        assert.equal(
          lines[0],
          'netscan needs CAP_NET_RAW to send ICMP echo requests with icmp_mode raw; the kernel refused the raw socket (raw: EPERM).',
        );
        assert.equal(
          lines[1],
          'This process runs with gid 1000 (supplementary groups 27); net.ipv4.ping_group_range is "0 2147483647".',
        );
        assert.equal(lines[3], '  - grant CAP_NET_RAW (icmp_mode auto or raw):');
        assert.equal(
          lines[9],
          "  - or set icmp_mode: auto (or dgram) and allow datagram ICMP sockets for the agent's group (no capability needed):",
        );
        return true;
      },
    );
    assert.deepEqual(
      kernel.calls.map((c) => c.mode),
      ['raw'],
      'an explicit mode never tries the other kind',
    );
  });

  test('the advice names the supplementary groups when the range includes none of them', () => {
    const { o } = opener('dgram', [], { range: '100 200', gid: 1000, groups: [1000, 27, 4] });
    assert.throws(
      () => o.open(base),
      (e) => {
        assert.ok(hasCode(e, 'ERR_ICMP_PERMISSION'));
        assert.equal(
          e.message.split('\n')[1],
          'This process runs with gid 1000 (supplementary groups 27 4); net.ipv4.ping_group_range is "100 200", which includes none of them.',
        );
        return true;
      },
    );
  });

  test('explicit dgram refused: the advice leads with the sysctl and says when the range cannot be read', () => {
    const { o } = opener('dgram', ['raw'], { range: new Error('ENOENT') });
    assert.throws(
      () => o.open(base),
      (e) => {
        assert.ok(hasCode(e, 'ERR_ICMP_PERMISSION'));
        const lines = e.message.split('\n');
        assert.equal(
          lines[0],
          'netscan needs its group in net.ipv4.ping_group_range to send ICMP echo requests with icmp_mode dgram; the kernel refused the datagram socket (dgram: EACCES).',
        );
        assert.equal(
          lines[1],
          'This process runs with gid 65534; net.ipv4.ping_group_range could not be read (/proc/sys/net/ipv4/ping_group_range).',
        );
        assert.equal(
          lines[3],
          "  - allow datagram ICMP sockets for the agent's group (no capability needed; icmp_mode auto or dgram):",
        );
        assert.equal(lines[7], '  - or set icmp_mode: auto (or raw) and grant CAP_NET_RAW:');
        return true;
      },
    );
  });

  test('explicit dgram opens datagram sockets whatever kind the engine asked for', () => {
    const { o, kernel } = opener('dgram', ['raw', 'dgram']);
    assert.equal(o.open(base).mode, 'dgram');
    assert.deepEqual(
      kernel.calls.map((c) => c.mode),
      ['dgram'],
    );
    assert.equal(o.setting, 'dgram');
  });

  test('other socket errors pass through untouched and do not trigger the fallback', () => {
    const broken = new NetscanError('ERR_ICMP_SOCKET', 'cannot load the addon');
    const o = new IcmpSocketOpener({
      mode: 'auto',
      open: () => {
        throw broken;
      },
    });
    assert.throws(
      () => o.open(base),
      (e) => e === broken,
    );
  });
});

test('groupInPingRange applies the inclusive range to the gid and the supplementary groups', () => {
  const table: Array<[number, number[], string | undefined, boolean]> = [
    [65534, [], '1 0', false],
    [0, [], '1 0', false],
    [65534, [], '0 2147483647', true],
    [1000, [], '1000 1000', true],
    [1000, [50], '50 60', true],
    [1000, [70], '50 60', false],
    [1000, [], undefined, false],
    [1000, [], 'garbage', false],
  ];
  for (const [gid, groups, range, want] of table)
    assert.equal(groupInPingRange({ gid, groups }, range), want, `${gid} ${groups.join(',')} in ${range}`);
});

test('the advice keeps the phrases operators and older tooling search for', () => {
  const text = icmpPermissionAdvice({
    setting: 'auto',
    refused: [
      { mode: 'raw', errno: 'EPERM' },
      { mode: 'dgram', errno: 'EACCES' },
    ],
    groups: { gid: 65534, groups: [] },
    pingGroupRange: '1 0',
  });
  assert.match(text, /^netscan needs CAP_NET_RAW to send ICMP echo requests/);
  for (const phrase of [
    'setcap cap_net_raw+ep',
    'AmbientCapabilities=CAP_NET_RAW',
    'capabilities.add: ["NET_RAW"]',
    '--cap-add=NET_RAW',
    'sysctl -w net.ipv4.ping_group_range="0 2147483647"',
    'securityContext.sysctls',
  ]) {
    assert.ok(text.includes(phrase), phrase);
  }
});
