import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = [process.execPath, '--import', import.meta.resolve('tsx'), join(root, 'cmd/netscan.ts')] as const;

function netscan(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cli[0], [...cli.slice(1), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('check-config prints all five mistakes of a broken file and exits 2', () => {
  const r = netscan(['check-config', '-c', 'src/config/testdata/five-mistakes.yml']);
  assert.equal(r.status, 2);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('  '));
  assert.deepEqual(lines.map((l) => l.trim().split(':')[0]).sort(), [
    'icmp_workers',
    'networks[0]',
    'ping_intervall',
    'ping_timeout',
    'summary_naming',
  ]);
  assert.match(r.stderr, /invalid configuration in .*five-mistakes\.yml \(5 problems\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('check-config accepts the reference config.yaml and exits 0', () => {
  const r = netscan(['check-config']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /config\.yaml: configuration is valid\n/);
});

test('the built binary accepts a config with only networks, without a warning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-cli-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'networks: [127.0.0.0/30]\n');
  const r = spawnSync(process.execPath, [join(root, 'bin/netscan.js'), 'check-config', '-c', file], {
    cwd: dir,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `${file}: configuration is valid\n`);
  assert.equal(r.stderr, '');
});

test('check-config follows NETSCAN_CONFIG and reports a missing file with exit 2', () => {
  const r = netscan(['check-config'], { NETSCAN_CONFIG: '/nonexistent/netscan.yaml' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/nonexistent\/netscan\.yaml: cannot read config file: no such file/);
});

test('check-config never prints secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-cli-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    'icmp_discovery_interval: 5m\nping_interval: 2s\nsnmp: {community: "${SECRET_COMM}"}\ninfluxdb: {url: "http://127.0.0.1:1", token: [x], org: o, bucket: b}\n',
  );
  const r = netscan(['check-config', '-c', file], { SECRET_COMM: 'private' });
  assert.equal(r.status, 2);
  assert.doesNotMatch(r.stderr + r.stdout, /private/);
});

test('usage errors exit 2 and --version prints the package version', () => {
  assert.equal(netscan(['--no-such-flag']).status, 2);
  assert.equal(netscan(['check-config', '--bogus']).status, 2);
  const v = netscan(['--version']);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
});

test('run starts on a config and stops cleanly with exit 0 on SIGINT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-run-'));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    'networks: ["127.0.0.0/30"]\nicmp_discovery_interval: 5m\nping_interval: 2s\nhealth_check_port: 0\n',
  );
  const child = spawn(cli[0], [...cli.slice(1), '--log-format', 'json', 'run', '-c', file], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const started = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('netscan started')) resolve();
    });
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await Promise.race([started, exited]);
  child.kill('SIGINT');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /"msg":"netscan stopped"/);
  const first = JSON.parse(stderr.split('\n')[0] ?? '{}') as { msg?: string };
  assert.equal(first.msg, 'Ctrl-C or SIGTERM stops netscan (a second one exits at once); SIGHUP reloads the config');
});

test('usage mistakes in the environment or an empty -c exit 2 with one line, never a stack trace or another file', () => {
  const bad = [
    netscan(['check-config'], { NETSCAN_LOG_LEVEL: 'bogus' }),
    netscan(['check-config', '-c', '']),
    netscan(['check-config'], { NETSCAN_CONFIG: '' }),
  ];
  for (const r of bad) {
    assert.equal(r.status, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.doesNotMatch(r.stdout, /configuration is valid/);
  }
  assert.match(bad[0]!.stderr, /NETSCAN_LOG_LEVEL: invalid log level \(got "bogus"; allowed trace, debug/);
  assert.match(bad[1]!.stderr, /-c\/--config: empty path/);
});

test('check-config prints the warnings beside the errors, so one run shows everything to fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-cli-'));
  const file = join(dir, 'c.yaml');
  // Parsed only, never pinged: 127.0.0.1/24 has host bits set (a warning); ping_interval is wrong (an error).
  writeFileSync(file, 'networks: [127.0.0.1/24]\nicmp_discovery_interval: 5m\nping_interval: soon\n');
  const r = netscan(['check-config', '-c', file]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^ {2}ping_interval: /m);
  assert.match(r.stderr, /^netscan: warning: networks\[0\]: has host bits set/m);
});

test('--help names the log format default once', () => {
  const r = netscan(['--help']);
  assert.equal(r.status, 0);
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(
    help,
    /--log-format <format> log format \(choices: "json", "pretty", default: pretty on a terminal, json otherwise\)/,
  );
});
