import * as snmp from 'net-snmp';
import { redactSecrets } from '../log/log.js';
import type { SnmpCredential } from './credentials.js';

/**
 * The SNMP I/O seam. The enricher depends only on {@link SnmpSession}; {@link NetSnmpSession}
 * wraps the net-snmp library, and internal/testkit/fake-snmp.ts simulates agents on a clock.
 */

/** Why a GET produced no data. A failed query is data (counted, fed to the breaker), not an exception. */
export type SnmpFailureClass =
  /** No answer: dead host, filtered port, wrong v1/v2c community (agents stay silent), or the deadline passed. */
  | 'timeout'
  /** The agent answered but refused us: v3 unknown user, wrong digest or key, decryption error, authorizationError. */
  | 'auth'
  /** The agent answered, but none of the requested objects exist (noSuchObject/noSuchInstance, v1 noSuchName). */
  | 'no_such'
  /** Anything else: socket errors, undecodable answers, genErr. */
  | 'other';

/** One returned value, already stripped of net-snmp's type codes. */
export type SnmpValue =
  /** OctetString or Opaque bytes (not yet decoded: they may be NUL-padded or not UTF-8). */
  | { readonly type: 'octets'; readonly value: Buffer }
  /** OBJECT IDENTIFIER in dotted numeric form. */
  | { readonly type: 'oid'; readonly value: string }
  /** Integer, Counter32, Gauge32, TimeTicks (hundredths of a second), Unsigned32. */
  | { readonly type: 'number'; readonly value: number }
  /** noSuchObject, noSuchInstance or endOfMibView. */
  | { readonly type: 'missing' }
  /** Any other type (IpAddress, Counter64, ...), rendered as text. */
  | { readonly type: 'other'; readonly value: string };

/** One GET of `oids` against one agent with one credential. */
export interface SnmpGetRequest {
  /** Agent address (IPv4 dotted quad). */
  readonly ip: string;
  /** Agent UDP port. */
  readonly port: number;
  /** Credential to use. */
  readonly credential: SnmpCredential;
  /** Numeric OIDs without a leading dot. */
  readonly oids: readonly string[];
  /** Per-attempt timeout, ms. */
  readonly timeoutMs: number;
  /** Extra attempts after the first times out. */
  readonly retries: number;
  /** Aborting it ends the query at once as a `timeout` (the per-device deadline). */
  readonly signal: AbortSignal;
}

/** The outcome of one GET: values in request order, or a classified failure. */
export type SnmpGetResult =
  | { readonly ok: true; readonly values: readonly SnmpValue[] }
  | { readonly ok: false; readonly failure: SnmpFailureClass; readonly detail: string };

/** Sends SNMP GETs. Never rejects for network or agent conditions: those are results. */
export interface SnmpSession {
  /** Performs one GET (plus the v3 engine discovery it needs) and resolves with the result. */
  get(req: SnmpGetRequest): Promise<SnmpGetResult>;
}

const T = snmp.ObjectType;
const codes = snmp.ResponseInvalidCode;
const status = snmp.ErrorStatus;

/** Converts one net-snmp varbind into an {@link SnmpValue}. */
export function toSnmpValue(vb: snmp.Varbind): SnmpValue {
  const v = vb.value;
  switch (vb.type) {
    case T['OctetString']:
    case T['Opaque']:
      return { type: 'octets', value: Buffer.isBuffer(v) ? v : Buffer.from(String(v ?? ''), 'utf8') };
    case T['OID']:
      return { type: 'oid', value: String(v) };
    case T['Integer']:
    case T['Counter']:
    case T['Gauge']:
    case T['TimeTicks']:
      return typeof v === 'number' ? { type: 'number', value: v } : { type: 'other', value: String(v) };
    case T['NoSuchObject']:
    case T['NoSuchInstance']:
    case T['EndOfMibView']:
      return { type: 'missing' };
    default:
      return { type: 'other', value: Buffer.isBuffer(v) ? v.toString('hex') : String(v) };
  }
}

/** Maps a net-snmp error to a failure class, keeping its message as the detail. */
export function classifySnmpError(err: unknown): { failure: SnmpFailureClass; detail: string } {
  const e = err as { name?: string; message?: string; code?: unknown; status?: unknown };
  const detail = e?.message ?? String(err);
  switch (e?.name) {
    case 'RequestTimedOutError':
      return { failure: 'timeout', detail };
    case 'ResponseInvalidError':
      // EAuthFailure covers every usmStats report (unknown user, wrong digest, ...) and a bad
      // digest on the answer; ECouldNotDecrypt a wrong privacy key.
      if (e.code === codes['EAuthFailure'] || e.code === codes['ECouldNotDecrypt']) return { failure: 'auth', detail };
      return { failure: 'other', detail };
    case 'RequestFailedError':
      if (e.status === status['NoSuchName']) return { failure: 'no_such', detail };
      if (e.status === status['AuthorizationError'] || e.status === status['NoAccess'])
        return { failure: 'auth', detail };
      return { failure: 'other', detail };
    default: {
      const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
      return { failure: 'other', detail: code === '' || detail.startsWith(code) ? detail : code + detail };
    }
  }
}

