/**
 * Private network namespaces for tests and benchmarks that send real packets. Each run gets a
 * fresh namespace (`unshare -n`) holding only a loopback interface, so nft rules and sysctls
 * applied there cannot disturb other tests, and no packet can leave the machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How to run a script inside a fresh namespace. */
export interface NetnsRunOptions {
  /** Script run with node (TypeScript is loaded through tsx); or give `evalModule`. */
  readonly script?: string;
  /** ES module source run with `node --input-type=module -e` instead of a script file (it may import .ts files). */
  readonly evalModule?: string;
  /** Arguments after the script. */
  readonly args?: readonly string[];
  /** Extra node flags, e.g. `--expose-gc`. */
  readonly nodeArgs?: readonly string[];
  /** nftables ruleset loaded inside the namespace before the script starts (see {@link nftRuleset}). */
  readonly nftRuleset?: string;
  /** Sysctls set inside the namespace, e.g. `{ 'net.ipv4.icmp_echo_ignore_all': '1' }`. */
  readonly sysctls?: Readonly<Record<string, string>>;
  /** Runs the script without CAP_NET_RAW (see {@link withoutNetRawArgs}); the namespace is still set up as root. */
  readonly withoutNetRaw?: boolean;
  /** Working directory (default: the current one). */
  readonly cwd?: string;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kills the child after this many milliseconds (default 60,000). */
  readonly timeoutMs?: number;
}

/** What the child printed and how it ended. */
export interface NetnsResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  /** Signal that killed the child, if any. */
  readonly signal: NodeJS.Signals | null;
  /** Everything written to stdout. */
  readonly stdout: string;
  /** Everything written to stderr. */
  readonly stderr: string;
}

let available: boolean | undefined;
let dropArgs: readonly string[] | undefined;

/**
 * The `setpriv` command line that runs a program the way an operator who forgot the capability
 * would: as uid/gid 65534 with no capabilities. A checkout under a private directory (a 0700 home
 * or `mktemp -d`) is unreadable to that user; there the program runs as root with CAP_NET_RAW
 * removed from its bounding and inheritable sets, which fails the same way (EPERM on the raw socket).
 */
export function withoutNetRawArgs(): readonly string[] {
  if (dropArgs === undefined) {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
    const probe = join(fileURLToPath(new URL('../../node_modules/tsx/package.json', import.meta.url)));
    dropArgs =
      spawnSync(nobody[0]!, [...nobody.slice(1), 'test', '-r', probe], { stdio: 'ignore' }).status === 0
        ? nobody
        : ['setpriv', '--bounding-set=-net_raw', '--inh-caps=-net_raw'];
  }
  return dropArgs;
}

/** True when this process may create network namespaces and run nft in them (root). */
export function netnsAvailable(): boolean {
  if (available === undefined) {
    available =
      process.env.NETSCAN_TEST_NO_NETNS !== '1' &&
      spawnSync('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && nft list tables'], { stdio: 'ignore' })
        .status === 0;
  }
  return available;
}

/** Runs `opts.script` (or `opts.evalModule`) with node inside a new network namespace (lo up, rules applied) and collects its output. */
export function runInNetns(opts: NetnsRunOptions): Promise<NetnsResult> {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-netns-'));
  const lines = ['set -e', 'ip link set lo up'];
  for (const [key, value] of Object.entries(opts.sysctls ?? {})) {
    lines.push(`echo ${shellQuote(value)} > /proc/sys/${key.replaceAll('.', '/')}`);
  }
  if (opts.nftRuleset !== undefined) {
    const file = join(dir, 'rules.nft');
    writeFileSync(file, opts.nftRuleset);
    lines.push(`nft -f ${shellQuote(file)}`);
  }
  const prefix = opts.withoutNetRaw ? `${withoutNetRawArgs().join(' ')} ` : '';
  lines.push(`exec ${prefix}"$0" "$@"`);
  if ((opts.script === undefined) === (opts.evalModule === undefined))
    throw new TypeError('give exactly one of script and evalModule');
  const entry = opts.script !== undefined ? [opts.script] : ['--input-type=module', '-e', opts.evalModule!];
  const argv = [...(opts.nodeArgs ?? []), '--import', 'tsx', ...entry, ...(opts.args ?? [])];
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-n', '--', 'sh', '-c', lines.join('\n'), process.execPath, ...argv], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Parses the last non-empty stdout line as JSON (the child's result). */
export function lastJsonLine<T>(result: NetnsResult): T {
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `child printed no JSON result (exit ${result.code ?? result.signal}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** Rules for {@link nftRuleset}; all apply to incoming echo requests only. */
export interface NftRules {
  /** Silently drop echo requests to these addresses or networks (dead hosts). */
  readonly dropEchoTo?: readonly string[];
  /** Answer echo requests to these with ICMP host-unreachable (a router saying no). */
  readonly rejectEchoTo?: readonly string[];
  /** Drop this percentage (0-100) of all echo requests at random (`numgen random`). */
  readonly lossPercent?: number;
}

/**
 * An nftables ruleset acting on the INPUT hook: dropping there makes a host look dead (the
 * request is never answered), whereas an OUTPUT drop would make sendto fail with EPERM.
 */
export function nftRuleset(rules: NftRules): string {
  const body: string[] = [];
  const set = (addrs: readonly string[]): string => `{ ${addrs.join(', ')} }`;
  if (rules.dropEchoTo?.length) body.push(`    ip daddr ${set(rules.dropEchoTo)} icmp type echo-request drop`);
  if (rules.rejectEchoTo?.length)
    body.push(`    ip daddr ${set(rules.rejectEchoTo)} icmp type echo-request reject with icmp type host-unreachable`);
  if (rules.lossPercent !== undefined && rules.lossPercent > 0) {
    body.push(`    icmp type echo-request numgen random mod 100 < ${Math.round(rules.lossPercent)} drop`);
  }
  return [
    'table inet netscan_test {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    ...body,
    '  }',
    '}',
    '',
  ].join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
