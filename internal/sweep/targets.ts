/**
 * What a sweep target may be, in text: an IPv4 CIDR (`a.b.c.d/n`), an IPv6 prefix (`fd00::/120`),
 * a bare address of either family, a range `first-last` of one family, or a host name (resolved by
 * the caller, never here). Every problem is reported as one line naming the target.
 */
import {
  AddressSet,
  cidrRange,
  formatIpv4,
  hostRange,
  parseCidr,
  parseIpv4,
  subtractRanges,
  type Ipv4Range,
} from './cidr.js';
import {
  Ipv6AddressSet,
  MAX_IPV6_SWEEP_ADDRESSES,
  MIN_IPV6_SWEEP_PREFIX,
  ipv6CidrRange,
  parseIpv6BigInt,
  parseIpv6Cidr,
  subtractIpv6Ranges,
  type Ipv6Range,
} from './cidr6.js';

/** A target or exclusion that names addresses directly. */
export type AddressSpec =
  | { readonly family: 'ipv4'; readonly text: string; readonly range: Ipv4Range }
  | { readonly family: 'ipv6'; readonly text: string; readonly range: Ipv6Range };

/** A target: addresses, or a host name still to be resolved. */
export type TargetSpec = AddressSpec | { readonly family: 'name'; readonly text: string };

/** The result of {@link parseTarget}: the target, or one line saying what is wrong with it. */
export type ParsedTarget =
  { readonly ok: true; readonly target: TargetSpec } | { readonly ok: false; readonly error: string };

/** How {@link parseTarget} reads a text. */
export interface ParseTargetOptions {
  /** Accept host names (the CLI resolves them); otherwise a name is an invalid CIDR. */
  readonly names?: boolean;
  /**
   * Read the text as an exclusion: an IPv4 CIDR covers its network and broadcast addresses too,
   * and IPv6 prefixes of any size are allowed (excluding a /64 costs nothing).
   */
  readonly exclude?: boolean;
}

/** Parses one target; never throws. */
export function parseTarget(text: string, opts: ParseTargetOptions = {}): ParsedTarget {
  const fail = (error: string): ParsedTarget => ({ ok: false, error });
  const ok = (target: TargetSpec): ParsedTarget => ({ ok: true, target });
  if (text.includes('/')) {
    if (text.includes(':')) {
      const c = parseIpv6Cidr(text);
      if (!c) return fail(`invalid CIDR notation: ${text}`);
      if (c.prefix >= 96 && c.network >> 32n === 0xffffn)
        return fail(
          `${text} is an IPv4-mapped IPv6 prefix, which ICMPv6 cannot reach: write it as the IPv4 network ${formatIpv4(Number(c.network & 0xffffffffn))}/${c.prefix - 96}`,
        );
      if (!opts.exclude && c.prefix < MIN_IPV6_SWEEP_PREFIX) return fail(tooLargePrefix(text, c.prefix));
      return ok({ family: 'ipv6', text, range: ipv6CidrRange(c) });
    }
    const c = parseCidr(text);
    if (!c) return fail(`invalid CIDR notation: ${text}`);
    return ok({ family: 'ipv4', text, range: opts.exclude ? cidrRange(c) : hostRange(c) });
  }
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return ok({ family: 'ipv4', text, range: { first: v4, last: v4 } });
  const v6 = parseIpv6BigInt(text);
  // An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 host it carries: ICMPv6 cannot reach it.
  if (v6 !== undefined && v6 >> 32n === 0xffffn) {
    const mapped = Number(v6 & 0xffffffffn);
    return ok({ family: 'ipv4', text: formatIpv4(mapped), range: { first: mapped, last: mapped } });
  }
  if (v6 !== undefined) return ok({ family: 'ipv6', text, range: { first: v6, last: v6 } });
  const dash = text.indexOf('-');
  if (dash > 0) {
    const range = parseRange(text, dash, opts);
    if (range) return range;
  }
  if (text.includes(':') || /^[0-9.]+$/.test(text)) return fail(`invalid address: ${text}`);
  if (opts.names && isHostName(text)) return ok({ family: 'name', text });
  return fail(
    opts.names
      ? `invalid target: ${text} (expected an address, a CIDR, a range first-last or a host name)`
      : `invalid CIDR notation: ${text}`,
  );
}

