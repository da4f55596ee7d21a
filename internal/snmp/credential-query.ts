import type { Logger } from '../log/log.js';
import type { SnmpInfo } from '../model/device.js';
import type { IdentifiedCredential } from './credentials.js';
import type { SnmpEnricherOptions } from './enricher-options.js';
import type { SnmpFailureClass, SnmpGetResult, SnmpSession } from './session.js';
import { allMissing, systemOidList, toSnmpInfo } from './system-info.js';

/** Outcome of one device query: the info, or why every credential tried failed. */
export type QueryResult =
  | { readonly ok: true; readonly info: SnmpInfo }
  | { readonly ok: false; readonly failure: SnmpFailureClass; readonly detail: string; readonly nextCursor: number };

// Which failure to report when credentials failed differently: any answer says more than silence.
const failureRank: Record<SnmpFailureClass, number> = { auth: 3, no_such: 2, other: 1, timeout: 0 };

/** What {@link queryDevice} queries with. */
export interface CredentialQuery {
  /** The SNMP transport. */
  readonly session: SnmpSession;
  /** The enricher's logger. */
  readonly log: Logger;
  /** Every configured credential, in configured order. */
  readonly creds: readonly IdentifiedCredential[];
  /** Where and how to ask. */
  readonly opts: Pick<SnmpEnricherOptions, 'port' | 'timeoutMs' | 'retries' | 'maxStringBytes'>;
  /** Called once per credential tried. */
  readonly onAttempt: () => void;
}

/** The device being queried. */
export interface QueryTarget {
  readonly ip: string;
  /** Id of the credential that answered last. */
  readonly credentialId: string | undefined;
  /** Where this round starts in the credential list when no remembered one answers. */
  readonly cursor: number;
}

/** The credentials to try for `e`: remembered credential first, then the rest in configured order starting at the cursor. */
export function credentialOrder(creds: readonly IdentifiedCredential[], e: QueryTarget): IdentifiedCredential[] {
  const n = creds.length;
  const order: IdentifiedCredential[] = [];
  const remembered = creds.find((c) => c.id === e.credentialId);
  if (remembered !== undefined) order.push(remembered);
  for (let i = 0; i < n; i++) {
    const c = creds[(e.cursor + i) % n]!;
    if (c !== remembered) order.push(c);
  }
  return order;
}

/**
 * Asks `e` for the system group with each credential in {@link credentialOrder} until one answers
 * or `signal` aborts (the deadline); a failure reports the most telling class seen and where the
 * next round starts.
 */
export async function queryDevice(q: CredentialQuery, e: QueryTarget, signal: AbortSignal): Promise<QueryResult> {
  const o = q.opts;
  const order = credentialOrder(q.creds, e);
  let worst: { failure: SnmpFailureClass; detail: string } | undefined;
  let nextCursor = e.cursor;
  for (const [i, cred] of order.entries()) {
    if (signal.aborted) break;
    q.onAttempt();
    let r: SnmpGetResult = await q.session.get({
      ip: e.ip,
      port: o.port,
      credential: cred.credential,
      oids: systemOidList,
      timeoutMs: o.timeoutMs,
      retries: o.retries,
      signal,
    });
    if (r.ok && allMissing(r.values))
      r = { ok: false, failure: 'no_such', detail: 'the agent has none of the system group objects' };
    if (r.ok) return { ok: true, info: toSnmpInfo(r.values, cred.id, o.maxStringBytes) };
    q.log.debug({ ip: e.ip, credential: cred.id, failure: r.failure, detail: r.detail }, 'SNMP credential failed');
    if (worst === undefined || failureRank[r.failure] > failureRank[worst.failure]) worst = r;
    // The next round starts with the first credential this round did not finish, so with
    // many credentials and a short deadline every one of them is eventually tried first. A
    // credential that had the whole deadline to itself is passed over, or the rotation would stall.
    const at = q.creds.indexOf(cred);
    nextCursor = signal.aborted && i > 0 ? at : (at + 1) % q.creds.length;
  }
  return {
    ok: false,
    ...(worst ?? { failure: 'timeout', detail: 'deadline passed before any credential was tried' }),
    nextCursor,
  };
}
