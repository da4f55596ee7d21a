import type { Clock } from '../clock/clock.js';
import type { Device, SnmpInfo } from '../model/device.js';
import type { SnmpCredential } from '../snmp/credentials.js';
import type { SnmpDeviceState } from '../snmp/enricher.js';
import type { SnmpGetRequest, SnmpGetResult, SnmpSession, SnmpValue } from '../snmp/session.js';
import { systemOids } from '../snmp/system-info.js';

/** What a simulated agent holds; an absent key answers noSuchObject. */
export interface FakeSystemValues {
  /** sysDescr.0 (a Buffer is served byte for byte). */
  sysDescr?: string | Buffer;
  /** sysObjectID.0, dotted numeric. */
  sysObjectId?: string;
  /** sysUpTime.0 in TimeTicks (hundredths of a second). */
  sysUpTimeTicks?: number;
  /** sysContact.0. */
  sysContact?: string | Buffer;
  /** sysName.0. */
  sysName?: string | Buffer;
  /** sysLocation.0. */
  sysLocation?: string | Buffer;
}

/** One simulated agent. */
export interface FakeAgent {
  /** Values it serves. */
  values: FakeSystemValues;
  /** Which credentials it accepts (default: all). A refused v3 credential gets a fast `auth` answer, a refused community silence. */
  accepts?: (cred: SnmpCredential) => boolean;
  /** Answer delay, ms (default 1). */
  latencyMs?: number;
}

/** One GET the fake received. */
export interface FakeSnmpCall {
  readonly ip: string;
  readonly credential: SnmpCredential;
  readonly atMs: number;
}

/** Options for {@link FakeSnmpSession}. */
export interface FakeSnmpSessionOptions {
  /** Time source for latency and timeouts. */
  clock: Clock;
  /** Agents by IP; an IP without one never answers (a dead host). */
  agents?: Map<string, FakeAgent>;
  /** Keep every call in `calls` (default true). */
  record?: boolean;
}

const order: ReadonlyArray<keyof FakeSystemValues> = [
  'sysDescr',
  'sysObjectId',
  'sysUpTimeTicks',
  'sysContact',
  'sysName',
  'sysLocation',
];
const byOid = new Map<string, keyof FakeSystemValues>([
  [systemOids.sysDescr, 'sysDescr'],
  [systemOids.sysObjectId, 'sysObjectId'],
  [systemOids.sysUpTime, 'sysUpTimeTicks'],
  [systemOids.sysContact, 'sysContact'],
  [systemOids.sysName, 'sysName'],
  [systemOids.sysLocation, 'sysLocation'],
]);

