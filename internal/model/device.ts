/** What SNMP told us about a device (all strings already sanitised). */
export interface SnmpInfo {
  /** sysName.0; empty when the agent returned none (the hostname then stays the IP). */
  readonly sysName: string;
  /** sysDescr.0. */
  readonly sysDescr: string;
  /** sysObjectID.0 in dotted numeric form, or empty. */
  readonly sysObjectId: string;
  /** sysLocation.0, or empty. */
  readonly sysLocation: string;
  /** sysContact.0, or empty. */
  readonly sysContact: string;
  /** sysUpTime.0 in seconds, or undefined when not returned. */
  readonly sysUptimeS: number | undefined;
  /** Name/index of the credential that answered, remembered per device (never the secret itself). */
  readonly credentialId: string;
}

/** Circuit-breaker state for one probe kind (ping or SNMP) of one device. */
export interface BreakerState {
  /** Consecutive failures since the last success or trip. */
  readonly consecutiveFails: number;
  /** Suspension end in ms since the epoch; 0 when never suspended. Active while now < suspendedUntilMs. */
  readonly suspendedUntilMs: number;
}

/** A read-only copy of one device as held by the state manager. */
export interface Device {
  /** IPv4 address in dotted form; the key. */
  readonly ip: string;
  /** sysName when known, else the IP (Go parity). */
  readonly hostname: string;
  /** Latest SNMP answer, or undefined if SNMP never succeeded. */
  readonly snmp: SnmpInfo | undefined;
  /** First time the device was seen, ms since the epoch. */
  readonly firstSeenMs: number;
  /** Last time the device answered a sweep or a ping, ms since the epoch (SNMP answers do not count, so an ICMP-dead device can be pruned). */
  readonly lastSeenMs: number;
  /** Last successful SNMP poll, ms since the epoch; 0 if never. */
  readonly lastSnmpMs: number;
  /** Ping circuit breaker. */
  readonly ping: BreakerState;
  /** SNMP circuit breaker. */
  readonly snmpBreaker: BreakerState;
}

/** Why a device left the state. */
export type RemovalCause = 'evicted' | 'pruned' | 'removed';

/** Change events emitted by the state manager, so consumers work in O(churn). */
export type DeviceEvent =
  | { readonly type: 'added'; readonly ip: string }
  | { readonly type: 'removed'; readonly ip: string; readonly cause: RemovalCause }
  | { readonly type: 'suspended'; readonly ip: string; readonly kind: 'ping' | 'snmp'; readonly untilMs: number }
  | { readonly type: 'resumed'; readonly ip: string; readonly kind: 'ping' | 'snmp' };

/** Listener for {@link DeviceEvent}s. */
export type DeviceListener = (event: DeviceEvent) => void;
