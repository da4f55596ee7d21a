import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../../internal/errors/errors.js';
import { expandEnv } from './env.js';
import { configSchema, envExpandedPaths, schemaKeyPaths, secretPaths, splitMessage, type Config } from './schema.js';
import { closest } from './suggest.js';
import { semanticChecks } from './validate.js';

/** A loaded, validated configuration and the warnings found on the way. */
export interface LoadedConfig {
  /** The validated configuration, durations in ms, relative paths resolved. */
  readonly config: Config;
  /** Non-fatal findings, one `path: message` line each. */
  readonly warnings: readonly string[];
  /** Absolute path of the file it came from (or `<inline>`). */
  readonly source: string;
}

/** Where to read environment variables from (defaults to process.env in cmd/). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Reads, expands, validates and resolves a config file. Throws ConfigError listing every problem. */
export async function loadConfigFile(path: string, env: Env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError([`${path}: cannot read config file: ${why}`], { cause: err });
  }
  return parseConfigText(text, { env, source: resolve(path) });
}

/** Options for {@link parseConfigText}. */
export interface ParseConfigOptions {
  /** Environment for `$VAR` expansion and shard overrides. */
  env: Env;
  /** File name for messages and base for relative paths; `<inline>` resolves against the cwd. */
  source?: string;
}

