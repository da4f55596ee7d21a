import * as snmp from 'net-snmp';
import { createSocket } from 'node:dgram';
import { systemClock } from '../clock/clock.js';
import { systemOids } from '../snmp/system-info.js';

/**
 * An in-process SNMP agent built on net-snmp's agent, for what snmpd cannot serve: values
 * larger than its 4 KiB config/pass buffers (up to the UDP datagram limit) and, bound on
 * udp:0.0.0.0 inside a private namespace, one agent standing in for every 127.x "device".
 * v1/v2c only: it accepts one community and answers the six system-group scalars.
 */

/** Values served (Buffers are sent as-is). */
export interface SnmpSimValues {
  sysDescr: string | Buffer;
  /** Dotted numeric OID. */
  sysObjectId: string;
  /** TimeTicks (hundredths of a second); default: time since start. */
  sysUpTimeTicks?: number;
  sysContact: string | Buffer;
  sysName: string | Buffer;
  sysLocation: string | Buffer;
}

/** Options for {@link SnmpSim.start}. */
export interface SnmpSimOptions {
  /** Community accepted (default `netscan-sim`). */
  community?: string;
  /** Values served. */
  values?: Partial<SnmpSimValues>;
  /** Bind address (default 127.0.0.1; 0.0.0.0 only inside a private namespace). */
  address?: string;
}

const scalars: ReadonlyArray<[keyof SnmpSimValues, string, number]> = [
  ['sysDescr', systemOids.sysDescr, snmp.ObjectType['OctetString']!],
  ['sysObjectId', systemOids.sysObjectId, snmp.ObjectType['OID']!],
  ['sysUpTimeTicks', systemOids.sysUpTime, snmp.ObjectType['TimeTicks']!],
  ['sysContact', systemOids.sysContact, snmp.ObjectType['OctetString']!],
  ['sysName', systemOids.sysName, snmp.ObjectType['OctetString']!],
  ['sysLocation', systemOids.sysLocation, snmp.ObjectType['OctetString']!],
];

function freeUdpPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, address, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** A running simulated agent. */
export class SnmpSim {
  /** UDP port. */
  readonly port: number;
  /** Community accepted. */
  readonly community: string;
  /** Requests that reached the agent's handlers (one per requested scalar). */
  get handled(): number {
    return this.#handled;
  }
  readonly #agent: snmp.Agent;
  readonly #values: SnmpSimValues;
  readonly #startedMs = systemClock.now();
  #handled = 0;

  private constructor(port: number, community: string, agent: snmp.Agent, values: SnmpSimValues) {
    this.port = port;
    this.community = community;
    this.#agent = agent;
    this.#values = values;
  }

  /** Starts an agent on a free port. */
  static async start(opts: SnmpSimOptions = {}): Promise<SnmpSim> {
    const community = opts.community ?? 'netscan-sim';
    const address = opts.address ?? '127.0.0.1';
    const values: SnmpSimValues = {
      sysDescr: 'netscan simulated agent',
      sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
      sysContact: 'sim@example.invalid',
      sysName: 'sim',
      sysLocation: 'namespace',
      ...opts.values,
    };
    const port = await freeUdpPort(address);
    const agent = snmp.createAgent({ port, address, accessControlModelType: snmp.AccessControlModelType.None }, () => {
      // Unauthorised or undecodable requests are simply not answered, like a real agent.
    });
    agent.getAuthorizer().addCommunity(community);
    const sim = new SnmpSim(port, community, agent, values);
    const mib = agent.getMib();
    for (const [key, oid, type] of scalars) {
      const name = `sim_${key}`;
      mib.registerProvider({
        name,
        type: snmp.MibProviderType.Scalar,
        oid: oid.replace(/\.0$/, ''),
        scalarType: type,
        maxAccess: snmp.MaxAccess['read-only']!,
        handler: (req) => {
          sim.#handled++;
          req.instanceNode.value = sim.#value(key);
          req.done();
        },
      });
      mib.setScalarValue(name, sim.#value(key));
    }
    return sim;
  }

  /** Changes served values. */
  set(values: Partial<SnmpSimValues>): void {
    Object.assign(this.#values, values);
  }

  /** Closes the agent's socket. */
  stop(): Promise<void> {
    return new Promise((resolve) => this.#agent.close(() => resolve()));
  }

  #value(key: keyof SnmpSimValues): unknown {
    if (key === 'sysUpTimeTicks')
      return this.#values.sysUpTimeTicks ?? Math.floor((systemClock.now() - this.#startedMs) / 10);
    return this.#values[key];
  }
}
