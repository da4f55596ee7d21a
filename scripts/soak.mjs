#!/usr/bin/env node
// Runs the tests again and again while other processes eat the CPU, to shake out tests that
// only pass on an idle machine. Usage:
//
//   node scripts/soak.mjs [--runs N] [--hogs K] [filter ...]
//
// Each run is `node scripts/run-tests.mjs [filter ...]` (same network namespace and file
// filters). K child processes spin on the CPU for the whole soak and are killed at the end, on
// Ctrl-C too. One line per run, then a summary; exits 1 if any run failed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runner = fileURLToPath(new URL('./run-tests.mjs', import.meta.url));

function parseArgs(argv) {
  const out = { runs: 3, hogs: 2, filters: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const count = (name) => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0 || (name === 'runs' && v < 1)) {
        console.error(`soak: --${name} needs a whole number${name === 'runs' ? ' >= 1' : ' >= 0'}, got ${argv[i]}`);
        process.exit(2);
      }
      return v;
    };
    if (a === '--runs') out.runs = count('runs');
    else if (a === '--hogs') out.hogs = count('hogs');
    else if (a === '--help' || a === '-h') {
      console.log('usage: node scripts/soak.mjs [--runs N (default 3)] [--hogs K (default 2)] [filter ...]');
      process.exit(0);
    } else out.filters.push(a);
  }
  return out;
}

const { runs, hogs, filters } = parseArgs(process.argv.slice(2));

// A hog is a node child spinning until killed; it never touches the network or the disk.
const hogProcs = Array.from({ length: hogs }, () =>
  spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
);

function killHogs() {
  for (const h of hogProcs) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL');
}
process.on('exit', killHogs);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killHogs();
    process.exit(130);
  });
}

/** Runs run-tests.mjs once; resolves with its exit code, the duration and its summary line. */
function runOnce() {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [runner, ...filters], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d) => {
      out += d.toString('utf8');
      if (out.length > 4_000_000) out = out.slice(-2_000_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code, signal) => {
      const summary =
        (out.match(/^run-tests: .*$/gm) ?? []).pop() ?? `run-tests: no summary (${signal ?? `exit ${code}`})`;
      // Failing and cancelled tests, by name, from the spec reporter's output.
      const failed = [...out.matchAll(/^\s*✖ (.+?)(?: \(\d[\d.]*m?s\))?$/gm)]
        .map((m) => m[1])
        .filter((n) => !/^failing tests:?$/.test(n));
      resolve({ code: code ?? 1, seconds: (Date.now() - started) / 1000, summary, failed: [...new Set(failed)], out });
    });
  });
}

console.log(
  `soak: ${runs} run(s) of run-tests.mjs${filters.length ? ` ${filters.join(' ')}` : ''} with ${hogs} CPU hog(s)`,
);
const results = [];
for (let i = 1; i <= runs; i++) {
  const r = await runOnce();
  results.push(r);
  const verdict = r.code === 0 ? 'ok  ' : 'FAIL';
  console.log(`soak: run ${i}/${runs} ${verdict} ${r.seconds.toFixed(1)} s  ${r.summary.replace(/^run-tests: /, '')}`);
  if (r.code !== 0) {
    for (const name of r.failed.slice(0, 10)) console.log(`soak:     ✖ ${name}`);
    if (r.failed.length === 0) console.log(r.out.split('\n').slice(-30).join('\n'));
  }
}
killHogs();

const bad = results.filter((r) => r.code !== 0);
const names = new Map();
for (const r of bad) for (const n of r.failed) names.set(n, (names.get(n) ?? 0) + 1);
console.log(`soak: ${runs - bad.length}/${runs} runs passed, ${bad.length} failed (${hogs} hogs)`);
for (const [n, k] of [...names].sort((a, b) => b[1] - a[1])) console.log(`soak:   ${k}x ${n}`);
process.exit(bad.length === 0 ? 0 : 1);
