// The native ICMP socket addon without sockets: errno names, how a missing or
// broken addon is reported, the parsers under AddressSanitizer, and scripts/build-native.mjs.
// Real sockets: native-socket-netns.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { errnoName, nativeAddonPath, openNativeIcmpSocketWith } from './native-socket.js';
import { optionError } from '../testkit/option-error.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nativeDir = join(root, 'internal', 'icmp', 'native');

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

test('errnoName gives the errno names raw-socket users knew, EAGAIN over EWOULDBLOCK', () => {
  assert.equal(errnoName(osConstants.errno.EAGAIN), 'EAGAIN');
  assert.equal(errnoName(osConstants.errno.EPERM), 'EPERM');
  assert.equal(errnoName(osConstants.errno.EHOSTUNREACH), 'EHOSTUNREACH');
  assert.equal(errnoName(osConstants.errno.ENOBUFS), 'ENOBUFS');
  assert.equal(errnoName(9999), 'E9999');
});

test('the addon path is under the package root, wherever the module is loaded from', () => {
  assert.equal(nativeAddonPath(), join(root, 'internal', 'icmp', 'native', 'build', 'Release', 'netscan_icmp.node'));
  // Compiled: dist/internal/icmp/native-socket.js walks up past dist/ to the package.json.
  const dist = join(root, 'dist', 'internal', 'icmp', 'native-socket.js');
  if (
    existsSync(dist) &&
    statSync(dist).mtimeMs >= statSync(join(root, 'internal', 'icmp', 'native-socket.ts')).mtimeMs
  ) {
    const res = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { nativeAddonPath } from ${JSON.stringify(dist)}; console.log(nativeAddonPath());`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(res.stdout.trim(), nativeAddonPath(), res.stderr);
  }
});

describe('loading the addon', () => {
  function openWith(addonPath: string): { code?: string; message?: string } {
    const mod = JSON.stringify(join(root, 'internal', 'icmp', 'native-socket.ts'));
    const res = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `
        import { openNativeIcmpSocket } from ${mod};
        try { openNativeIcmpSocket({ family: 'ipv4', mode: 'raw', rcvbufBytes: 1 << 20 }); console.log('{}'); }
        catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      ],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NETSCAN_ICMP_ADDON: addonPath } },
    );
    assert.equal(res.status, 0, res.stderr);
    return JSON.parse(res.stdout.trim().split('\n').pop()!) as { code?: string; message?: string };
  }

  test('a missing addon is ERR_ICMP_SOCKET naming `npm run setup` and the toolchain', () => {
    const r = openWith('/nonexistent/netscan_icmp.node');
    assert.equal(r.code, 'ERR_ICMP_SOCKET');
    assert.match(r.message ?? '', /not built.*npm run setup.*g\+\+, make and python3/);
  });

  test('an addon that does not load is ERR_ICMP_SOCKET too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-addon-'));
    try {
      const bogus = join(dir, 'netscan_icmp.node');
      writeFileSync(bogus, 'not an ELF file');
      const r = openWith(bogus);
      assert.equal(r.code, 'ERR_ICMP_SOCKET');
      assert.match(r.message ?? '', /cannot load the ICMP socket addon.*npm run setup/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test(
  'the packet and control-message parsers survive 300,000 hostile inputs under ASan and UBSan',
  { skip: which('g++') ? false : 'needs g++' },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-fuzz-'));
    try {
      const exe = join(dir, 'fuzz_parse');
      const cc = spawnSync(
        'g++',
        [
          '-std=gnu++17',
          '-O1',
          '-g',
          '-fsanitize=address,undefined',
          '-fno-sanitize-recover=all',
          join(nativeDir, 'test', 'fuzz_parse.cc'),
          '-o',
          exe,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(cc.status, 0, cc.stderr);
      for (const seed of ['1', '2']) {
        const run = spawnSync(exe, ['150000', seed], {
          encoding: 'utf8',
          env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' },
        });
        assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
        assert.match(run.stdout, /^ok 150000 strip=[1-9]\d* frame4=[1-9]\d* frame6=[1-9]\d* rx=[1-9]\d* ee=[1-9]\d*/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

describe('scripts/build-native.mjs', { skip: process.platform === 'linux' ? false : 'Linux only' }, () => {
  // A copy of the script and the addon sources, so the real build is never touched.
  function copyTree(): string {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-build-'));
    mkdirSync(join(dir, 'scripts'));
    cpSync(join(root, 'scripts', 'build-native.mjs'), join(dir, 'scripts', 'build-native.mjs'));
    mkdirSync(join(dir, 'internal', 'icmp', 'native'), { recursive: true });
    for (const f of ['binding.gyp', 'icmp_socket.cc', 'icmp_packet.h'])
      cpSync(join(nativeDir, f), join(dir, 'internal', 'icmp', 'native', f));
    return dir;
  }

  // Environment of a plain shell: no npm variables (those would name npm's node-gyp and nodedir).
  function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'CXX' && k !== 'PYTHON') e[k] = v;
    return { ...e, ...extra };
  }

  function run(dir: string, args: string[] = [], extraEnv: Record<string, string> = {}) {
    return spawnSync(process.execPath, [join(dir, 'scripts', 'build-native.mjs'), ...args], {
      cwd: dir,
      encoding: 'utf8',
      env: env(extraEnv),
    });
  }

  /** A PATH of symlinks to the given tools only. */
  function pathWith(dir: string, tools: string[]): string {
    const bin = join(dir, `bin-${tools.join('-') || 'none'}`);
    mkdirSync(bin);
    for (const t of tools) {
      const real = which(t);
      if (real) symlinkSync(real, join(bin, t));
    }
    return bin;
  }

  test(
    'builds, then skips silently while the addon is newer than every source; a touched source rebuilds',
    { skip: which('g++') && which('make') && which('python3') ? false : 'needs g++ make python3' },
    () => {
      const dir = copyTree();
      try {
        const out = join(dir, 'internal', 'icmp', 'native', 'build', 'Release', 'netscan_icmp.node');
        const first = run(dir);
        assert.equal(first.status, 0, first.stderr);
        assert.ok(existsSync(out));
        assert.match(first.stderr, /building the ICMP socket addon/);
        const built = statSync(out).mtimeMs;
        // Offline: node-gyp was pointed at this node's installed headers, never at a download.
        const gypi = readFileSync(join(dir, 'internal', 'icmp', 'native', 'build', 'config.gypi'), 'utf8');
        assert.match(gypi, new RegExp(`"nodedir": "${dirname(dirname(realpathSync(process.execPath)))}"`));

        const second = run(dir);
        assert.equal(second.status, 0, second.stderr);
        assert.equal(second.stdout + second.stderr, '');
        assert.equal(statSync(out).mtimeMs, built);

        // Up to date, a machine without a compiler (npm start in production) is fine.
        const noTools = run(dir, [], { PATH: pathWith(dir, []) });
        assert.equal(noTools.status, 0, noTools.stderr);
        assert.equal(noTools.stderr, '');

        // A newer source means a rebuild: seen here as the toolchain check it runs first.
        const later = (built + 5000) / 1000;
        utimesSync(join(dir, 'internal', 'icmp', 'native', 'icmp_packet.h'), later, later);
        const stale = run(dir, [], { PATH: pathWith(dir, ['make', 'python3']) });
        assert.equal(stale.status, 1);
        assert.match(stale.stderr, /netscan: building the ICMP addon needs g\+\+ make python3; missing: g\+\+/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  test('names every missing tool in one message', () => {
    const dir = copyTree();
    try {
      const r = run(dir, ['--force'], { PATH: pathWith(dir, []) });
      assert.equal(r.status, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(
        r.stderr,
        /^netscan: building the ICMP addon needs g\+\+ make python3; missing: g\+\+ make python3 /,
      );
      assert.ok(!existsSync(join(dir, 'internal', 'icmp', 'native', 'build')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('refuses bad socket options before loading the addon, naming each with its value and what is allowed', () => {
  assert.throws(
    () =>
      openNativeIcmpSocketWith({
        family: 'ipv5' as never,
        mode: 'raw',
        rcvbufBytes: -1,
        tos: 256,
        ttl: 0,
      }),
    optionError('icmp', [
      'family: must be one of "ipv4", "ipv6" (got "ipv5")',
      'rcvbufBytes: must be an integer from 0 to 2147483647 (got -1)',
      'tos: must be an integer from 0 to 255 (got 256)',
      'ttl: must be an integer from 1 to 255 (got 0)',
    ]),
  );
});