function valueOf(values: FakeSystemValues, key: keyof FakeSystemValues | undefined): SnmpValue {
  if (key === undefined) return { type: 'missing' };
  const v = values[key];
  if (v === undefined) return { type: 'missing' };
  if (key === 'sysObjectId') return { type: 'oid', value: String(v) };
  if (key === 'sysUpTimeTicks') return { type: 'number', value: Number(v) };
  return { type: 'octets', value: Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8') };
}

/**
 * SNMP agents simulated on a clock. A dead IP (no agent) stays silent until the request's
 * timeout x (retries + 1) or its abort signal, whichever comes first, like a real session.
 * `get` is an own arrow property so a failure fake can spread this one and override it.
 */
export class FakeSnmpSession implements SnmpSession {
  /** Agents by IP; change them between rounds (e.g. a lower sysUpTime for a reboot). */
  readonly agents: Map<string, FakeAgent>;
  /** Every GET received, when recording. */
  readonly calls: FakeSnmpCall[] = [];
  /** GETs received. */
  callCount = 0;
  /** GETs running now. */
  inFlight = 0;
  /** Most GETs running at once. */
  maxInFlight = 0;
  readonly #clock: Clock;
  readonly #record: boolean;

  constructor(opts: FakeSnmpSessionOptions) {
    this.#clock = opts.clock;
    this.agents = opts.agents ?? new Map();
    this.#record = opts.record ?? true;
  }

  /** Adds or replaces the agent at `ip`. */
  setAgent(ip: string, agent: FakeAgent): void {
    this.agents.set(ip, agent);
  }

  /** Answers from the agent at `req.ip` after its latency, or stays silent until the timeout or the abort. */
  readonly get = (req: SnmpGetRequest): Promise<SnmpGetResult> => {
    this.callCount++;
    if (this.#record) this.calls.push({ ip: req.ip, credential: req.credential, atMs: this.#clock.now() });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const agent = this.agents.get(req.ip);
    const accepted = agent !== undefined && (agent.accepts?.(req.credential) ?? true);
    let result: SnmpGetResult;
    let delayMs: number;
    if (agent !== undefined && accepted) {
      delayMs = agent.latencyMs ?? 1;
      result = { ok: true, values: req.oids.map((oid) => valueOf(agent.values, byOid.get(oid))) };
    } else if (agent !== undefined && req.credential.version === '3') {
      delayMs = agent.latencyMs ?? 1;
      result = { ok: false, failure: 'auth', detail: 'Unknown User Name' };
    } else {
      delayMs = req.timeoutMs * (req.retries + 1);
      result = { ok: false, failure: 'timeout', detail: 'Request timed out' };
    }
    return new Promise<SnmpGetResult>((resolve) => {
      const finish = (r: SnmpGetResult): void => {
        this.inFlight--;
        req.signal.removeEventListener('abort', onAbort);
        resolve(r);
      };
      const onAbort = (): void => {
        timer.cancel();
        finish({ ok: false, failure: 'timeout', detail: 'per-device deadline passed' });
      };
      const timer = this.#clock.setTimeout(() => finish(result), delayMs);
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener('abort', onAbort, { once: true });
    });
  };
}

/** The values a fake agent serves, in request order (for tests of the parser). */
export function fakeValues(values: FakeSystemValues): SnmpValue[] {
  return order.map((k) => valueOf(values, k));
}

interface Rec {
  snmp: SnmpInfo | undefined;
  lastSnmpMs: number;
  hostname: string;
  fails: number;
  suspendedUntilMs: number;
}

/**
 * The SNMP slice of the state manager with the Go breaker (docs/go-parity.md): fails++; at `maxFails`
 * the breaker trips (fails = 0, suspendedUntil = now + backoff, returns true); a success resets it.
 */
export class FakeSnmpState implements SnmpDeviceState {
  readonly #clock: Clock;
  readonly #devices = new Map<string, Rec>();
  /** Successes recorded, in order. */
  readonly successes: Array<{ ip: string; info: SnmpInfo; atMs: number }> = [];
  /** Failures recorded per IP. */
  readonly failures = new Map<string, number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Adds a device (optionally with SNMP info restored from a snapshot). */
  add(ip: string, restored?: { snmp: SnmpInfo; lastSnmpMs: number }): void {
    this.#devices.set(ip, {
      snmp: restored?.snmp,
      lastSnmpMs: restored?.lastSnmpMs ?? 0,
      hostname: restored?.snmp.sysName || ip,
      fails: 0,
      suspendedUntilMs: 0,
    });
  }

  /** Removes a device. */
  remove(ip: string): void {
    this.#devices.delete(ip);
  }

  has(ip: string): boolean {
    return this.#devices.has(ip);
  }

  get(ip: string): Device | undefined {
    const r = this.#devices.get(ip);
    if (r === undefined) return undefined;
    return {
      ip,
      hostname: r.hostname,
      snmp: r.snmp,
      firstSeenMs: 0,
      lastSeenMs: 0,
      lastSnmpMs: r.lastSnmpMs,
      ping: { consecutiveFails: 0, suspendedUntilMs: 0 },
      snmpBreaker: { consecutiveFails: r.fails, suspendedUntilMs: r.suspendedUntilMs },
    };
  }

  recordSnmpSuccess(ip: string, info: SnmpInfo): void {
    const r = this.#devices.get(ip);
    if (r === undefined) return;
    r.snmp = info;
    r.hostname = info.sysName || ip;
    r.lastSnmpMs = this.#clock.now();
    r.fails = 0;
    r.suspendedUntilMs = 0;
    this.successes.push({ ip, info, atMs: this.#clock.now() });
  }

  recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const r = this.#devices.get(ip);
    if (r === undefined) return false;
    this.failures.set(ip, (this.failures.get(ip) ?? 0) + 1);
    r.fails++;
    if (r.fails < maxFails) return false;
    r.fails = 0;
    r.suspendedUntilMs = this.#clock.now() + backoffMs;
    return true;
  }

  isSnmpSuspended(ip: string): boolean {
    const r = this.#devices.get(ip);
    return r !== undefined && this.#clock.now() < r.suspendedUntilMs;
  }
}
