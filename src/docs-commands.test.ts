// Docs that run, part two: the shell commands README.md and MANUAL.md show that can run on this
// machine are run as written (`npx netscan` is the package's bin/netscan.js; FILE is the
// reference config). Docker, Kubernetes and systemd commands need what a test machine lacks.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = existsSync(new URL('../dist/cmd/netscan.js', import.meta.url));
const inSuiteNetns = process.env.NETSCAN_TEST_NETNS === '1';
const doc = (name: string): string => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');

/** Each command as the docs print it, what the test runs for it, and what must come out. */
const commands: Array<{ doc: string; shown: string; run: string[]; expect: (out: string) => void; netns?: boolean }> = [
  { doc: 'README.md', shown: 'npx netscan --help', run: ['--help'], expect: (o) => assert.match(o, /Usage: netscan/) },
  {
    doc: 'README.md',
    shown: 'npx netscan check-config -c FILE',
    run: ['check-config', '-c', 'config.yaml'],
    expect: (o) => assert.match(o, /configuration is valid/),
  },
  {
    doc: 'README.md',
    shown: 'npx netscan sweep 127.0.0.0/24',
    run: ['sweep', '127.0.0.0/24'],
    netns: true,
    // Only loopback answers inside the suite's namespace: every address of 127.0.0.0/24 but .0 and .255.
    expect: (o) => assert.equal(o.trim().split('\n').length, 254),
  },
  {
    doc: 'MANUAL.md',
    shown: 'netscan --version',
    run: ['--version'],
    expect: (o) => assert.match(o, /^\d+\.\d+\.\d+/),
  },
];

for (const c of commands) {
  test(
    `${c.doc} shows \`${c.shown}\`, and it runs`,
    { skip: !built ? 'needs a build' : c.netns && !inSuiteNetns ? 'needs the suite namespace' : false },
    () => {
      assert.ok(doc(c.doc).includes(c.shown), `${c.doc} still shows the command`);
      const r = spawnSync(process.execPath, ['bin/netscan.js', ...c.run], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 0, r.stderr);
      c.expect(r.stdout);
    },
  );
}

test('MANUAL.md shows how to read ping_group_range, and the command answers here', () => {
  assert.ok(doc('MANUAL.md').includes('sysctl net.ipv4.ping_group_range'));
  const r = spawnSync('sysctl', ['net.ipv4.ping_group_range'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^net\.ipv4\.ping_group_range = \d+\s+\d+$/m);
});
