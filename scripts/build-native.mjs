#!/usr/bin/env node
// Builds netscan's ICMP socket addon (internal/icmp/native -> build/Release/netscan_icmp.node)
// with npm's bundled node-gyp, offline: the node headers come from this node's install prefix
// (or npm's nodedir) and are passed as --nodedir, so node-gyp never downloads anything.
//
// Runs from `npm ci` (the package's install script), `npm run setup` and `npm start`. Does
// nothing, silently, when the addon is newer than every source file.
//
//   node scripts/build-native.mjs [--force] [--quiet]
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const nativeDir = join(root, 'internal', 'icmp', 'native');
const output = join(nativeDir, 'build', 'Release', 'netscan_icmp.node');
const args = process.argv.slice(2);
const force = args.includes('--force');
const quiet = args.includes('--quiet');
const say = (msg) => {
  if (!quiet) console.error(`netscan: ${msg}`);
};
const fail = (msg) => {
  console.error(`netscan: ${msg}`);
  process.exit(1);
};

if (process.platform !== 'linux') {
  say(`the ICMP socket addon is Linux-only; not building it on ${process.platform}`);
  process.exit(0);
}

/** Newest modification time of the addon's sources (not its build output). */
function newestSource() {
  let newest = 0;
  for (const e of readdirSync(nativeDir, { withFileTypes: true })) {
    if (e.isFile() && /\.(cc|cpp|h|hpp|gyp|gypi)$/.test(e.name))
      newest = Math.max(newest, statSync(join(nativeDir, e.name)).mtimeMs);
  }
  return newest;
}

if (!force && existsSync(output) && statSync(output).mtimeMs > newestSource()) process.exit(0);

/** Absolute path of an executable found on PATH (or the path itself when it has a slash). */
function which(name) {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

// The toolchain node-gyp drives: a C++ compiler, make, and python3 for gyp itself.
const tools = [
  ['g++', process.env.CXX || 'g++'],
  ['make', 'make'],
  ['python3', process.env.npm_config_python || process.env.PYTHON || 'python3'],
];
const missing = tools.filter(([, cmd]) => !which(cmd)).map(([name, cmd]) => (cmd === name ? name : `${name} (${cmd})`));
if (missing.length > 0) {
  fail(
    `building the ICMP addon needs ${tools.map(([n]) => n).join(' ')}; missing: ${missing.join(' ')}` +
      ' (Debian/Ubuntu: apt-get install g++ make python3), then run `npm run setup`',
  );
}

// Node headers: <prefix>/include/node of the running node (/usr/bin/node -> /usr), else npm's nodedir.
const hasHeaders = (dir) =>
  dir &&
  existsSync(join(dir, 'include', 'node', 'node_api.h')) &&
  existsSync(join(dir, 'include', 'node', 'common.gypi'));
const nodedirs = [dirname(dirname(realpathSync(process.execPath))), process.env.npm_config_nodedir].filter(Boolean);
const nodedir = nodedirs.find(hasHeaders);
if (!nodedir) {
  fail(
    `building the ICMP addon needs the node headers (include/node/node_api.h), looked in ${nodedirs.join(', ')};` +
      ' install the headers of this node version (Debian: apt-get install libnode-dev) or set npm_config_nodedir',
  );
}

// npm's own node-gyp: the one npm names when it runs us, else the copy bundled with npm.
function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const bundled = (prefix) =>
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const prefix = dirname(dirname(realpathSync(process.execPath)));
  if (existsSync(bundled(prefix))) return bundled(prefix);
  const npm = spawnSync('npm', ['prefix', '-g'], { encoding: 'utf8' });
  const global = npm.status === 0 ? npm.stdout.trim() : '';
  if (global && existsSync(bundled(global))) return bundled(global);
  return undefined;
}
const nodeGyp = findNodeGyp();
if (!nodeGyp)
  fail(
    "cannot find npm's node-gyp (npm_config_node_gyp, or <npm prefix>/lib/node_modules/npm/node_modules/node-gyp); is npm installed?",
  );

say('building the ICMP socket addon');
const started = Date.now();
const gypArgs = ['rebuild', '--release', `--directory=${nativeDir}`, `--nodedir=${nodedir}`, '--loglevel=warn'];
const cmd = nodeGyp.endsWith('.js') ? process.execPath : nodeGyp;
const cmdArgs = nodeGyp.endsWith('.js') ? [nodeGyp, ...gypArgs] : gypArgs;
const res = spawnSync(cmd, cmdArgs, {
  cwd: root,
  encoding: 'utf8',
  // binding.gyp runs `node` to find node-addon-api's headers: make it this node.
  env: { ...process.env, PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter) },
});
if (res.error || res.status !== 0) {
  process.stderr.write(res.stdout ?? '');
  process.stderr.write(res.stderr ?? '');
  fail(
    `building the ICMP addon failed (${res.error?.message ?? `node-gyp exit ${res.status ?? res.signal}`}); see the output above`,
  );
}
if (!existsSync(output)) fail(`node-gyp succeeded but ${output} is missing`);
const shown = isAbsolute(relative(process.cwd(), output)) ? output : relative(process.cwd(), output) || output;
say(`built ${shown} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
