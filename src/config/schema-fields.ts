/** The value kinds of the config schema (numbers in a range, durations, strings, booleans), each with its messages. */
import { z } from 'zod';
import { parseDuration, formatDuration, DurationSyntaxError } from './duration.js';

// Messages carry the "allowed" part after a separator; load.ts adds the "got" part.
const SEP = '\u0001';
export const msg = (message: string, allowed: string): string => `${message}${SEP}${allowed}`;
/** Splits a schema message into its message and allowed parts. */
export function splitMessage(m: string): { message: string; allowed: string | undefined } {
  const i = m.indexOf(SEP);
  return i < 0 ? { message: m, allowed: undefined } : { message: m.slice(0, i), allowed: m.slice(i + 1) };
}

export const typeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v;

export function intIn(min: number, max: number) {
  const allowed = `an integer from ${min} to ${max}`;
  return z
    .number({
      error: (iss) =>
        msg(iss.input === undefined ? 'is required' : `must be a number, not a ${typeName(iss.input)}`, allowed),
    })
    .int({ error: msg('must be a whole number', allowed) })
    .min(min, { error: msg(`must be between ${min} and ${max}`, allowed) })
    .max(max, { error: msg(`must be between ${min} and ${max}`, allowed) });
}

export function positive(allowed = 'a number greater than 0') {
  return z
    .number({
      error: (iss) =>
        msg(iss.input === undefined ? 'is required' : `must be a number, not a ${typeName(iss.input)}`, allowed),
    })
    .gt(0, { error: msg('must be greater than 0', allowed) })
    .refine(Number.isFinite, { error: msg('must be finite', allowed) });
}

/** A duration key: Go syntax string in, milliseconds out, with a lower bound. */
export function duration(minMs: number, opts: { allowZero?: boolean; maxMs?: number } = {}) {
  const allowed =
    `a duration like "${formatDuration(Math.max(minMs, 1000))}"` +
    (minMs > 0 ? ` of at least ${formatDuration(minMs)}` : '') +
    (opts.maxMs !== undefined ? ` and at most ${formatDuration(opts.maxMs)}` : '') +
    (opts.allowZero ? ', or "0" to disable' : '');
  return z.unknown().transform((v, ctx): number => {
    if (v === undefined || v === null || v === '') {
      ctx.addIssue({ code: 'custom', message: msg('is required', allowed) });
      return z.NEVER;
    }
    if (typeof v === 'number') {
      const hint = Number.isFinite(v)
        ? `a bare number is not a duration; add a unit, e.g. "${v}s"`
        : `must be a duration string, not ${String(v)}`;
      ctx.addIssue({ code: 'custom', message: msg(hint, allowed) });
      return z.NEVER;
    }
    if (typeof v !== 'string') {
      ctx.addIssue({ code: 'custom', message: msg(`must be a duration string, not a ${typeName(v)}`, allowed) });
      return z.NEVER;
    }
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: msg(err instanceof DurationSyntaxError ? err.message : String(err), allowed),
      });
      return z.NEVER;
    }
    if (ms === 0 && opts.allowZero) return 0;
    if (ms < minMs || (minMs === 0 && ms <= 0)) {
      ctx.addIssue({
        code: 'custom',
        message: msg(minMs > 0 ? `must be at least ${formatDuration(minMs)}` : 'must be greater than 0', allowed),
      });
      return z.NEVER;
    }
    if (opts.maxMs !== undefined && ms > opts.maxMs) {
      ctx.addIssue({ code: 'custom', message: msg(`must be at most ${formatDuration(opts.maxMs)}`, allowed) });
      return z.NEVER;
    }
    return ms;
  });
}

/** A duration key with a default given in Go syntax (applied when the key is absent). */
export function durationDefault(def: string, minMs: number, opts: { allowZero?: boolean; maxMs?: number } = {}) {
  return duration(minMs, opts)
    .optional()
    .transform((v) => v ?? parseDuration(def));
}

export function str(allowed = 'a string') {
  return z.string({
    error: (iss) =>
      msg(iss.input === undefined ? 'is required' : `must be a string, not a ${typeName(iss.input)}`, allowed),
  });
}

export function bool() {
  return z.boolean({ error: (iss) => msg(`must be true or false, not ${JSON.stringify(iss.input)}`, 'true or false') });
}
