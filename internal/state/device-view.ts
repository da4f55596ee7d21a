import type { Device, SnmpInfo } from '../model/device.js';
import type { DeviceSlots } from './device-slots.js';
import { breakerView } from './store-breakers.js';

/** A frozen copy of `i`, so a caller changing its object later changes nothing in the store. */
export function copySnmpInfo(i: SnmpInfo): SnmpInfo {
  return Object.freeze({
    sysName: i.sysName,
    sysDescr: i.sysDescr,
    sysObjectId: i.sysObjectId,
    sysLocation: i.sysLocation,
    sysContact: i.sysContact,
    sysUptimeS: i.sysUptimeS,
    credentialId: i.credentialId,
  });
}

/** A copy of the device in slot `s`; changing it changes nothing in the store. */
export function deviceView(slots: DeviceSlots, s: number): Device {
  return {
    ip: slots.ip(s),
    hostname: slots.hostname(s),
    snmp: slots.snmp(s),
    firstSeenMs: slots.firstSeenMs(s),
    lastSeenMs: slots.lastSeenMs(s),
    lastSnmpMs: slots.lastSnmpMs(s),
    ping: breakerView(slots.pingBreaker(s)),
    snmpBreaker: breakerView(slots.snmpBreaker(s)),
  };
}
