/** Semantic checks of the keys kept for compatibility with the Go netscan, which warn when set to no effect. */
import { parseDuration } from './duration.js';
import { line, num, str, type Findings, type Raw } from './findings.js';

/** `snmp_daily_schedule` and the Go netscan's worker and interval keys netscan accepts without effect. */
export function checkLegacy(raw: Raw, f: Findings): void {
  const sched = raw.snmp_daily_schedule;
  if (typeof sched === 'string' && sched !== '') {
    const m = /^(\d{2}):(\d{2})$/.exec(sched);
    if (!m)
      f.errors.push(
        line(
          'snmp_daily_schedule',
          'time must be in HH:MM format',
          JSON.stringify(sched),
          '"HH:MM" with hour 00-23 and minute 00-59',
        ),
      );
    else if (Number(m[1]) > 23)
      f.errors.push(line('snmp_daily_schedule', 'hour must be between 00 and 23', m[1], '00-23'));
    else if (Number(m[2]) > 59)
      f.errors.push(line('snmp_daily_schedule', 'minute must be between 00 and 59', m[2], '00-59'));
    else
      f.warnings.push(line('snmp_daily_schedule', 'is deprecated and ignored; devices are polled every snmp_interval'));
  }
  // Only a value that differs from the default suggests the operator expects an effect.
  for (const [k, def] of [
    ['snmp_workers', 32],
    ['max_concurrent_snmp_pollers', 20_000],
  ] as const) {
    const v = num(raw[k]);
    if (v !== undefined && v !== def)
      f.warnings.push(
        line(k, 'is accepted for compatibility with Go netscan but has no effect (see snmp.max_in_flight)', String(v)),
      );
  }
  for (const [k, def] of [
    ['discovery_interval', 4 * 3_600_000],
    ['min_scan_interval', 60_000],
  ] as const) {
    const v = str(raw[k]);
    let ms: number | undefined;
    try {
      ms = v === undefined ? undefined : parseDuration(v);
    } catch {
      ms = undefined; // the schema reports the syntax
    }
    if (ms !== undefined && ms !== def)
      f.warnings.push(line(k, 'is accepted for compatibility with Go netscan but has no effect', JSON.stringify(v)));
  }
}