/** Validates YAML text; the core of loadConfigFile, usable without a file. */
export function parseConfigText(text: string, opts: ParseConfigOptions): LoadedConfig {
  const source = opts.source ?? '<inline>';
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${source}: YAML syntax error: ${e.message.split('\n')[0]}`));
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    // An alias bomb ("Excessive alias count") or another structure the parser refuses.
    throw new ConfigError([`${source}: YAML error: ${err instanceof Error ? err.message : String(err)}`]);
  }
  if (raw === null || raw === undefined) throw new ConfigError([`${source}: config file is empty`]);
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError([
      `${source}: top level must be a mapping of keys, not a ${Array.isArray(raw) ? 'list' : typeof raw}`,
    ]);
  const rawObj = raw as Record<string, unknown>;
  expandPaths(rawObj, opts.env);
  const fromEnv = applyShardEnv(rawObj, opts.env);

  const parsed = configSchema.safeParse(rawObj);
  const errors = parsed.success ? [] : parsed.error.issues.flatMap((iss) => formatIssue(iss, rawObj));
  const findings = semanticChecks(rawObj, parsed.success ? parsed.data : undefined);
  errors.push(...findings.errors);
  if (errors.length > 0 || !parsed.success)
    throw new ConfigError(dedupe(errors.map((e) => namingEnv(e, fromEnv))), { warnings: findings.warnings });
  const base = source === '<inline>' ? process.cwd() : dirname(source);
  return { config: resolvePaths(parsed.data, base), warnings: findings.warnings, source };
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

const isSecretPath = (path: string): boolean => secretPaths.includes(path.replace(/\[\d+\]/g, '[]'));

function showValue(path: string, v: unknown): string {
  if (v === undefined) return 'nothing';
  if (isSecretPath(path)) return '[redacted]';
  // A mapping or list is named, never printed: it may hold secrets (a token under a mis-shaped
  // section) or refer to itself (a YAML alias).
  if (Array.isArray(v)) return 'a list';
  if (v !== null && typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function formatIssue(iss: z.core.$ZodIssue, raw: unknown): string[] {
  if (iss.code === 'unrecognized_keys') {
    const parent = formatPath(iss.path);
    const siblings = schemaKeyPaths()
      .filter((p) => p.replace(/\[\]/g, '') !== '' && parentOf(p) === parent.replace(/\[\d+\]/g, '[]'))
      .map((p) => leafOf(p));
    const all = schemaKeyPaths();
    return iss.keys.map((k) => {
      const full = parent ? `${parent}.${k}` : k;
      const near = closest(k, siblings);
      const elsewhere = near ? undefined : all.find((p) => leafOf(p) === k);
      const hint = near
        ? `did you mean "${near}"?`
        : elsewhere
          ? `did you mean "${elsewhere}"? (it belongs in another section)`
          : 'remove it or check the spelling';
      return `${full}: unknown key; ${hint}`;
    });
  }
  const path = formatPath(iss.path);
  const { message, allowed } = splitMessage(iss.message);
  const got = showValue(path, valueAt(raw, iss.path));
  return [`${path || '(top level)'}: ${message} (got ${got}${allowed ? `; allowed ${allowed}` : ''})`];
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('.');
  return i < 0 ? '' : p.slice(0, i);
}

function leafOf(p: string): string {
  return p.slice(p.lastIndexOf('.') + 1);
}

/** Applies `$VAR` expansion to exactly the documented string fields. */
function expandPaths(raw: Record<string, unknown>, env: Env): void {
  for (const path of envExpandedPaths) {
    const [head, ...tail] = path.split('.');
    visit(raw, [head as string, ...tail], env);
  }
}

function visit(node: unknown, parts: string[], env: Env): void {
  if (node === null || typeof node !== 'object') return;
  const [part, ...rest] = parts;
  if (part === undefined) return;
  const isList = part.endsWith('[]');
  const key = isList ? part.slice(0, -2) : part;
  const rec = node as Record<string, unknown>;
  const child = rec[key];
  if (isList) {
    if (Array.isArray(child)) for (const el of child) visit(el, rest, env);
  } else if (rest.length > 0) {
    visit(child, rest, env);
  } else if (typeof child === 'string') {
    rec[key] = expandEnv(child, env);
  }
}

/**
 * NETSCAN_SHARD_INDEX / NETSCAN_SHARD_COUNT override `shard`. The index may be a plain number or
 * a name ending in one (a StatefulSet pod name such as `netscan-3`), so a manifest can pass the
 * pod name straight through.
 */
function applyShardEnv(raw: Record<string, unknown>, env: Env): Map<string, string> {
  const from = new Map<string, string>();
  const idx = env.NETSCAN_SHARD_INDEX;
  const count = env.NETSCAN_SHARD_COUNT;
  if (idx === undefined && count === undefined) return from;
  // A `shard` that is not a mapping is left for the schema to report, not hidden by the override.
  if (raw.shard !== undefined && (raw.shard === null || typeof raw.shard !== 'object' || Array.isArray(raw.shard)))
    return from;
  const shard = { ...((raw.shard as Record<string, unknown> | undefined) ?? {}) };
  if (idx !== undefined && idx !== '') {
    // A number, or a name ending in -<number> (a StatefulSet pod name); anything else is reported as given.
    const m = /^(?:.+-)?(\d+)$/.exec(idx);
    shard.index = m ? Number(m[1]) : idx;
    from.set('shard.index', 'NETSCAN_SHARD_INDEX');
  }
  if (count !== undefined && count !== '') {
    shard.count = /^\d+$/.test(count) ? Number(count) : count;
    from.set('shard.count', 'NETSCAN_SHARD_COUNT');
  }
  raw.shard = shard;
  return from;
}

/** A problem with a key the environment set names the variable too: the file may not even have the key. */
function namingEnv(problem: string, fromEnv: ReadonlyMap<string, string>): string {
  for (const [key, name] of fromEnv)
    if (problem.startsWith(`${key}: `)) return `${key} (from ${name})${problem.slice(key.length)}`;
  return problem;
}

function resolvePaths(cfg: Config, base: string): Config {
  const abs = (p: string): string => (p === '' || isAbsolute(p) ? p : resolve(base, p));
  // With no InfluxDB the file is the output, so an empty output_file means its default path.
  const noInflux = !cfg.influxdb?.enabled && !cfg.outputs.some((o) => o.enabled);
  const outputFile = cfg.output_file === '' && noInflux ? 'data/points.lp' : cfg.output_file;
  const outputs = cfg.outputs.map((o) => (o.spool_dir === undefined ? o : { ...o, spool_dir: abs(o.spool_dir) }));
  return {
    ...cfg,
    state_file: abs(cfg.state_file),
    spool_dir: abs(cfg.spool_dir),
    output_file: abs(outputFile),
    outputs,
  };
}
