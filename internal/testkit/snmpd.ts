import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetSnmpSession } from '../snmp/session.js';
import { systemOids } from '../snmp/system-info.js';
import { ServerProcess } from './server-process.js';

/**
 * Debian's net-snmp `snmpd` (5.9) started by a test with a config file the test writes: numeric
 * OIDs only (`-m ''`), no system config (`-C`), a private persistent directory (v3 users are
 * written there), foreground with logs to a file. Inside a private network namespace it binds
 * udp:0.0.0.0 and so answers for every 127.x address; outside one it binds 127.0.0.1 only.
 */

/** A v3 user snmpd accepts. */
export interface SnmpdUser {
  /** USM user name. */
  user: string;
  /** snmpd's digest name: `SHA`, `SHA-224`, `SHA-256`, `SHA-384`, `SHA-512`. */
  authProtocol: 'SHA' | 'SHA-224' | 'SHA-256' | 'SHA-384' | 'SHA-512';
  /** Authentication passphrase (>= 8 characters). */
  authKey: string;
  /** Privacy passphrase; when set the user needs authPriv (AES-128). */
  privKey?: string;
}

/** Options for {@link Snmpd.start}. */
export interface SnmpdOptions {
  /** Read-only v1/v2c community (default `netscan-test`). */
  community?: string;
  /** v3 users. */
  users?: readonly SnmpdUser[];
  /** sysName.0 (default `snmpd-test`). */
  sysName?: string;
  /** sysLocation.0. */
  sysLocation?: string;
  /** sysContact.0. */
  sysContact?: string;
  /** sysObjectID.0, dotted. */
  sysObjectId?: string;
  /** sysDescr.0 as text (mutually exclusive with sysDescrBytes). */
  sysDescr?: string;
  /** sysDescr.0 as raw bytes (NUL padding, invalid UTF-8), served through an `override` directive. */
  sysDescrBytes?: Buffer;
  /** Extra snmpd.conf lines (e.g. `pass`). */
  extraConfig?: readonly string[];
  /** Bind udp:0.0.0.0 (default: when running inside the test namespace, NETSCAN_TEST_NETNS=1). */
  bindAll?: boolean;
}

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

/** A loopback UDP port held by a socket that never answers. */
export interface SilentPort {
  /** The port. */
  readonly port: number;
  /** Releases the port. */
  close(): Promise<void>;
}

/**
 * A dead agent: a UDP port on 127.0.0.1 bound by a socket that reads nothing and answers
 * nothing. Unlike "some port nobody listens on", no other test can take it meanwhile.
 */
export function silentUdpPort(): Promise<SilentPort> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.unref();
      resolve({ port: s.address().port, close: () => new Promise<void>((done) => s.close(() => done())) });
    });
  });
}

/** A running snmpd. */
export class Snmpd {
  /** UDP port it listens on. */
  readonly port: number;
  /** Community it accepts. */
  readonly community: string;
  /** Whether it answers on every 127.x address (else 127.0.0.1 only). */
  readonly bindAll: boolean;
  /** Directory holding its config, persistent state and log. */
  readonly dir: string;
  readonly #proc: ServerProcess;

  private constructor(port: number, community: string, bindAll: boolean, dir: string, proc: ServerProcess) {
    this.port = port;
    this.community = community;
    this.bindAll = bindAll;
    this.dir = dir;
    this.#proc = proc;
  }

  /** Writes the config, starts snmpd and waits until it answers a v2c GET (5 s limit). */
  static async start(opts: SnmpdOptions = {}): Promise<Snmpd> {
    const community = opts.community ?? 'netscan-test';
    const bindAll = opts.bindAll ?? process.env.NETSCAN_TEST_NETNS === '1';
    const address = bindAll ? '0.0.0.0' : '127.0.0.1';
    const dir = mkdtempSync(join(tmpdir(), 'netscan-snmpd-'));
    const lines = [`rocommunity ${community} default`, `sysName ${opts.sysName ?? 'snmpd-test'}`];
    if (opts.sysLocation !== undefined) lines.push(`sysLocation ${opts.sysLocation}`);
    if (opts.sysContact !== undefined) lines.push(`sysContact ${opts.sysContact}`);
    if (opts.sysObjectId !== undefined) lines.push(`sysObjectID .${opts.sysObjectId}`);
    if (opts.sysDescr !== undefined) lines.push(`sysDescr ${opts.sysDescr}`);
    // read_config_read_octet_string takes 0x-prefixed hex, so any byte (NUL included) can be served.
    if (opts.sysDescrBytes !== undefined)
      lines.push(`override .${systemOids.sysDescr} octet_str 0x${opts.sysDescrBytes.toString('hex')}`);
    for (const u of opts.users ?? []) {
      lines.push(
        u.privKey === undefined
          ? `createUser ${u.user} ${u.authProtocol} ${u.authKey}`
          : `createUser ${u.user} ${u.authProtocol} ${u.authKey} AES ${u.privKey}`,
      );
      lines.push(`rouser ${u.user} ${u.privKey === undefined ? 'auth' : 'priv'}`);
    }
    lines.push(...(opts.extraConfig ?? []));
    const conf = join(dir, 'snmpd.conf');
    writeFileSync(conf, lines.join('\n') + '\n');
    const session = new NetSnmpSession();
    for (let attempt = 0; ; attempt++) {
      const port = await freeUdpPort(address);
      const proc = new ServerProcess({
        name: 'snmpd',
        command: 'snmpd',
        args: [
          '-f',
          '-Lo',
          '-C',
          '-c',
          conf,
          '-m',
          '',
          `--persistentDir=${join(dir, 'persist')}`,
          `udp:${address}:${port}`,
        ],
        logFile: join(dir, 'snmpd.log'),
        startTimeoutMs: 5_000,
        ready: async () => {
          const r = await session.get({
            ip: '127.0.0.1',
            port,
            credential: { version: '2c', community },
            oids: [systemOids.sysUpTime],
            timeoutMs: 200,
            retries: 0,
            signal: new AbortController().signal,
          });
          return r.ok;
        },
      });
      try {
        await proc.start();
        return new Snmpd(port, community, bindAll, dir, proc);
      } catch (err) {
        // Another process may have taken the port between our probe and snmpd's bind.
        if (attempt >= 2 || !/Error opening specified endpoint/.test(proc.logTail())) {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  /** Stops snmpd and removes its directory; idempotent. */
  async stop(): Promise<void> {
    await this.#proc.stop(2_000);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The last lines of snmpd's log. */
  logTail(lines = 20): string {
    return this.#proc.logTail(lines);
  }
}
