import type { Device, SnmpInfo } from '../model/device.js';
import type { PingOutcome } from '../model/ping.js';
import { DeviceMetrics, type DeviceLabels } from './device-metrics.js';

/** Where {@link DeviceSeries} looks up a device's identity. */
export interface DeviceDirectory {
  /** A copy of the device, or undefined when unknown. */
  get(ip: string): Device | undefined;
}

/** Options for {@link DeviceSeries}. */
export interface DeviceSeriesOptions {
  /** The device state: names come from its SNMP data. */
  devices: DeviceDirectory;
  /** Configured labels of a device (its network's or target's) and its `name` when it has one (a target's name wins over SNMP's); absent = none. */
  labelsOf?: ((ip: string) => Readonly<Record<string, string>> | undefined) | undefined;
}

/**
 * Feeds the per-device Prometheus series from what the ping scheduler records (it implements the
 * scheduler's ProbeObserver) and from SNMP answers. A device gets series at its first judged probe
 * or suspended slot, never earlier (a device just added is not "down"); it loses them when its
 * schedule ends. Probes the agent spoiled (`agent_overloaded`, `agent_error`) judge nothing about
 * the host, so they change no series.
 */
export class DeviceSeries {
  readonly #opts: DeviceSeriesOptions;
  readonly #metrics = new DeviceMetrics();

  constructor(opts: DeviceSeriesOptions) {
    this.#opts = opts;
  }

  /** Devices with series. */
  get size(): number {
    return this.#metrics.size;
  }

  /** A probe settled: counts it, and on a reply its RTT. */
  probed(o: PingOutcome): void {
    if (!o.ok && (o.reason === 'agent_overloaded' || o.reason === 'agent_error')) return;
    this.#ensure(o.ip);
    this.#metrics.observe(o.ip, o.ok, o.ok ? o.rttMs : 0);
  }

  /** A slot passed while the device's breaker was open: it is down. */
  suspended(ip: string): void {
    this.#ensure(ip);
    this.#metrics.markDown(ip);
  }

  /** The device is no longer monitored: its series go. */
  removed(ip: string): void {
    this.#metrics.remove(ip);
  }

  /** SNMP answered for `ip`: its name and identity labels follow. */
  snmpAnswered(ip: string, info: SnmpInfo): void {
    if (this.#metrics.has(ip)) this.#metrics.setLabels(ip, this.#identity(ip, info));
  }

  /**
   * Takes the name and labels of `ip` (every device when absent) afresh, keeping the counts: after
   * a reload changed labels, or a target name moved to another address.
   */
  relabel(ip?: string): void {
    for (const d of ip === undefined ? [...this.#metrics.ips()] : this.#metrics.has(ip) ? [ip] : [])
      this.#metrics.setLabels(d, this.#identity(d, this.#opts.devices.get(d)?.snmp));
  }

  /** The text exposition of every per-device series. */
  render(): string {
    return this.#metrics.render();
  }

  #ensure(ip: string): void {
    if (!this.#metrics.has(ip)) this.#metrics.setLabels(ip, this.#identity(ip, this.#opts.devices.get(ip)?.snmp));
  }

  #identity(ip: string, snmp: SnmpInfo | undefined): DeviceLabels {
    const labels = this.#opts.labelsOf?.(ip);
    return {
      name: labels?.name || snmp?.sysName || undefined,
      labels,
      info: snmp && {
        description: snmp.sysDescr,
        sys_object_id: snmp.sysObjectId,
        location: snmp.sysLocation,
        contact: snmp.sysContact,
      },
    };
  }
}
