import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

// docs/design.md, "Layout": dependencies flow cmd -> src -> internal, never back; nothing imports bench/.
const root = fileURLToPath(new URL('..', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

function relativeImports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1] as string);
  return specs.map((s) => relative(root, resolve(dirname(join(root, file)), s)));
}

test('imports flow cmd -> src -> internal and never into bench', () => {
  const rules: Record<string, string[]> = {
    cmd: ['cmd', 'src'],
    src: ['src', 'internal'],
    internal: ['internal'],
    bench: ['internal', 'src', 'bench'],
  };
  const violations: string[] = [];
  for (const [dir, allowed] of Object.entries(rules)) {
    for (const f of files(dir)) {
      for (const target of relativeImports(f)) {
        const top = target.split('/')[0] as string;
        if (!allowed.includes(top) && top !== 'package.json') violations.push(`${f} imports ${target}`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test('model/ imports nothing outside itself, and schedule/ and snmp/ build points without the writer', () => {
  // Point builders live in internal/model/; the writer only encodes and delivers points.
  const forbidden: Array<[string, (target: string) => boolean]> = [
    ['internal/model', (t) => !t.startsWith('internal/model/')],
    ['internal/schedule', (t) => t.startsWith('internal/writer/')],
    ['internal/snmp', (t) => t.startsWith('internal/writer/')],
  ];
  const violations: string[] = [];
  for (const [dir, bad] of forbidden) {
    for (const f of files(dir))
      for (const target of relativeImports(f)) if (bad(target)) violations.push(`${f} imports ${target}`);
  }
  assert.deepEqual(violations, []);
});

test('internal/ outside clock/ never reads wall time or arms timers directly', () => {
  const offenders = files('internal')
    .filter(
      (f) =>
        !f.startsWith('internal/clock/') &&
        !f.startsWith('internal/testkit/') &&
        !f.includes('/testdata/') &&
        !f.endsWith('.test.ts'),
    )
    .filter((f) =>
      /\bDate\.now\(\)|(?<![.\w])setTimeout\(|(?<![.\w])setInterval\(/.test(readFileSync(join(root, f), 'utf8')),
    );
  assert.deepEqual(offenders, []);
});
