import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { zeroIcmpEngineStats } from '../internal/icmp/engine-options.js';
import type { IcmpSocketInfo } from '../internal/icmp/open.js';
import { icmpHealth, icmpTotals, registerIcmpInfo } from './telemetry.js';

test('/health names the ICMP socket kind, the families and kernel stamping, before the counters', () => {
  const icmp = {
    ...zeroIcmpEngineStats('ipv4'),
    sent: 5,
    replies: 4,
    rttKernel: 3,
    rttUserspace: 1,
    txStampsUnpaired: 2,
  };
  const none = icmpHealth({ icmp, icmpModeSetting: 'auto', icmpSockets: [] });
  assert.deepEqual(
    [none['mode'], none['mode_setting'], none['families'], none['kernel_timestamps']],
    [null, 'auto', [], false],
  );

  const both: IcmpSocketInfo[] = [
    { family: 'ipv4', mode: 'dgram', kernelStamps: true },
    { family: 'ipv6', mode: 'dgram', kernelStamps: true },
  ];
  const h = icmpHealth({ icmp, icmpModeSetting: 'auto', icmpSockets: both });
  assert.deepEqual(Object.keys(h).slice(0, 4), ['mode', 'mode_setting', 'families', 'kernel_timestamps']);
  assert.deepEqual(
    [h['mode'], h['families'], h['kernel_timestamps'], h['sent'], h['replies']],
    ['dgram', ['ipv4', 'ipv6'], true, 5, 4],
  );

  const mixed = icmpHealth({
    icmp,
    icmpModeSetting: 'auto',
    icmpSockets: [both[0]!, { family: 'ipv6', mode: 'raw', kernelStamps: false }],
  });
  assert.deepEqual([mixed['mode'], mixed['kernel_timestamps']], ['dgram+raw', false]);
  assert.deepEqual([h['rtt_kernel'], h['rtt_userspace'], h['tx_stamps_unpaired']], [3, 1, 2]);
});

test('netscan_icmp_info has one series per open socket, read at scrape time', async () => {
  const registry = new Registry();
  let sockets: IcmpSocketInfo[] = [];
  registerIcmpInfo(registry, () => sockets);
  assert.doesNotMatch(await registry.metrics(), /^netscan_icmp_info\{/m);
  sockets = [
    { family: 'ipv4', mode: 'raw', kernelStamps: true },
    { family: 'ipv6', mode: 'raw', kernelStamps: false },
  ];
  const text = await registry.metrics();
  assert.match(text, /^netscan_icmp_info\{mode="raw",family="ipv4",kernel_timestamps="true"\} 1$/m);
  assert.match(text, /^netscan_icmp_info\{mode="raw",family="ipv6",kernel_timestamps="false"\} 1$/m);
  sockets = [{ family: 'ipv4', mode: 'dgram', kernelStamps: true }];
  const after = await registry.metrics();
  assert.doesNotMatch(after, /mode="raw"/, 'a socket no longer open leaves no stale series');
  assert.match(after, /^netscan_icmp_info\{mode="dgram",family="ipv4",kernel_timestamps="true"\} 1$/m);
});

test('the ICMP counters of both families add up; IPv4 alone until the IPv6 engine started', () => {
  const v4 = {
    ...zeroIcmpEngineStats('ipv4'),
    mode: 'dgram' as const,
    kernelStamps: true,
    sent: 10,
    replies: 9,
    rttKernel: 8,
    rttUserspace: 1,
    inFlight: 1,
  };
  const v6 = {
    ...zeroIcmpEngineStats('ipv6'),
    mode: 'dgram' as const,
    sent: 4,
    replies: 4,
    rttKernel: 4,
    txStampsUnpaired: 2,
  };
  assert.deepEqual(icmpTotals({ ipv4: v4, ipv6: undefined }), { ...v4, mode: undefined, kernelStamps: false });
  const both = icmpTotals({ ipv4: v4, ipv6: v6 });
  assert.deepEqual(
    [both.sent, both.replies, both.rttKernel, both.rttUserspace, both.txStampsUnpaired, both.inFlight],
    [14, 13, 12, 1, 2, 1],
  );
  assert.deepEqual(icmpTotals({ ipv4: undefined, ipv6: undefined }), zeroIcmpEngineStats('ipv4'));
});
