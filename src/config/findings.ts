/** What the semantic config checks report, and the helpers every check uses to read raw YAML and word a finding. */
import { reservedTagKeys } from './schema.js';

/** The raw (env-expanded) YAML object, before the schema. */
export type Raw = Record<string, unknown>;
/** Collected problems (errors) and warnings, each formatted as `path: message (got X; allowed Y)`. */
export interface Findings {
  /** Problems that reject the config. */
  errors: string[];
  /** Problems that are logged and let the config load. */
  warnings: string[];
}

/** The value as a YAML mapping, or undefined when it is not one. */
export const obj = (v: unknown): Raw | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : undefined;
/** The value as a finite number, or undefined. */
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
/** The value as a string, or undefined. */
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
/** One finding: `path: message (got X; allowed Y)`. */
export const line = (path: string, message: string, got?: string, allowed?: string): string => {
  const extra = [
    got !== undefined ? `got ${got}` : undefined,
    allowed !== undefined ? `allowed ${allowed}` : undefined,
  ].filter(Boolean);
  return `${path}: ${message}${extra.length ? ` (${extra.join('; ')})` : ''}`;
};

/** Label keys: line-protocol tag keys that do not collide with the tags netscan writes. */
export function checkLabels(path: string, labels: unknown, f: Findings): void {
  const m = obj(labels);
  if (!m) return; // absent, or the schema reports the type
  for (const k of Object.keys(m)) {
    const allowed = `a tag name other than ${reservedTagKeys.join(', ')}, not starting with "_"`;
    if (reservedTagKeys.includes(k))
      f.errors.push(line(`${path}.${k}`, 'is a tag netscan writes itself', JSON.stringify(k), allowed));
    else if (k === '' || k.startsWith('_'))
      f.errors.push(line(`${path}.${k}`, 'is not a usable tag name', JSON.stringify(k), allowed));
  }
}
