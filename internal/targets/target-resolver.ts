import { OptionChecks } from '../errors/option-checks.js';
import { hostIp } from '../net/ipv6.js';

/** The system resolver's call shape: `dns.promises.lookup(host, { all: true, family })`. */
export type LookupAll = (
  host: string,
  options: { all: true; family: 0 | 4 | 6 },
) => Promise<ReadonlyArray<{ readonly address: string; readonly family: number }>>;

/** Which address of a name is pinged: the first returned (`auto`), the first A (`ipv4`) or the first AAAA (`ipv6`). */
export type IpFamilyChoice = 'auto' | 'ipv4' | 'ipv6';

/** The last resolution of one target: its canonical address, or why there is none. */
export type Resolution = { readonly ok: true; readonly ip: string } | { readonly ok: false; readonly error: string };

/** A target whose resolution changed: a new address, an address lost, or a first answer. */
export interface AddressChange {
  /** The target as configured. */
  readonly host: string;
  /** The address to ping now (canonical), or undefined when the name does not resolve. */
  readonly ip: string | undefined;
  /** The address pinged until now, or undefined. */
  readonly previous: string | undefined;
  /** The resolver's error code (`ENOTFOUND`, `EAI_AGAIN`, ...) when `ip` is undefined. */
  readonly error?: string;
}

/** Options of {@link TargetResolver}. */
export interface TargetResolverOptions {
  /** The resolver (the agent passes dns.promises.lookup; tests a fake). */
  lookup: LookupAll;
  /** Which family a name's address is taken from. */
  family: IpFamilyChoice;
  /** Lookups in flight at once (getaddrinfo runs on libuv's thread pool, 4 threads by default). */
  concurrency: number;
}

/** Defaults of {@link TargetResolverOptions} (all but `lookup`). */
export const defaultTargetResolverOptions: Omit<TargetResolverOptions, 'lookup'> = { family: 'auto', concurrency: 16 };

const familyNumber = { auto: 0, ipv4: 4, ipv6: 6 } as const;

/**
 * Resolves configured targets to the one address each is pinged at. Addresses are taken as they
 * are (canonicalised, an IPv4-mapped one as its IPv4 address; no lookup); names go through the system resolver, which reports no TTL, so
 * the caller re-resolves on its own schedule. Holds the current answer per target and reports only
 * what changed. A lookup that fails is an answer too (`ok: false`), never an exception.
 */
export class TargetResolver {
  #opts: TargetResolverOptions;
  readonly #current = new Map<string, Resolution>();
  #hosts = new Set<string>();

  /** Throws ConfigError (stage targets) naming every bad option. */
  constructor(opts: Partial<TargetResolverOptions> & Pick<TargetResolverOptions, 'lookup'>) {
    this.#opts = { ...defaultTargetResolverOptions, ...opts };
    new OptionChecks('targets')
      .oneOf('family', this.#opts.family, Object.keys(familyNumber))
      .integer('concurrency', this.#opts.concurrency, 1)
      .throwIfAny();
  }

  /**
   * Takes names' addresses from `family` from the next lookup on; the current answers stand until
   * then, so a target whose address stays is no change (addresses given literally never change).
   */
  setFamily(family: IpFamilyChoice): void {
    new OptionChecks('targets').oneOf('family', family, Object.keys(familyNumber)).throwIfAny();
    this.#opts = { ...this.#opts, family };
  }

  /** Number of configured targets. */
  get size(): number {
    return this.#hosts.size;
  }

  /** Replaces the target list; returns the removed targets with the address each had (if any). */
  setHosts(hosts: Iterable<string>): Array<{ host: string; ip: string | undefined }> {
    const next = new Set(hosts);
    const removed: Array<{ host: string; ip: string | undefined }> = [];
    for (const h of this.#hosts) {
      if (next.has(h)) continue;
      const r = this.#current.get(h);
      removed.push({ host: h, ip: r?.ok ? r.ip : undefined });
      this.#current.delete(h);
    }
    this.#hosts = next;
    return removed;
  }

  /** The current resolution of `host`, or undefined before its first. */
  resolution(host: string): Resolution | undefined {
    return this.#current.get(host);
  }

  /** Targets whose last resolution failed. */
  *failing(): IterableIterator<string> {
    for (const [h, r] of this.#current) if (!r.ok) yield h;
  }

  /** Targets never resolved yet (added since the last {@link resolveAll}). */
  pending(): string[] {
    return [...this.#hosts].filter((h) => !this.#current.has(h));
  }

  /**
   * Resolves `hosts` (default: every target), `concurrency` at a time, and returns what changed;
   * `onChange` hears each change as it happens, so the first address can be used before the last
   * lookup ends. A target removed while its lookup ran is left out.
   */
  async resolveAll(
    hosts: readonly string[] = [...this.#hosts],
    onChange?: (c: AddressChange) => void,
  ): Promise<AddressChange[]> {
    const changes: AddressChange[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < hosts.length) {
        const host = hosts[next++]!;
        const r = await this.#resolve(host);
        if (!this.#hosts.has(host)) continue;
        const before = this.#current.get(host);
        this.#current.set(host, r);
        const prevIp = before?.ok ? before.ip : undefined;
        const ip = r.ok ? r.ip : undefined;
        if (before !== undefined && prevIp === ip) continue;
        const change: AddressChange = r.ok
          ? { host, ip, previous: prevIp }
          : { host, ip, previous: prevIp, error: r.error };
        changes.push(change);
        onChange?.(change);
      }
    };
    const workers = Array.from({ length: Math.min(this.#opts.concurrency, hosts.length) }, worker);
    await Promise.all(workers);
    return changes;
  }

  async #resolve(host: string): Promise<Resolution> {
    const literal = hostIp(host);
    if (literal !== undefined) return { ok: true, ip: literal };
    try {
      const answers = await this.#opts.lookup(host, { all: true, family: familyNumber[this.#opts.family] });
      for (const a of answers) {
        const ip = hostIp(a.address);
        if (ip !== undefined) return { ok: true, ip };
      }
      return { ok: false, error: 'ENODATA' };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return { ok: false, error: typeof code === 'string' ? code : 'ELOOKUP' };
    }
  }
}
