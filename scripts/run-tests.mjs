#!/usr/bin/env node
// Runs every *.test.ts beside the code with node's built-in runner.
// Node 20's `--test` without file arguments runs nothing and exits 0, so this script lists the
// files itself and fails when none ran. The whole run happens inside a private network
// namespace (only loopback, no route out) when `unshare` is allowed, so no test can ever send
// a packet to the real network.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dirs = ['cmd', 'src', 'internal', 'bench'];
const filters = process.argv.slice(2);

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'testdata') walk(p, out);
    } else if (e.name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = dirs.flatMap((d) => walk(join(root, d), [])).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('run-tests: no test files found' + (filters.length ? ` matching ${filters.join(' ')}` : ''));
  process.exit(1);
}

const tapFile = join(mkdtempSync(join(tmpdir(), 'netscan-tests-')), 'report.tap');
const nodeArgs = [
  '--import',
  'tsx',
  '--test',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=tap',
  `--test-reporter-destination=${tapFile}`,
  ...files,
];

const inNetns = process.env.NETSCAN_TEST_NO_NETNS !== '1' && spawnSync('unshare', ['-n', 'true']).status === 0;
const cmd = inNetns ? 'unshare' : process.execPath;
const args = inNetns
  ? ['-n', '--', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...nodeArgs]
  : nodeArgs;
if (!inNetns)
  console.error('run-tests: unshare -n is not permitted here; running in the host namespace (loopback targets only)');

const started = Date.now();
const res = spawnSync(cmd, args, {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NETSCAN_TEST_NETNS: inNetns ? '1' : '0' },
});

let tap = '';
try {
  tap = readFileSync(tapFile, 'utf8');
} catch {
  /* reported below */
}
const count = (name) => Number((tap.match(new RegExp(`^# ${name} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
const tests = count('tests'),
  pass = count('pass'),
  fail = count('fail');
console.error(
  `run-tests: ${files.length} files, ${tests} tests, ${pass} passed, ${fail} failed, ${count('skipped')} skipped in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
if (tests === 0) {
  console.error('run-tests: zero tests ran; failing');
  process.exit(1);
}
process.exit(res.status === 0 && fail === 0 ? 0 : 1);
