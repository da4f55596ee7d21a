/**
 * Pure parts of the peers benchmark (bench/peers/main.ts): the fleet split over fping processes,
 * fping's and smokeping_prober's outputs parsed, and the result table. No I/O, tested beside it.
 */
import { formatIpv4 } from '../../internal/icmp/ipv4.js';

/** Inclusive range of target addresses (unsigned 32-bit IPv4) given to one process. */
export interface TargetRange {
  from: number;
  to: number;
}

/** `n` consecutive targets from `first`, in blocks of at most `perProcess`, as even as possible. */
export function splitFleet(first: number, n: number, perProcess: number): TargetRange[] {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(perProcess) || perProcess < 1)
    throw new RangeError(`splitFleet: n ${n} and perProcess ${perProcess} must be integers >= 1`);
  const procs = Math.ceil(n / perProcess);
  const base = Math.floor(n / procs);
  const extra = n % procs;
  const out: TargetRange[] = [];
  let from = first;
  for (let k = 0; k < procs; k++) {
    const size = base + (k < extra ? 1 : 0);
    out.push({ from, to: from + size - 1 });
    from += size;
  }
  return out;
}

/** Options of one fping process in loop mode. */
export interface FpingLoopOptions {
  range: TargetRange;
  intervalMs: number;
  /** fping -i: least gap between two of its sends, ms (0: every target of a round at once). */
  gapMs: number;
  timeoutMs: number;
  /** fping -Q: interval summaries every so many seconds. */
  summaryS: number;
}

/** `fping -l -p INTERVAL -i GAP -t TIMEOUT -Q S -g FIRST LAST`. */
export function fpingLoopArgv(o: FpingLoopOptions): string[] {
  const gap = o.gapMs === 0 ? '0' : String(Number(o.gapMs.toFixed(4)));
  return [
    '-l',
    '-p',
    String(o.intervalMs),
    '-i',
    gap,
    '-t',
    String(o.timeoutMs),
    '-Q',
    String(o.summaryS),
    '-g',
    formatIpv4(o.range.from),
    formatIpv4(o.range.to),
  ];
}

/** Pings sent and replies received, summed over targets. */
export interface PingCounts {
  targets: number;
  sent: number;
  received: number;
}

/** What one fping process wrote to stderr. */
export interface FpingReport {
  /** The final per-target summary (cumulative since start), printed when fping stops on SIGINT. */
  final: PingCounts | undefined;
  /** The `-Q` interval summaries, summed: what was sent while it ran, even if it died. */
  intervals: PingCounts & { count: number };
  /** Lines that are neither summaries nor their `[hh:mm:ss]` headers (errors such as "not enough sequence numbers"). */
  otherLines: string[];
}

const SUMMARY = /^(\S+)\s+: xmt\/rcv\/%loss = (\d+)\/(\d+)\//;
const HEADER = /^\[\d\d:\d\d:\d\d\]$/;

/**
 * Splits fping's stderr into its `-Q` interval summaries (each after a `[hh:mm:ss]` line) and the
 * final summary, which follows the last interval without a header: a target seen twice since the
 * last header starts it.
 */
export function parseFpingStderr(text: string): FpingReport {
  const intervals = { count: 0, targets: 0, sent: 0, received: 0 };
  const otherLines: string[] = [];
  let block: { seen: Set<string>; counts: PingCounts; headed: boolean } | undefined;
  let final: PingCounts | undefined;
  const close = (): void => {
    if (!block) return;
    if (block.headed) {
      intervals.count++;
      intervals.targets = Math.max(intervals.targets, block.counts.targets);
      intervals.sent += block.counts.sent;
      intervals.received += block.counts.received;
    } else final = block.counts;
    block = undefined;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (HEADER.test(line)) {
      close();
      block = { seen: new Set(), counts: { targets: 0, sent: 0, received: 0 }, headed: true };
      continue;
    }
    const m = SUMMARY.exec(line);
    if (!m) {
      otherLines.push(line);
      continue;
    }
    if (!block || block.seen.has(m[1]!)) {
      close();
      block = { seen: new Set(), counts: { targets: 0, sent: 0, received: 0 }, headed: false };
    }
    block.seen.add(m[1]!);
    block.counts.targets++;
    block.counts.sent += Number(m[2]);
    block.counts.received += Number(m[3]);
  }
  close();
  return { final, intervals, otherLines };
}

/**
 * Pings per second one fping process sent: from its whole `-Q` intervals when it printed any (the
 * steady rate, free of start and stop), else its final counts over its life; one that died (no final
 * summary): what its intervals counted, over its life.
 */
