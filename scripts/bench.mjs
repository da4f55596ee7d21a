#!/usr/bin/env node
// `npm run bench -- <suite> [args]`: compiles, then runs bench/<suite>/main.ts's compiled output
// (or the script a suite below names).
// Each suite prints human-readable tables, or one JSON object per line with --json.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [suite, ...args] = process.argv.slice(2);
const suites = readdirSync(new URL('../bench', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(new URL(`../bench/${d.name}/main.ts`, import.meta.url)))
  .map((d) => d.name);
// Suites that are not a folder's main.ts: name -> script under bench/ (without extension).
const scripts = { 'agent-startup': 'agent/startup' };
suites.push(...Object.keys(scripts));
if (!suite || !suites.includes(suite)) {
  console.error(
    `usage: npm run bench -- <suite> [--json] [suite options]\nsuites: ${suites.join(', ') || '(none yet)'}`,
  );
  process.exit(2);
}
const tsc = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
const script = scripts[suite] ?? `${suite}/main`;
const res = spawnSync(process.execPath, ['--expose-gc', `dist/bench/${script}.js`, ...args], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(res.status ?? 1);
