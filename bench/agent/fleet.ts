/**
 * The loopback fleet of the whole-agent and peer benchmarks: N devices as one aligned block of 127/8
 * (networks and exclusions for the agent's config; `first .. first + n - 1` for the peers).
 */
import { formatIpv4 } from '../../internal/icmp/ipv4.js';
import { AddressSet, parseCidr, type Ipv4Cidr } from '../../internal/sweep/cidr.js';
import { rangeToCidrs } from './startup-lib.js';

/**
 * Networks and exclusions that yield exactly `n` devices: the second aligned block of the smallest
 * prefix holding n hosts in 127/8 (so 127.0.0.1, where the health server listens, is outside),
 * minus its tail. Devices are `first .. first + n - 1`.
 */
export function deviceNetworks(n: number): { networks: string[]; exclude: string[]; first: number } {
  let prefix = 31;
  while (2 ** (32 - prefix) - 2 < n) prefix--;
  const size = 2 ** (32 - prefix);
  const network = 0x7f000000 + size;
  const first = network + 1;
  const lastHost = network + size - 2;
  const exclude = first + n <= lastHost ? rangeToCidrs(first + n, lastHost) : [];
  const networks = [`${formatIpv4(network)}/${prefix}`];
  const parse = (xs: string[]): Ipv4Cidr[] => xs.map((c) => parseCidr(c)!);
  const got = AddressSet.fromCidrs(parse(networks), parse(exclude));
  if (got.size !== n || got.at(0) !== first || got.at(n - 1) !== first + n - 1)
    throw new Error(`bench agent: networks yield ${got.size} addresses, wanted ${n}`);
  return { networks, exclude, first };
}