const authProtocols: Record<string, number> = {
  sha: snmp.AuthProtocols.sha,
  sha224: snmp.AuthProtocols.sha224,
  sha256: snmp.AuthProtocols.sha256,
  sha384: snmp.AuthProtocols.sha384,
  sha512: snmp.AuthProtocols.sha512,
};

function openSession(req: SnmpGetRequest): snmp.Session {
  const cred = req.credential;
  // net-snmp treats timeout 0 as "default 5000"; 1 ms is the floor we can express.
  // net-snmp opens a udp4 socket unless told otherwise, and a udp4 socket cannot reach an IPv6 agent.
  const transport = req.ip.includes(':') ? 'udp6' : 'udp4';
  const options: snmp.SessionOptions = {
    port: req.port,
    timeout: Math.max(1, Math.round(req.timeoutMs)),
    retries: req.retries,
    transport,
  };
  if (cred.version === '3') {
    const authProtocol = authProtocols[cred.authProtocol];
    if (authProtocol === undefined) throw new Error(`unsupported SNMPv3 auth protocol '${String(cred.authProtocol)}'`);
    const user: snmp.User = {
      name: cred.user,
      level: cred.level === 'authPriv' ? snmp.SecurityLevel.authPriv : snmp.SecurityLevel.authNoPriv,
      authProtocol,
      authKey: cred.authKey,
    };
    if (cred.level === 'authPriv') {
      user.privProtocol = snmp.PrivProtocols.aes;
      user.privKey = cred.privKey ?? '';
    }
    return snmp.createV3Session(req.ip, user, { ...options, context: cred.context ?? '' });
  }
  return snmp.createSession(req.ip, cred.community, {
    ...options,
    version: cred.version === '1' ? snmp.Version1 : snmp.Version2c,
  });
}

/**
 * net-snmp's messages can quote secrets ("Community 'x' in request does not match community 'y'
 * in response"): both communities (ours and the agent's) and any key of the credential are
 * replaced before the detail reaches a log line.
 */
export function scrubSecrets(detail: string, credential: SnmpCredential): string {
  const secrets = credential.version === '3' ? [credential.authKey, credential.privKey ?? ''] : [credential.community];
  return redactSecrets(detail.replace(/(community\s+)'[^']*'/gi, "$1'[redacted]'"), secrets);
}

/**
 * The real session: one net-snmp session (one UDP socket) per query, closed when the query ends.
 * Retries and per-attempt timeouts are net-snmp's; the caller's signal cuts everything short,
 * so the per-device deadline holds whatever the credential's retry settings.
 */
export class NetSnmpSession implements SnmpSession {
  get(req: SnmpGetRequest): Promise<SnmpGetResult> {
    return new Promise<SnmpGetResult>((resolve) => {
      if (req.signal.aborted) {
        resolve({ ok: false, failure: 'timeout', detail: 'deadline passed before the request was sent' });
        return;
      }
      let session: snmp.Session;
      try {
        session = openSession(req);
      } catch (err) {
        resolve({ ok: false, ...classifySnmpError(err) });
        return;
      }
      let done = false;
      const finish = (r: SnmpGetResult): void => {
        if (done) return;
        done = true;
        const result = r.ok ? r : { ...r, detail: scrubSecrets(r.detail, req.credential) };
        req.signal.removeEventListener('abort', onAbort);
        // Closing cancels net-snmp's retry timers; the cancelled callback lands in finish() again and is ignored.
        try {
          session.close();
        } catch {
          // Already closed by a socket error: nothing left to release.
        }
        resolve(result);
      };
      const onAbort = (): void => finish({ ok: false, failure: 'timeout', detail: 'per-device deadline passed' });
      req.signal.addEventListener('abort', onAbort, { once: true });
      // Without a listener an undecodable datagram would be thrown from the socket's 'message' handler.
      session.on('error', (err: unknown) => finish({ ok: false, ...classifySnmpError(err) }));
      try {
        session.get([...req.oids], (err, varbinds) => {
          if (err) finish({ ok: false, ...classifySnmpError(err) });
          else finish({ ok: true, values: (varbinds ?? []).map(toSnmpValue) });
        });
      } catch (err) {
        finish({ ok: false, ...classifySnmpError(err) });
      }
    });
  }
}
