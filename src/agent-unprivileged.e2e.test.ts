// End-to-end: the real agent as uid/gid 65534 with no capability at all (empty bounding set,
// no_new_privs), in a private network namespace whose net.ipv4.ping_group_range it may or may
// not be inside. Loopback only: the namespace holds nothing but `lo`.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { nativeAddonPath } from '../internal/icmp/native-socket.js';
import { agentTestConfig, parseLine, type LinePoint, type LogLine } from '../internal/testkit/agent-process.js';
import { netnsAvailable } from '../internal/testkit/netns.js';
import { freeLoopbackPort, pollUntil } from '../internal/testkit/server-process.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = fileURLToPath(import.meta.resolve('tsx'));
const addon = nativeAddonPath();
/** uid/gid 65534, no supplementary group, every capability gone for good. */
const nobody = [
  'setpriv',
  '--reuid=65534',
  '--regid=65534',
  '--clear-groups',
  '--inh-caps=-all',
  '--bounding-set=-all',
  '--no-new-privs',
  '--',
];

function whyNot(): string | false {
  if (!netnsAvailable()) return 'needs root and unshare -n';
  if (!existsSync(addon)) return 'needs the ICMP addon: node scripts/build-native.mjs';
  return false;
}

// A checkout under a private directory (a 0700 home, `mktemp -d`) is unreadable to uid 65534: the
// agent then runs from a bind mount of the checkout at a world-traversable path, in a private
// mount namespace, so nothing outside the test sees it.
const readable = spawnSync(nobody[0]!, [...nobody.slice(1), 'test', '-r', tsx], { stdio: 'ignore' }).status === 0;

interface Run {
  readonly dir: string;
  readonly pid: number;
  readonly logs: LogLine[];
  stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `netscan run` in a fresh namespace with `range` as its ping_group_range, as nobody. */
async function startAgent(range: string, config: Record<string, unknown>, nftRuleset?: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-unpriv-'));
  chmodSync(dir, 0o777);
  const cfg = join(dir, 'netscan.yaml');
  writeFileSync(cfg, stringify({ ...agentTestConfig(dir), health_check_port: await freeLoopbackPort(), ...config }));
  const lines = ['set -e', 'ip link set lo up', 'echo "$0" > /proc/sys/net/ipv4/ping_group_range'];
  let base = root;
  if (!readable) {
    base = mkdtempSync(join(tmpdir(), 'netscan-ro-'));
    chmodSync(base, 0o755);
    lines.push(`mount --bind '${root}' '${base}'`);
  }
  if (nftRuleset !== undefined) {
    writeFileSync(join(dir, 'rules.nft'), nftRuleset);
    lines.push(`nft -f '${join(dir, 'rules.nft')}'`);
  }
  // exec all the way down: the pid we hold is the agent's, and names its namespace for nsenter.
  const script = [...lines, 'exec "$@"'].join('\n');
  const node = [
    process.execPath,
    '--import',
    join(base, relative(root, tsx)),
    join(base, 'cmd/netscan.ts'),
    '--log-format',
    'json',
    'run',
    '-c',
    cfg,
  ];
  const ns = readable ? ['-n'] : ['-m', '-n'];
  const child = spawn('unshare', [...ns, '--', 'sh', '-c', script, range, ...nobody, ...node], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const logs: LogLine[] = [];
  let partial = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      try {
        logs.push(JSON.parse(l) as LogLine);
      } catch {
        /* not a log line */
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      if (base !== root) rmSync(base, { recursive: true, force: true });
      resolve({ code, signal });
    }),
  );
  return { dir, pid: child.pid ?? 0, logs, stderr: () => stderr, exited };
}

const points = (dir: string): LinePoint[] => {
  const file = join(dir, 'out.lp');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(parseLine)
    : [];
};

const skip = whyNot();

