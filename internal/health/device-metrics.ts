/**
 * Per-device Prometheus series (opt-in, `prometheus.per_device`): for every monitored device an
 * RTT histogram, sent and received counters and an up gauge, labelled with its address, its name
 * and its configured labels, so a Prometheus user can alert on "host X down" the way
 * smokeping_prober and blackbox_exporter users do. Figures live in typed arrays indexed by a
 * device slot; the exposition text is written directly, without a metric object per series
 * (20,000 devices are 360,000 samples: see MANUAL.md, "Per-device Prometheus metrics").
 */

/** Upper bounds of the RTT histogram buckets, in seconds (+Inf is implied). */
export const deviceRttBucketsS: readonly number[] = [
  0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/** Identity labels of one device. */
export interface DeviceLabels {
  /** Device name (target name, SNMP sysName or reverse DNS); omitted when unknown. */
  name?: string | undefined;
  /** Configured labels of its network or target (`site`, `role`, ...). */
  labels?: Readonly<Record<string, string>> | undefined;
  /** Labels of `netscan_device_info` only (SNMP description, location, ...): they may change without splitting the other series. */
  info?: Readonly<Record<string, string>> | undefined;
}

const NB = deviceRttBucketsS.length;
const PREFIX = 'netscan_device_';
const CHUNK = 1024;

/** Escapes a label value for the text exposition format (backslash, double quote, line feed). */
export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** Prometheus label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with `__` (reserved). */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The per-device series of one agent. */
export class DeviceMetrics {
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];
  #labelText: string[] = [];
  #infoText: string[] = [];
  #sent = new Float64Array(CHUNK);
  #received = new Float64Array(CHUNK);
  #up = new Int8Array(CHUNK);
  #sumS = new Float64Array(CHUNK);
  #buckets = new Float64Array(CHUNK * (NB + 1));
  #capacity = CHUNK;
  #used = 0;

  /** Devices with series. */
  get size(): number {
    return this.#slots.size;
  }

  /** True when `ip` has series. */
  has(ip: string): boolean {
    return this.#slots.has(ip);
  }

  /** The addresses with series. */
  ips(): IterableIterator<string> {
    return this.#slots.keys();
  }

  /** Records one probe outcome of `ip`: counts a send, and on success a reply and its RTT. */
  observe(ip: string, ok: boolean, rttMs: number): void {
    const i = this.#slot(ip);
    this.#sent[i]!++;
    if (!ok) {
      this.#up[i] = 0;
      return;
    }
    this.#up[i] = 1;
    this.#received[i]!++;
    const s = rttMs / 1000;
    this.#sumS[i]! += s;
    let b = 0;
    while (b < NB && s > deviceRttBucketsS[b]!) b++;
    this.#buckets[i * (NB + 1) + b]!++;
  }

  /** Marks `ip` down without a probe (its circuit breaker is open: suspended devices are down). */
  markDown(ip: string): void {
    this.#up[this.#slot(ip)] = 0;
  }

  /** Sets the identity labels of `ip` (its series keep their counts). */
  setLabels(ip: string, labels: DeviceLabels): void {
    const i = this.#slot(ip);
    const text = labelText(ip, labels);
    this.#labelText[i] = text;
    this.#infoText[i] = infoText(text, labels);
  }

  /** Removes every series of `ip` (it is no longer monitored). */
  remove(ip: string): void {
    const i = this.#slots.get(ip);
    if (i === undefined) return;
    this.#slots.delete(ip);
    this.#free.push(i);
  }

  /** The text exposition (format 0.0.4) of every per-device series. */
  render(): string {
    if (this.#slots.size === 0) return '';
    const parts: string[] = [];
    const each = (fn: (i: number, l: string) => void): void => {
      for (const i of this.#slots.values()) fn(i, this.#labelText[i]!);
    };
    parts.push(
      `# HELP ${PREFIX}info Identity of the device in its labels (name, SNMP description, location, ...); always 1.\n# TYPE ${PREFIX}info gauge\n`,
    );
    for (const i of this.#slots.values()) parts.push(`${PREFIX}info{${this.#infoText[i]}} 1\n`);
    parts.push(
      `# HELP ${PREFIX}up 1 when the device answered its last probe, 0 when it failed or is suspended.\n# TYPE ${PREFIX}up gauge\n`,
    );
    each((i, l) => parts.push(`${PREFIX}up{${l}} ${this.#up[i]}\n`));
    parts.push(
      `# HELP ${PREFIX}pings_sent_total Monitoring echo requests sent to the device.\n# TYPE ${PREFIX}pings_sent_total counter\n`,
    );
    each((i, l) => parts.push(`${PREFIX}pings_sent_total{${l}} ${this.#sent[i]}\n`));
    parts.push(
      `# HELP ${PREFIX}pings_received_total Echo replies received from the device.\n# TYPE ${PREFIX}pings_received_total counter\n`,
    );
    each((i, l) => parts.push(`${PREFIX}pings_received_total{${l}} ${this.#received[i]}\n`));
    parts.push(
      `# HELP ${PREFIX}rtt_seconds Round-trip time of the device's echo replies.\n# TYPE ${PREFIX}rtt_seconds histogram\n`,
    );
    each((i, l) => {
      let cum = 0;
      const base = i * (NB + 1);
      for (let b = 0; b < NB; b++) {
        cum += this.#buckets[base + b]!;
        parts.push(`${PREFIX}rtt_seconds_bucket{${l},le="${deviceRttBucketsS[b]}"} ${cum}\n`);
      }
      cum += this.#buckets[base + NB]!;
      parts.push(
        `${PREFIX}rtt_seconds_bucket{${l},le="+Inf"} ${cum}\n${PREFIX}rtt_seconds_sum{${l}} ${this.#sumS[i]}\n${PREFIX}rtt_seconds_count{${l}} ${cum}\n`,
      );
    });
    return parts.join('');
  }

  #slot(ip: string): number {
    let i = this.#slots.get(ip);
    if (i !== undefined) return i;
    i = this.#free.pop();
    if (i === undefined) {
      if (this.#used === this.#capacity) this.#grow();
      i = this.#used++;
    }
    this.#sent[i] = 0;
    this.#received[i] = 0;
    this.#up[i] = 0;
    this.#sumS[i] = 0;
    this.#buckets.fill(0, i * (NB + 1), (i + 1) * (NB + 1));
    const text = labelText(ip, {});
    this.#labelText[i] = text;
    this.#infoText[i] = text;
    this.#slots.set(ip, i);
    return i;
  }

  #grow(): void {
    const cap = this.#capacity * 2;
    const grow = <T extends Float64Array | Int8Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.#sent = grow(this.#sent, cap);
    this.#received = grow(this.#received, cap);
    this.#up = grow(this.#up, cap);
    this.#sumS = grow(this.#sumS, cap);
    this.#buckets = grow(this.#buckets, cap * (NB + 1));
    this.#capacity = cap;
  }
}

function infoText(base: string, d: DeviceLabels): string {
  let s = base;
  for (const [k, v] of Object.entries(d.info ?? {})) {
    // A configured label of the same name wins: one series may not carry a label twice.
    if (v !== '' && usableLabel(k) && d.labels?.[k] === undefined) s += `,${k}="${escapeLabelValue(v)}"`;
  }
  return s;
}

/** Whether a configured label can be a label of the per-device series (`ip`, `name` and `le` are taken); the config check warns about the others. */
export const usableLabel = (k: string): boolean =>
  k !== 'ip' && k !== 'name' && k !== 'le' && LABEL_NAME.test(k) && !k.startsWith('__');

function labelText(ip: string, d: DeviceLabels): string {
  let s = `ip="${escapeLabelValue(ip)}"`;
  if (d.name !== undefined && d.name !== '') s += `,name="${escapeLabelValue(d.name)}"`;
  for (const [k, v] of Object.entries(d.labels ?? {})) {
    // ip and name are ours; a label that is not a valid Prometheus name is left out (check-config warns).
    if (!usableLabel(k)) continue;
    s += `,${k}="${escapeLabelValue(v)}"`;
  }
  return s;
}
