/**
 * The targets of `netscan sweep`: a target list read from a file or standard input, the checks
 * that make a bad target a usage error, and the expansion of host names through the resolver into
 * the address specs the sweep probes.
 */
import { errorMessage } from '../internal/errors/errors.js';
import { hostIp } from '../internal/net/ipv6.js';
import { parseTarget, type AddressSpec } from '../internal/sweep/targets.js';

/** The usage error when no target was given anywhere. */
export const NO_TARGETS =
  'no targets: give them as arguments, in a file with -f FILE, or one per line on standard input';

/**
 * Splits a target list (a `-f` file or standard input) into targets: one or more per line,
 * blank lines and `#` comments ignored.
 */
export function parseTargetList(text: string): string[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const hash = line.indexOf('#');
    return (hash >= 0 ? line.slice(0, hash) : line).split(/\s+/).filter((w) => w !== '');
  });
}

/** One line per bad target or exclusion, and per target outside the `-4`/`-6` family. */
export function targetProblems(
  targets: readonly string[],
  exclude: readonly string[],
  family: 4 | 6 | undefined,
): string[] {
  const problems: string[] = [];
  const check = (text: string, isExclude: boolean): void => {
    const p = parseTarget(text, isExclude ? { exclude: true } : { names: true });
    if (!p.ok) problems.push(p.error);
    else if (!isExclude && family !== undefined && p.target.family !== 'name' && p.target.family !== `ipv${family}`) {
      problems.push(
        `${text}: an ${p.target.family === 'ipv4' ? 'IPv4' : 'IPv6'} target, but -${family} limits the sweep to IPv${family}`,
      );
    }
  };
  for (const t of targets) check(t, false);
  for (const t of exclude) check(t, true);
  return problems;
}

/** The system resolver, loaded only when a target is a host name. */
async function systemLookup(name: string, family: 0 | 4 | 6): Promise<string[]> {
  const { lookup } = await import('node:dns/promises');
  return (await lookup(name, { all: true, family })).map((a) => a.address);
}

/** getaddrinfo(3)'s texts (glibc gai_strerror), which fping prints for a name that does not resolve. */
const RESOLVER_TEXT: Readonly<Record<string, string>> = {
  ENOTFOUND: 'Name or service not known',
  EAI_NONAME: 'Name or service not known',
  ENODATA: 'No address associated with hostname',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
};

function resolverMessage(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' ? RESOLVER_TEXT[code] : undefined) ?? errorMessage(err);
}

/** Options of {@link resolveTargets}. */
export interface ResolveTargetsOptions {
  /** Targets already checked by {@link targetProblems}. */
  readonly targets: readonly string[];
  /** Exclusions already checked by {@link targetProblems}. */
  readonly exclude: readonly string[];
  /** Address family host names resolve to (fping -4/-6); both when undefined. */
  readonly family: 4 | 6 | undefined;
  /** Resolves a host name to addresses (default: the system resolver, `dns.lookup` with `all`). */
  readonly lookup: ((name: string, family: 0 | 4 | 6) => Promise<string[]>) | undefined;
  /** Where a name that does not resolve is reported. */
  readonly stderr: { write(chunk: string): unknown };
}

/** What {@link resolveTargets} found to probe. */
export interface ResolvedTargets {
  /** Every address, range and prefix to probe, host names replaced by their addresses. */
  readonly specs: AddressSpec[];
  /** What is never probed. */
  readonly excludeSpecs: AddressSpec[];
  /** Canonical address -> the first host name it came from. */
  readonly fromNames: ReadonlyMap<string, string>;
}

/**
 * Parses the targets and resolves host names to every address they have. A name that does not
 * resolve is printed with the resolver's text, as fping prints it, and contributes no address.
 */
export async function resolveTargets(o: ResolveTargetsOptions): Promise<ResolvedTargets> {
  const specs: AddressSpec[] = [];
  const names: string[] = [];
  for (const t of o.targets) {
    const p = parseTarget(t, { names: true });
    if (!p.ok) continue;
    if (p.target.family === 'name') names.push(t);
    else specs.push(p.target);
  }
  const excludeSpecs = o.exclude
    .map((t) => parseTarget(t, { exclude: true }))
    .flatMap((p) => (p.ok && p.target.family !== 'name' ? [p.target] : []));
  const fromNames = new Map<string, string>();
  if (names.length > 0) {
    const lookup = o.lookup ?? systemLookup;
    const resolved = await Promise.all(
      names.map(async (name) => {
        try {
          return { name, addresses: await lookup(name, o.family ?? 0) };
        } catch (err) {
          // fping prints the resolver's text and counts the name as unreachable.
          o.stderr.write(`${name}: ${resolverMessage(err)}\n`);
          return { name, addresses: [] };
        }
      }),
    );
    for (const { name, addresses } of resolved) {
      for (const a of addresses) {
        const ip = hostIp(a);
        if (ip === undefined) continue;
        const p = parseTarget(ip);
        if (p.ok && p.target.family !== 'name') {
          specs.push(p.target);
          if (!fromNames.has(ip)) fromNames.set(ip, name);
        }
      }
    }
  }
  return { specs, excludeSpecs, fromNames };
}