/** Counts the agent's echo requests leaving with TTL 7, DSCP EF and a 100-byte payload, and the others. */
const markedProbes = [
  'table ip netscan_probe {',
  '  counter marked { }',
  '  counter other { }',
  '  chain output {',
  '    type filter hook output priority 0; policy accept;',
  '    icmp type echo-request ip ttl 7 ip dscp ef ip length 128 counter name "marked" accept',
  '    icmp type echo-request counter name "other"',
  '  }',
  '}',
  '',
].join('\n');

function nftPackets(pid: number, counter: string): number {
  const out = spawnSync(
    'nsenter',
    ['-t', String(pid), '-n', 'nft', 'list', 'counter', 'ip', 'netscan_probe', counter],
    { encoding: 'utf8' },
  ).stdout;
  const m = /packets (\d+)/.exec(out);
  assert.ok(m, `counter ${counter}: ${out}`);
  return Number(m[1]);
}

test(
  'as uid 65534 with no capability, a ping_group_range holding its gid lets the agent sweep and monitor loopback with datagram sockets, with the configured TTL, TOS and payload',
  { timeout: 90_000, skip },
  async (t) => {
    // The premise: this wrapper leaves no capability in any set.
    const caps = spawnSync(nobody[0]!, [...nobody.slice(1), 'grep', '^Cap', '/proc/self/status'], {
      encoding: 'utf8',
    }).stdout;
    assert.match(caps, /^CapBnd:\s+0+$/m);
    assert.match(caps, /^CapEff:\s+0+$/m);

    // The probe options travel from the config to every request: checked on the wire by nft.
    const probe = { icmp_ttl: 7, icmp_tos: 184, icmp_payload_bytes: 100 };
    const run = await startAgent('65534 65534', { networks: ['127.0.43.0/29'], ...probe }, markedProbes);
    t.after(() => {
      if (run.pid) spawnSync('kill', ['-KILL', String(run.pid)]);
      rmSync(run.dir, { recursive: true, force: true });
    });
    const all = ['127.0.43.1', '127.0.43.2', '127.0.43.3', '127.0.43.4', '127.0.43.5', '127.0.43.6'];
    const tail = (): string => run.stderr().split('\n').slice(-30).join('\n');
    await pollUntil(
      async () => run.logs,
      (l) => l.some((x) => x.msg === 'sweep finished') || l.some((x) => x.msg === 'netscan could not start'),
      { deadlineMs: 30_000, intervalMs: 100 },
    ).catch(() => assert.fail(`no sweep within 30 s\n${tail()}`));
    assert.deepEqual(
      run.logs.filter((l) => l.msg === 'netscan could not start'),
      [],
      tail(),
    );
    assert.equal(run.logs.find((l) => l.msg === 'sweep finished')?.['alive'], all.length, tail());
    const chosen = run.logs.filter((l) => l.msg === 'ICMP socket mode chosen');
    assert.deepEqual(
      chosen.map((l) => [l['family'], l['mode'], l['refused']]),
      [['ipv4', 'dgram', ['raw: EPERM']]],
    );

    const pingsOf = (ip: string): LinePoint[] =>
      points(run.dir).filter((p) => p.measurement === 'ping' && p.tags['ip'] === ip);
    await pollUntil(
      async () => all.map((ip) => pingsOf(ip).length),
      (n) => n.every((c) => c >= 3),
      { deadlineMs: 20_000, intervalMs: 200 },
    ).catch(() => assert.fail(`not every device pinged 3 times within 20 s\n${tail()}`));

    // /health, read from inside the agent's namespace.
    const port = run.logs.find((l) => l.msg === 'netscan started')?.['health_port'];
    assert.equal(typeof port, 'number');
    const health = spawnSync(
      'nsenter',
      [
        '-t',
        String(run.pid),
        '-n',
        process.execPath,
        '-e',
        `fetch('http://127.0.0.1:${String(port)}/health').then((r) => r.text()).then((t) => process.stdout.write(t))`,
      ],
      { encoding: 'utf8' },
    );
    const icmp = (JSON.parse(health.stdout) as { icmp: Record<string, unknown> }).icmp;
    assert.deepEqual(
      [icmp['mode'], icmp['mode_setting'], icmp['families'], icmp['kernel_timestamps']],
      ['dgram', 'auto', ['ipv4'], true],
    );
    assert.ok((icmp['rtt_kernel'] as number) > 0, `replies timed by kernel stamps: ${JSON.stringify(icmp)}`);

    const marked = nftPackets(run.pid, 'marked');
    assert.ok(marked >= all.length * 3, `${marked} requests with TTL 7, DSCP EF, 100-byte payload`);
    assert.equal(nftPackets(run.pid, 'other'), 0, 'no request without them');

    process.kill(run.pid, 'SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null }, tail());
    for (const ip of all) {
      const pts = pingsOf(ip);
      assert.ok(pts.length >= 3, `${ip} pinged ${pts.length} times`);
      // A probe caught in an agent stall is agent_overloaded: not a failure of the host or of the socket.
      assert.deepEqual(
        pts
          .filter((p) => p.fields['success'] !== true && p.fields['reason'] !== 'agent_overloaded')
          .map((p) => p.fields['reason']),
        [],
        `${ip} never failed`,
      );
    }
  },
);

test(
  'as uid 65534 with no capability, a ping_group_range without its gid stops the agent with the advice and exit 1',
  { timeout: 60_000, skip },
  async (t) => {
    const run = await startAgent('1 0', { networks: ['127.0.44.0/29'] });
    t.after(() => {
      if (run.pid) spawnSync('kill', ['-KILL', String(run.pid)]);
      rmSync(run.dir, { recursive: true, force: true });
    });
    assert.deepEqual(await run.exited, { code: 1, signal: null }, run.stderr());
    const fatal = run.logs.find((l) => l.msg === 'netscan could not start');
    assert.equal(fatal?.['code'], 'ERR_ICMP_PERMISSION', run.stderr());
    const stderr = run.stderr();
    assert.match(
      stderr,
      /^netscan: netscan needs CAP_NET_RAW to send ICMP echo requests \(raw socket\), or its group in net\.ipv4\.ping_group_range \(datagram socket\); icmp_mode auto tried both and the kernel refused both \(raw: EPERM, dgram: EACCES\)\.$/m,
    );
    assert.match(
      stderr,
      /^This process runs with gid 65534; net\.ipv4\.ping_group_range is "1 0", which does not include it\.$/m,
    );
    assert.match(stderr, /sysctl -w net\.ipv4\.ping_group_range="0 2147483647"/);
    assert.match(stderr, /setcap cap_net_raw\+ep/);
    assert.doesNotMatch(stderr, /\n\s+at |"stack"/, 'no stack trace');
    assert.equal(run.logs.filter((l) => l.msg === 'netscan started').length, 0);
  },
);

test(
  'as uid 65534 with icmp_mode raw, a ping_group_range holding its gid does not help: the advice leads with the capability',
  { timeout: 60_000, skip },
  async (t) => {
    const run = await startAgent('0 2147483647', { networks: ['127.0.45.0/29'], icmp_mode: 'raw' });
    t.after(() => {
      if (run.pid) spawnSync('kill', ['-KILL', String(run.pid)]);
      rmSync(run.dir, { recursive: true, force: true });
    });
    assert.deepEqual(await run.exited, { code: 1, signal: null }, run.stderr());
    assert.equal(
      run.logs.find((l) => l.msg === 'netscan could not start')?.['code'],
      'ERR_ICMP_PERMISSION',
      run.stderr(),
    );
    assert.match(
      run.stderr(),
      /^netscan: netscan needs CAP_NET_RAW to send ICMP echo requests with icmp_mode raw; the kernel refused the raw socket \(raw: EPERM\)\.$/m,
    );
    assert.match(run.stderr(), /^This process runs with gid 65534; net\.ipv4\.ping_group_range is "0 2147483647"\.$/m);
    assert.match(run.stderr(), /^ {2}- or set icmp_mode: auto \(or dgram\)/m);
    assert.equal(run.logs.filter((l) => l.msg === 'ICMP socket mode chosen').length, 0);
  },
);
