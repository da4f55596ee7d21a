// Child side of src/sweep-command-netns.test.ts, run inside a private network namespace whose nft rules
// drop echo requests to some 127.0.9.x addresses: runs `netscan sweep` (the compiled binary) and
// fping on the same targets and prints both results as one JSON line. Host names resolve through
// a temporary hosts file bind-mounted over /etc/hosts in a private mount namespace.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/netscan.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'netscan-sweep-fping-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], input?: string, withHosts = false): Run {
  const argv = withHosts
    ? ([
        'unshare',
        [
          '-m',
          '--',
          'sh',
          '-c',
          `mount --bind ${join(dir, 'hosts')} /etc/hosts && mount --bind ${join(dir, 'nsswitch.conf')} /etc/nsswitch.conf && exec "$0" "$@"`,
          cmd,
          ...args,
        ],
      ] as const)
    : ([cmd, args] as const);
  const r = spawnSync(argv[0], argv[1], { encoding: 'utf8', input: input ?? '', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const netscan = (args: readonly string[], input?: string, withHosts = false): Run =>
  run(process.execPath, [bin, '--log-level', 'silent', 'sweep', '-t', '300', '-r', '0', ...args], input, withHosts);
const fping = (args: readonly string[], input?: string, withHosts = false): Run =>
  run('fping', ['-t', '300', '-r', '0', ...args], input, withHosts);

writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n127.0.9.1 alive.test\n127.0.9.3 dead.test\n');
writeFileSync(join(dir, 'nsswitch.conf'), 'hosts: files\n');
const list = '# routers\n127.0.9.1\n\n127.0.9.2\n127.0.9.3 \n127.0.9.10\n';
writeFileSync(join(dir, 'list.txt'), list);
const listFile = join(dir, 'list.txt');
const mixed = ['127.0.9.1', '127.0.9.3'];
const dead = ['127.0.9.3', '127.0.9.5'];
const alive = ['127.0.9.1', '127.0.9.2'];
const counted = ['127.0.9.1', '127.0.9.3', '127.0.9.10'];

// An IPv6 test bed: every address of a ULA prefix made local answers (only inside this namespace).
const ip6 = spawnSync('ip', ['-6', 'route', 'add', 'local', 'fd00:1::/64', 'dev', 'lo'], { encoding: 'utf8' });
if (ip6.status !== 0) throw new Error(`ip -6 route: ${ip6.stderr}`);
const v6list = Array.from({ length: 256 }, (_, i) => `fd00:1::${i.toString(16)}`);
writeFileSync(join(dir, 'v6.txt'), `${v6list.join('\n')}\n`);

const result = {
  ipv6: { netscan: netscan(['fd00:1::/120']), fping: fping(['-6', '-a', '-f', join(dir, 'v6.txt')]) },
  dualStack: {
    netscan: netscan(['::1', '127.0.9.1', 'fd00:1::7-fd00:1::9', '127.0.9.3']),
    fping: fping(['-a', '::1', '127.0.9.1', 'fd00:1::7', 'fd00:1::8', 'fd00:1::9', '127.0.9.3']),
  },
  mixed: { netscan: netscan(mixed), fping: fping(['-a', ...mixed]), fpingX1: fping(['-x', '1', ...mixed]) },
  dead: { netscan: netscan(dead), fping: fping(['-a', ...dead]) },
  alive: { netscan: netscan(alive), fping: fping(['-a', ...alive]) },
  unreachable: { netscan: netscan(['-u', ...mixed, '127.0.9.5']), fping: fping(['-u', ...mixed, '127.0.9.5']) },
  file: { netscan: netscan(['-f', listFile]), fping: fping(['-a', '-f', listFile]) },
  stdin: { netscan: netscan([], list), fping: fping(['-a'], list) },
  cidr: { netscan: netscan(['127.0.9.0/28']), fping: fping(['-a', '-g', '127.0.9.0/28']) },
  count: {
    netscan: netscan(['-c', '3', '-p', '20', ...counted]),
    fping: fping(['-c', '3', '-p', '20', '-q', ...counted]),
  },
  names: {
    netscan: netscan(['alive.test', 'dead.test', 'nx.invalid'], undefined, true),
    fping: fping(['-a', '-A', 'alive.test', 'dead.test', 'nx.invalid'], undefined, true),
  },
  usage: {
    badTarget: netscan(['127.0.9.300']),
    badFlag: netscan(['--bogus', '127.0.9.1']),
    both: netscan(['-a', '-u', '127.0.9.1']),
  },
};
process.stdout.write(`${JSON.stringify(result)}\n`);
