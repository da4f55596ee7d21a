/** Semantic checks of what the agent probes: `networks`, `exclude`, `targets` and their labels. */
import { formatCidr, isLinkLocalNetwork, isMulticastNetwork, parseCidr } from '../../internal/sweep/cidr.js';
import { formatIpv4 } from '../../internal/model/ipv4.js';
import {
  MAX_IPV6_SWEEP_ADDRESSES,
  MIN_IPV6_SWEEP_PREFIX,
  parseIpv6Cidr,
  type Ipv6Cidr,
} from '../../internal/sweep/cidr6.js';
import { usableLabel } from '../../internal/health/device-metrics.js';
import { checkLabels, line, obj, str, type Findings, type Raw } from './findings.js';
import { reservedTagKeys } from './schema.js';
import { checkTargets } from './validate-targets.js';

/** 240.0.0.0: class E (reserved) and the limited broadcast address. */
const CLASS_E = 0xf0000000;

/** `networks` (IPv4 CIDRs and IPv6 prefixes a sweep can cover), `exclude` and `targets`. */
export function checkNetworks(raw: Raw, f: Findings): void {
  const nets = raw.networks;
  const targets = raw.targets;
  if (
    (nets === undefined || (Array.isArray(nets) && nets.length === 0)) &&
    !(Array.isArray(targets) && targets.length > 0)
  ) {
    f.warnings.push(
      line(
        'networks',
        'is empty: nothing will be discovered (devices restored from the state file are still monitored)',
      ),
    );
  }
  if (Array.isArray(nets)) {
    nets.forEach((n, i) => {
      const entry = obj(n);
      const s = str(n) ?? str(entry?.cidr);
      if (entry) checkLabels(`networks[${i}].labels`, entry.labels, f);
      if (s === undefined) return; // the schema reports the type
      const path = entry ? `networks[${i}].cidr` : `networks[${i}]`;
      if (s.includes(':')) return checkIpv6Network(path, s.trim(), f);
      const c = parseCidr(s.trim());
      const allowed = 'an IPv4 CIDR a.b.c.d/n with n from 8 to 32';
      if (!c) return void f.errors.push(line(path, 'invalid CIDR notation', JSON.stringify(s), allowed));
      if (c.prefix < 8)
        return void f.errors.push(
          line(path, `network range too broad (/${c.prefix}), maximum allowed is /8`, JSON.stringify(s), allowed),
        );
      if (c.network === 0)
        return void f.errors.push(line(path, 'network address is unspecified (0.0.0.0)', JSON.stringify(s), allowed));
      if (isMulticastNetwork(c))
        return void f.errors.push(line(path, 'multicast networks not allowed', JSON.stringify(s), allowed));
      if (c.network >= CLASS_E)
        return void f.errors.push(
          line(path, 'reserved (class E / broadcast) networks not allowed', JSON.stringify(s), allowed),
        );
      if (isLinkLocalNetwork(c))
        return void f.errors.push(line(path, 'link-local networks not allowed', JSON.stringify(s), allowed));
      if (c.hostBitsSet)
        f.warnings.push(line(path, `has host bits set; scanning the network ${formatCidr(c)}`, JSON.stringify(s)));
    });
  }
  const ex = raw.exclude;
  if (Array.isArray(ex)) {
    ex.forEach((n, i) => {
      const s = str(n);
      if (s === undefined) return;
      const t = s.trim();
      const v6 = t.includes(':') ? parseIpv6Cidr(t, { allowBareAddress: true }) : undefined;
      const ok = t.includes(':') ? v6 !== undefined : parseCidr(t, { allowBareAddress: true }) !== undefined;
      if (!ok)
        f.errors.push(
          line(`exclude[${i}]`, 'invalid CIDR or address', JSON.stringify(s), 'an IPv4 or IPv6 address or CIDR'),
        );
      const v4 = v6 && mappedIpv4(v6);
      if (v4) f.errors.push(mappedLine(`exclude[${i}]`, 'which excludes no IPv4 address', v4, s));
    });
  }
  checkTargets(raw, f);
  if (obj(raw.prometheus)?.per_device === true) checkSeriesLabels(raw, f);
}

/** With per-device series on, each label key /metrics cannot carry is named (its points keep it). */
function checkSeriesLabels(raw: Raw, f: Findings): void {
  for (const section of ['networks', 'targets'] as const) {
    const list = raw[section];
    if (!Array.isArray(list)) continue;
    list.forEach((entry, i) => {
      for (const k of Object.keys(obj(obj(entry)?.labels) ?? {})) {
        // ip, name and other tag names netscan refuses are errors already.
        if (usableLabel(k) || reservedTagKeys.includes(k) || k === '' || k.startsWith('_')) continue;
        f.warnings.push(
          line(
            `${section}[${i}].labels.${k}`,
            'is not a Prometheus label name: /metrics leaves it out of the per-device series (points keep it)',
            JSON.stringify(k),
            'letters, digits and "_", not starting with a digit or "__", and not "le"',
          ),
        );
      }
    });
  }
}

function checkIpv6Network(path: string, s: string, f: Findings): void {
  const allowed = `an IPv6 prefix of /${MIN_IPV6_SWEEP_PREFIX} or longer (${MAX_IPV6_SWEEP_ADDRESSES} addresses at most)`;
  const c = parseIpv6Cidr(s, { allowBareAddress: true });
  if (!c) return void f.errors.push(line(path, 'invalid IPv6 prefix', JSON.stringify(s), allowed));
  const v4 = mappedIpv4(c);
  if (v4) return void f.errors.push(mappedLine(path, 'which ICMPv6 cannot reach', v4, s));
  if (c.prefix < MIN_IPV6_SWEEP_PREFIX) {
    return void f.errors.push(
      line(
        path,
        `IPv6 prefix /${c.prefix} is too large to sweep; list the hosts to monitor under targets instead`,
        JSON.stringify(s),
        allowed,
      ),
    );
  }
  const top16 = Number(c.network >> 112n);
  if (top16 >>> 8 === 0xff)
    return void f.errors.push(line(path, 'multicast networks not allowed', JSON.stringify(s), allowed));
  if ((top16 & 0xffc0) === 0xfe80)
    return void f.errors.push(line(path, 'link-local networks not allowed', JSON.stringify(s), allowed));
}

/** The IPv4 network an IPv4-mapped IPv6 prefix (inside ::ffff:0:0/96) stands for, or undefined. */
function mappedIpv4(c: Ipv6Cidr): string | undefined {
  if (c.prefix < 96 || c.network >> 32n !== 0xffffn) return undefined;
  const ip = formatIpv4(Number(c.network & 0xffffffffn));
  return c.prefix === 128 ? `address ${ip}` : `network ${ip}/${c.prefix - 96}`;
}

/** The finding for an IPv4-mapped prefix: the IPv4 hosts it names are pinged (and excluded) as IPv4. */
function mappedLine(path: string, why: string, v4: string, got: string): string {
  return line(
    path,
    `is an IPv4-mapped IPv6 prefix, ${why}; write it as the IPv4 ${v4}`,
    JSON.stringify(got),
    'an IPv4 CIDR, or an IPv6 prefix outside ::ffff:0:0/96',
  );
}
