/**
 * Durations in Go's time.ParseDuration syntax (`500ms`, `1h30m`, `1.5h`, `-2s`, `0`), which the Go
 * netscan used for every interval, plus `d` for days. Parsed once at load into milliseconds.
 */

const unitMs: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)/y;

/** Why a duration string was rejected; the caller turns it into a config problem. */
export class DurationSyntaxError extends Error {}

/**
 * Parses a Go-style duration into milliseconds. Throws DurationSyntaxError for anything else,
 * including bare numbers (a unit is required except for "0", as in Go).
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === '') throw new DurationSyntaxError('empty duration');
  let i = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  if (s.slice(i) === '0') return 0;
  if (/^\d+(\.\d+)?$/.test(s.slice(i))) {
    throw new DurationSyntaxError(
      `missing unit in duration "${text}" (write e.g. "${s.slice(i)}s" or "${s.slice(i)}ms")`,
    );
  }
  let total = 0;
  let parts = 0;
  while (i < s.length) {
    part.lastIndex = i;
    const m = part.exec(s);
    if (!m) throw new DurationSyntaxError(`invalid duration "${text}"`);
    total += Number(m[1]) * (unitMs[m[2] as string] as number);
    i = part.lastIndex;
    parts++;
  }
  if (parts === 0) throw new DurationSyntaxError(`invalid duration "${text}"`);
  // Go's time.Duration ends at about 292 years; past 2^53 ms a number no longer counts milliseconds.
  if (!Number.isFinite(total) || total > Number.MAX_SAFE_INTEGER)
    throw new DurationSyntaxError(`duration "${text.length > 30 ? `${text.slice(0, 27)}...` : text}" is too large`);
  return sign * total;
}

/** Formats milliseconds the way Go prints a time.Duration (`30s`, `1m0s`, `1h30m0s`, `500ms`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out: string;
  if (rest < 1000) {
    out = rest >= 1 ? `${trim(rest)}ms` : rest >= 1e-3 ? `${trim(rest * 1e3)}µs` : `${trim(rest * 1e6)}ns`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const sec = `${trim(rest / 1000)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}
