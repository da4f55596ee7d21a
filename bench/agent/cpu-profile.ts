/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) for bench/agent/main.ts: self and inclusive
 * time per function, and self time per area (netscan stage, npm package, node core, GC, idle).
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
/** The parts of the .cpuprofile JSON this module reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One row of the summary. */
export interface ProfileRow {
  name: string;
  selfPct: number;
  totalPct: number;
}

/** Where a sample's time went, percent of the profile's wall time. */
export interface ProfileSummary {
  wallMs: number;
  /** Share of samples not idle (≈ the profiled thread's CPU). */
  busyPct: number;
  functions: ProfileRow[];
  /** Self time per area: percent of wall, and percent of the busy (non-idle) time. */
  areas: Array<{ area: string; selfPct: number; busySharePct: number }>;
  /** Self time per cost group ({@link costGroupOf}), percent of the busy time, every group listed. */
  groups: Array<{ group: CostGroup; busySharePct: number }>;
}

/** Where a ping's CPU goes, coarsely: the stages a monitoring ping passes through. */
export const costGroups = ['engine', 'scheduler', 'summaries', 'encoding', 'output', 'other'] as const;
export type CostGroup = (typeof costGroups)[number];

/**
 * The cost group of a frame: `engine` = the ICMP engine (internal/icmp, internal/net);
 * `scheduler` = slots, probes, breaker and device state (internal/schedule except the summary
 * windows, internal/state, internal/ratelimit, internal/clock) and the RTT histogram (prom-client);
 * `summaries` = the ping_summary windows and their quantiles; `encoding` = tags and line protocol
 * (src/device-tags, internal/writer/line-protocol, internal/model); `output` = the rest of the
 * writer and the outputs; `other` = GC, node internals, everything else.
 */
export function costGroupOf(cf: CallFrame): CostGroup {
  const area = areaOf(cf);
  const file = /\/([^/]+)\.js$/.exec(cf.url)?.[1] ?? '';
  if (area === 'internal/icmp' || area === 'internal/net') return 'engine';
  if (area === 'internal/schedule')
    return file.startsWith('summary') || file === 'quantile' ? 'summaries' : 'scheduler';
  if (['internal/state', 'internal/ratelimit', 'internal/clock', 'prom-client'].includes(area)) return 'scheduler';
  if (area === 'src/device-tags' || area === 'internal/model') return 'encoding';
  if (area === 'internal/writer') return file === 'line-protocol' ? 'encoding' : 'output';
  if (area === 'src/output-slot' || area === '@influxdata/influxdb-client') return 'output';
  return 'other';
}

/** Stage or package a frame belongs to. */
export function areaOf(cf: CallFrame): string {
  const u = cf.url;
  if (u === '') return cf.functionName.startsWith('(') ? cf.functionName : '(native)';
  if (u.startsWith('node:')) return `node:${u.slice(5).split('/')[0]}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1]!;
  const own = /\/dist\/(internal|src|cmd)\/([^/]+)/.exec(u);
  if (own) return own[1] === 'internal' ? `internal/${own[2]}` : `${own[1]}/${own[2]!.replace(/\.js$/, '')}`;
  return u.replace(/^file:\/\//, '');
}

const label = (cf: CallFrame): string => {
  const file = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/');
  return `${cf.functionName || '(anonymous)'} ${file}${file ? `:${cf.lineNumber + 1}` : ''}`;
};

/** Self and inclusive time of the top `top` functions and every area. */
export function summariseProfile(p: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const areas = new Map<string, number>();
  const groups = new Map<CostGroup, number>();
  let wall = 0;
  let idle = 0;
  const seen = new Set<string>();
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the following delta to sample i.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    wall += dt;
    const node = byId.get(p.samples[i]!);
    if (!node) continue;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const key = label(cf);
    self.set(key, (self.get(key) ?? 0) + dt);
    const area = areaOf(cf);
    areas.set(area, (areas.get(area) ?? 0) + dt);
    const group = costGroupOf(cf);
    groups.set(group, (groups.get(group) ?? 0) + dt);
    seen.clear();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const k = label(byId.get(id)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  }
  const pct = (ms: number): number => Math.round((1000 * ms) / Math.max(wall, 1e-9)) / 10;
  const ofBusy = (ms: number): number => Math.round((1000 * ms) / Math.max(wall - idle, 1e-9)) / 10;
  const functions = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, selfPct: pct(ms), totalPct: pct(total.get(name) ?? ms) }));
  return {
    wallMs: Math.round(wall),
    busyPct: pct(wall - idle),
    functions,
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, ms]) => ({
        area,
        selfPct: pct(ms),
        busySharePct: ofBusy(ms),
      })),
    groups: costGroups.map((group) => ({ group, busySharePct: ofBusy(groups.get(group) ?? 0) })),
  };
}