/** `first-last` when `first` is an address; undefined when the text is rather a host name. */
function parseRange(text: string, dash: number, opts: ParseTargetOptions): ParsedTarget | undefined {
  const left = text.slice(0, dash);
  const right = text.slice(dash + 1);
  const a4 = parseIpv4(left);
  const a6 = a4 === undefined ? parseIpv6BigInt(left) : undefined;
  if (a4 === undefined && a6 === undefined) return undefined;
  const fail = (why: string): ParsedTarget => ({ ok: false, error: `invalid range ${text}: ${why}` });
  if (a4 !== undefined) {
    const b4 = parseIpv4(right);
    if (b4 === undefined)
      return fail(
        parseIpv6BigInt(right) !== undefined
          ? 'mixes IPv4 and IPv6'
          : `${JSON.stringify(right)} is not an IPv4 address`,
      );
    if (b4 < a4) return fail(`${formatIpv4(a4)} comes after ${formatIpv4(b4)}`);
    return { ok: true, target: { family: 'ipv4', text, range: { first: a4, last: b4 } } };
  }
  const b6 = parseIpv6BigInt(right);
  if (b6 === undefined)
    return fail(
      parseIpv4(right) !== undefined ? 'mixes IPv4 and IPv6' : `${JSON.stringify(right)} is not an IPv6 address`,
    );
  if (b6 < a6!) return fail(`${left} comes after ${right}`);
  const size = b6 - a6! + 1n;
  if (!opts.exclude && size > BigInt(MAX_IPV6_SWEEP_ADDRESSES)) {
    return {
      ok: false,
      error: `IPv6 range ${text} is too large to sweep (${size} addresses; the limit is ${MAX_IPV6_SWEEP_ADDRESSES}): list the hosts to probe as targets instead`,
    };
  }
  return { ok: true, target: { family: 'ipv6', text, range: { first: a6!, last: b6 } } };
}

function tooLargePrefix(text: string, prefix: number): string {
  return `IPv6 prefix ${text} is too large to sweep (2^${128 - prefix} addresses; the limit is /${MIN_IPV6_SWEEP_PREFIX}, ${MAX_IPV6_SWEEP_ADDRESSES} addresses): list the hosts to probe as targets instead`;
}

/** RFC 1123 host name syntax (labels of letters, digits and inner hyphens), plus `_` as resolvers accept it. */
export function isHostName(text: string): boolean {
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

/** The addresses one sweep probes, per family, deduplicated and minus the exclusions. */
export interface SweepSpace {
  /** IPv4 addresses (u32 ranges). */
  readonly ipv4: AddressSet;
  /** IPv6 addresses. */
  readonly ipv6: Ipv6AddressSet;
  /** Addresses of both families. */
  readonly size: number;
}

/** Builds the address space of a sweep: the union of `include`, minus every address of `exclude`. */
export function buildSweepSpace(include: readonly AddressSpec[], exclude: readonly AddressSpec[] = []): SweepSpace {
  const v4 = (specs: readonly AddressSpec[]): Ipv4Range[] =>
    specs.flatMap((s) => (s.family === 'ipv4' ? [s.range] : []));
  const v6 = (specs: readonly AddressSpec[]): Ipv6Range[] =>
    specs.flatMap((s) => (s.family === 'ipv6' ? [s.range] : []));
  const ipv4 = new AddressSet(subtractRanges(v4(include), v4(exclude)));
  const ipv6 = new Ipv6AddressSet(subtractIpv6Ranges(v6(include), v6(exclude)));
  return { ipv4, ipv6, size: ipv4.size + ipv6.size };
}
