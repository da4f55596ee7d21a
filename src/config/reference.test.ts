import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { schemaKeyPaths } from './schema.js';
import { parseConfigText } from './load.js';

const root = new URL('../../', import.meta.url);

function keyPaths(node: unknown, prefix = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((el) => keyPaths(el, `${prefix}[]`));
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node as Record<string, unknown>).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...keyPaths(v, p)];
  });
}

test('config.yaml sets exactly the keys the schema knows', () => {
  const text = readFileSync(new URL('config.yaml', root), 'utf8');
  const inFile = new Set(keyPaths(parse(text)));
  const inSchema = new Set(schemaKeyPaths());
  assert.deepEqual(
    [...inSchema].filter((k) => !inFile.has(k)),
    [],
    'schema keys missing from config.yaml',
  );
  assert.deepEqual(
    [...inFile].filter((k) => !inSchema.has(k)),
    [],
    'config.yaml keys unknown to the schema',
  );
});

test('config.yaml is valid, warning-free and sweeps loopback only', () => {
  const text = readFileSync(new URL('config.yaml', root), 'utf8');
  const { config, warnings } = parseConfigText(text, { env: {} });
  assert.deepEqual(warnings, []);
  for (const n of config.networks) assert.match(n.cidr, /^(127\.|fd00:)/);
  assert.equal(config.health_check_bind, '127.0.0.1');
  assert.equal(config.influxdb?.enabled, false);
});

test('MANUAL.md documents every schema key', () => {
  const manual = readFileSync(new URL('MANUAL.md', root), 'utf8');
  const missing = schemaKeyPaths().filter((k) => !manual.includes(`\`${k}\``));
  assert.deepEqual(missing, []);
});