export function fpingSendRate(report: FpingReport, summaryS: number, lifeS: number): number {
  // No final summary: it died, and its intervals cover only part of its life.
  if (report.final === undefined) return report.intervals.sent / lifeS;
  if (report.intervals.count > 0) return report.intervals.sent / (report.intervals.count * summaryS);
  return report.final.sent / lifeS;
}

/** Pingers smokeping_prober has started, from its logfmt log (`msg="Starting prober"`, one per host). */
export function countStartedPingers(log: string): number {
  let n = 0;
  for (const line of log.split('\n')) if (line.includes('msg="Starting prober"')) n++;
  return n;
}

/** smokeping_prober's counters from one /metrics scrape, summed over hosts. */
export interface SmokepingScrape {
  /** Hosts with a smokeping_requests_total series. */
  hosts: number;
  /** Hosts whose pinger has sent at least one request. */
  activeHosts: number;
  /** Sum of smokeping_requests_total. */
  sent: number;
  /** Sum of smokeping_response_duration_seconds_count. */
  received: number;
}

/** Parses the Prometheus text smokeping_prober serves (0.6: requests_total, response_duration_seconds). */
export function parseSmokepingMetrics(text: string): SmokepingScrape {
  const out = { hosts: 0, activeHosts: 0, sent: 0, received: 0 };
  for (const line of text.split('\n')) {
    if (line.startsWith('smokeping_requests_total{')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      out.hosts++;
      if (v > 0) out.activeHosts++;
      out.sent += v;
    } else if (line.startsWith('smokeping_response_duration_seconds_count{'))
      out.received += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

/** smokeping_prober's config: every host in one target group, ICMP over IPv4 at the interval. */
export function smokepingConfig(hosts: readonly string[], intervalMs: number): string {
  return [
    'targets:',
    '  - hosts:',
    ...hosts.map((h) => `      - "${h}"`),
    `    interval: ${intervalMs}ms`,
    '    network: ip4',
    '    protocol: icmp',
    '',
  ].join('\n');
}

/** One peer's figures for one fleet size; `skipped` replaces all of them. */
export interface PeerCell {
  /** Column heading, e.g. `fping -i 0 x4`. */
  label: string;
  skipped?: string;
  cpuCores?: number;
  usPerPing?: number;
  sentPct?: number;
  lost?: number;
  rssMb?: number;
}

/** The columns of the table, in order. */
export const PEER_COLUMNS = ['netscan', 'fping_one', 'fping_burst', 'fping_paced', 'smokeping', 'floor'] as const;
/** A column key. */
export type PeerKey = (typeof PEER_COLUMNS)[number];
const HEADINGS: Record<PeerKey, string> = {
  netscan: 'netscan',
  fping_one: 'fping one',
  fping_burst: 'fping -i 0 x procs',
  fping_paced: 'fping paced x procs',
  smokeping: 'smokeping_prober',
  floor: 'C floor',
};

const fmt = (x: number | undefined, digits: number): string =>
  x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { maximumFractionDigits: digits });

/**
 * One Markdown table: a block of rows per fleet size (cores, µs/ping, sent %, lost, RSS), a column
 * per peer; a skipped peer shows its reason in the block's first row and `-` below it.
 */
export function formatPeersTable(
  runs: ReadonlyArray<{ devices: number; cells: Partial<Record<PeerKey, PeerCell>> }>,
): string {
  const head = ['N @ 1 s', ...PEER_COLUMNS.map((k) => HEADINGS[k])];
  const rows: string[][] = [];
  const metrics: Array<[string, (c: PeerCell) => string]> = [
    ['processes', (c) => c.label],
    ['CPU cores', (c) => fmt(c.cpuCores, 3)],
    ['µs/ping', (c) => fmt(c.usPerPing, 1)],
    ['sent %', (c) => fmt(c.sentPct, 2)],
    ['replies lost', (c) => fmt(c.lost, 0)],
    ['RSS MB', (c) => fmt(c.rssMb, 1)],
  ];
  for (const run of runs)
    metrics.forEach(([name, get], i) => {
      rows.push([
        `${run.devices.toLocaleString('en-US')}: ${name}`,
        ...PEER_COLUMNS.map((k) => {
          const c = run.cells[k];
          if (c === undefined) return i === 0 ? 'not run' : '-';
          if (c.skipped !== undefined) return i === 0 ? c.skipped : '-';
          return get(c);
        }),
      ]);
    });
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}
