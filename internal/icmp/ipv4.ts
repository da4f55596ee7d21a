// The IPv4 helpers live in internal/model/ipv4.ts; this module keeps the ICMP engine's imports working.
export { formatIpv4, parseIpv4 } from '../model/ipv4.js';
