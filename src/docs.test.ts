// Docs that run: every netscan configuration example in README.md and MANUAL.md is checked by
// the real config loader (merged onto a minimal config when it is a fragment), so an operator who
// copies one gets no error. (MANUAL's shell examples that can run here are run by the tests that
// own them, e.g. src/file-replay.e2e.test.ts.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ConfigError } from '../internal/errors/errors.js';
import { parseConfigText } from './config/load.js';
import { configSchema } from './config/schema.js';

interface Example {
  doc: string;
  line: number;
  text: string;
}

/** Fenced ```yaml blocks (also indented ones, e.g. inside list items). */
export function yamlBlocks(doc: string): Example[] {
  const text = readFileSync(new URL(`../${doc}`, import.meta.url), 'utf8');
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```ya?ml\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    out.push({ doc, line: i + 1, text: body.join('\n') });
    i = j;
  }
  return out;
}

const schemaKeys = new Set(Object.keys(configSchema.shape));
const minimal = { networks: ['127.0.0.0/30'], icmp_discovery_interval: '5m', ping_interval: '1s' };
/** Harmless stand-ins for the ${VAR} references of one example. */
const envFor = (text: string): Record<string, string> =>
  Object.fromEntries(
    [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => [m[1]!, `example-${m[1]!.toLowerCase()}`]),
  );

test('every netscan configuration example in README.md and MANUAL.md passes check-config', () => {
  const examples = [...yamlBlocks('README.md'), ...yamlBlocks('MANUAL.md')];
  const problems: string[] = [];
  let checked = 0;
  for (const ex of examples) {
    const data = parse(ex.text) as unknown;
    // Kubernetes, Docker or Prometheus YAML shown in the manual is not a netscan config.
    if (
      data === null ||
      typeof data !== 'object' ||
      Array.isArray(data) ||
      !Object.keys(data).some((k) => schemaKeys.has(k))
    )
      continue;
    checked++;
    const merged = { ...minimal, ...(data as Record<string, unknown>) };
    try {
      parseConfigText(JSON.stringify(merged), { env: envFor(ex.text), source: `${ex.doc}:${ex.line}` });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems.map((p) => `${ex.doc}:${ex.line}: ${p}`));
    }
  }
  assert.ok(checked >= 1, `checked ${checked} examples`);
  assert.deepEqual(problems, []);
});
