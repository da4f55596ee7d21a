/**
 * The real netscan agent as a child process, for end-to-end tests: writes a config file into a
 * temporary directory, spawns `cmd/netscan.ts run` under tsx (in the current network namespace,
 * or in a fresh private one with its own nft rules), follows its JSON log, talks to its health
 * server, sends signals, collects the exit status and reads the line-protocol output file.
 * Only loopback addresses are used; a private namespace has nothing but `lo`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freeLoopbackPort } from './server-process.js';
import { withoutNetRawArgs } from './netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = join(root, 'cmd/netscan.ts');
const tsx = fileURLToPath(import.meta.resolve('tsx'));

/** One parsed line of the agent's JSON log. */
export type LogLine = Record<string, unknown> & { level: string; msg: string };

/** How the process ended. */
export interface AgentExit {
  /** Exit code, or null when a signal killed it. */
  code: number | null;
  /** Signal that killed it, if any. */
  signal: NodeJS.Signals | null;
}

/** An HTTP answer from the agent's health server. */
export interface HttpAnswer {
  /** Status code. */
  status: number;
  /** Body as text. */
  body: string;
}

/** One line-protocol point read back from the output file. */
export interface LinePoint {
  /** Measurement name. */
  measurement: string;
  /** Tags. */
  tags: Record<string, string>;
  /** Fields: floats and integers as numbers, booleans, strings. */
  fields: Record<string, number | boolean | string>;
  /** Timestamp, ms since the epoch. */
  timeMs: number;
}

/** Options for {@link AgentProcess.start}. */
export interface AgentProcessOptions {
  /** Config keys, written as YAML over {@link agentTestConfig}; or a raw file body (then nothing is merged). */
  config: Record<string, unknown> | string;
  /** Working directory (config, state, spool and output live here); a temporary one when omitted (removed by dispose). */
  dir?: string;
  /** Run inside a fresh network namespace (only `lo`, up). */
  netns?: boolean;
  /** nftables ruleset loaded in that namespace before the agent starts (needs `netns`). */
  nftRuleset?: string;
  /**
   * A hosts file bind-mounted over /etc/hosts (with `hosts: files` in nsswitch.conf) in a private
   * mount namespace (needs `netns`): the agent resolves names from it alone. Rewrite it in place
   * (same inode) to change an answer mid-run.
   */
  hostsFile?: string;
  /** Extra shell lines run as root in the namespace before the agent starts, e.g. `ip -6 route add local fd00:1::/64 dev lo`. */
  setup?: readonly string[];
  /** Run without CAP_NET_RAW (uid 65534 when it can read the checkout; see withoutNetRawArgs). */
  withoutNetRaw?: boolean;
  /** Extra environment variables. */
  env?: Readonly<Record<string, string>>;
  /** Resolve once the log says `netscan started` (default), or at once (`spawned`: for a start that is expected to fail). */
  waitFor?: 'started' | 'spawned';
  /** How long to wait for `netscan started`, ms (default 30,000). */
  startTimeoutMs?: number;
}

/**
 * Defaults that make the agent quick and self-contained in a test: files in `dir`, health on
 * loopback, short intervals, no InfluxDB. ({@link AgentProcess.start} adds a free
 * `health_check_port` unless the config sets one; rewrites keep the port of the start.)
 */
export function agentTestConfig(dir: string): Record<string, unknown> {
  return {
    icmp_discovery_interval: '1m',
    ping_interval: '1s',
    ping_timeout: '500ms',
    ping_rate_limit: 20_000,
    ping_burst_limit: 20_000,
    sweep_rate_limit: 5000,
    sweep_timeout: '300ms',
    sweep_retries: 1,
    health_check_bind: '127.0.0.1',
    health_report_interval: '1s',
    summary_interval: '2s',
    output_file: join(dir, 'out.lp'),
    // The file output flushes on influxdb.flush_interval too (default 5 s); a test passing its own
    // influxdb section sets it there.
    influxdb: { enabled: false, flush_interval: '200ms' },
    state_file: join(dir, 'state.json'),
    spool_dir: join(dir, 'spool'),
  };
}

/** A running (or finished) agent process. */
export class AgentProcess {
  /** Working directory. */
  readonly dir: string;
  /** The config file the agent reads (rewrite it with {@link writeConfig}, then SIGHUP). */
  readonly configPath: string;
  /** Every log line parsed so far, in order. */
  readonly logs: LogLine[] = [];
  /** Resolves when the process has exited. */
  readonly exited: Promise<AgentExit>;
  readonly #child: ChildProcess;
  readonly #netns: boolean;
  readonly #ownsDir: boolean;
  #stdout = '';
  #stderr = '';
  #partial = '';
  #exit: AgentExit | undefined;
  #waiters = new Set<() => void>();
  #healthPort = 0;

  private constructor(child: ChildProcess, dir: string, configPath: string, netns: boolean, ownsDir: boolean) {
    this.#child = child;
    this.dir = dir;
    this.configPath = configPath;
    this.#netns = netns;
    this.#ownsDir = ownsDir;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.#stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => this.#onStderr(d));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#notify();
        resolve(this.#exit);
      });
    });
  }

  /** Writes the config, spawns the agent and (by default) waits until it has started. */
  static async start(opts: AgentProcessOptions): Promise<AgentProcess> {
    const ownsDir = opts.dir === undefined;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'netscan-e2e-'));
    const configPath = join(dir, 'netscan.yaml');
    // health_check_port 0 disables the server, so the test picks a free loopback port.
    const config =
      typeof opts.config === 'string' || 'health_check_port' in opts.config
        ? opts.config
        : { health_check_port: await freeLoopbackPort(), ...opts.config };
    writeConfigFile(configPath, dir, config);
    const node = [process.execPath, '--import', tsx, entry, '--log-format', 'json', 'run', '-c', configPath];
    const setpriv = opts.withoutNetRaw ? withoutNetRawArgs() : [];
    // mkdtemp makes a 0700 directory; the unprivileged agent must read its config and write its files.
    if (opts.withoutNetRaw) chmodSync(dir, 0o777);
    let argv: string[];
    if (opts.netns) {
      const lines = ['set -e', 'ip link set lo up'];
      if (opts.nftRuleset !== undefined) {
        const rules = join(dir, 'rules.nft');
        writeFileSync(rules, opts.nftRuleset);
        lines.push(`nft -f '${rules}'`);
      }
      lines.push(...(opts.setup ?? []));
      if (opts.hostsFile !== undefined) {
        const nsswitch = join(dir, 'nsswitch.conf');
        writeFileSync(nsswitch, 'hosts: files\n');
        lines.push(`mount --bind '${opts.hostsFile}' /etc/hosts`, `mount --bind '${nsswitch}' /etc/nsswitch.conf`);
      }
      // exec all the way down, so the pid we hold is the agent's (signals reach it directly).
      lines.push('exec "$@"');
      argv = [
        'unshare',
        ...(opts.hostsFile !== undefined ? ['-m'] : []),
        '-n',
        '--',
        'sh',
        '-c',
        lines.join('\n'),
        'sh',
        ...setpriv,
        ...node,
      ];
    } else {
      argv = [...setpriv, ...node];
    }
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: dir,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const agent = new AgentProcess(child, dir, configPath, opts.netns ?? false, ownsDir);
    if (opts.waitFor === 'spawned') return agent;
    const started = await agent
      .waitForLog('netscan started', { timeoutMs: opts.startTimeoutMs ?? 30_000 })
      .catch(async (err: unknown) => {
        await agent.dispose();
        throw err;
      });
    agent.#healthPort = typeof started['health_port'] === 'number' ? started['health_port'] : 0;
    return agent;
  }

  /** The agent's pid (inside a namespace too: every wrapper execs). */
  get pid(): number {
    return this.#child.pid ?? 0;
  }

  /** The health server's port (0 when disabled). */
  get healthPort(): number {
    return this.#healthPort;
  }

  /** The exit status once the process has ended. */
  get exit(): AgentExit | undefined {
    return this.#exit;
  }

  /** Everything written to stdout. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Everything written to stderr (the JSON log, plus anything else). */
  get stderr(): string {
    return this.#stderr;
  }

  /** The last `n` lines of stderr, for assertion messages. */
  tail(n = 30): string {
    return this.#stderr.split('\n').slice(-n).join('\n');
  }

  /** Log lines whose message is `msg`. */
  logsWith(msg: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  /**
   * Resolves with the first log line (from index `from`, default 0) matching `match` (the exact
   * message, a regular expression on it, or a predicate); rejects after `timeoutMs` or when the
   * process exits without one.
   */
  waitForLog(
    match: string | RegExp | ((l: LogLine) => boolean),
    opts: { timeoutMs?: number; from?: number } = {},
  ): Promise<LogLine> {
    const test =
      typeof match === 'string'
        ? (l: LogLine) => l.msg === match
        : match instanceof RegExp
          ? (l: LogLine) => match.test(l.msg)
          : match;
    const timeoutMs = opts.timeoutMs ?? 20_000;
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.logs.slice(opts.from ?? 0).find(test);
        if (hit) return finish(() => resolve(hit));
        if (this.#exit)
          return finish(() =>
            reject(
              new Error(
                `agent exited (${this.#exit?.code ?? this.#exit?.signal}) before logging ${String(match)}\n${this.tail()}`,
              ),
            ),
          );
      };
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        fn();
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no log line ${String(match)} within ${timeoutMs} ms\n${this.tail()}`))),
        timeoutMs,
      );
      this.#waiters.add(check);
      check();
    });
  }

  /** Sends a signal to the agent. */
  signal(sig: NodeJS.Signals): void {
    if (!this.#exit) this.#child.kill(sig);
  }

  /** Sends `sig` (default SIGTERM) and waits for the exit; SIGKILLs after `timeoutMs` and rejects. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<AgentExit> {
    if (this.#exit) return this.#exit;
    this.signal(sig);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    const r = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (r === 'late') {
      this.#child.kill('SIGKILL');
      await this.exited;
      throw new Error(`agent did not exit within ${timeoutMs} ms of ${sig}\n${this.tail()}`);
    }
    return r;
  }

  /** Rewrites the config file (an object is merged over the test defaults like at start). */
  writeConfig(config: Record<string, unknown> | string): void {
    const withPort =
      typeof config === 'string' || 'health_check_port' in config
        ? config
        : { health_check_port: this.#healthPort, ...config };
    writeConfigFile(this.configPath, this.dir, withPort);
  }

  /** GET (or POST) `path` on the health server; inside a namespace the request runs there (curl via nsenter). */
  async http(path: string, method: 'GET' | 'POST' = 'GET'): Promise<HttpAnswer> {
    if (this.#healthPort === 0) throw new Error('the agent has no health server');
    const url = `http://127.0.0.1:${this.#healthPort}${path}`;
    if (!this.#netns) {
      const res = await fetch(url, { method, signal: AbortSignal.timeout(10_000) });
      return { status: res.status, body: await res.text() };
    }
    const r = spawnSync(
      'nsenter',
      [`--net=/proc/${this.pid}/ns/net`, 'curl', '-s', '-m', '10', '-X', method, '-w', '\n%{http_code}', url],
      { encoding: 'utf8' },
    );
    const i = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
  }

  /** The `/health` document. */
  async health(): Promise<Record<string, unknown>> {
    const r = await this.http('/health');
    if (r.status !== 200) throw new Error(`/health answered ${r.status}: ${r.body}`);
    return JSON.parse(r.body) as Record<string, unknown>;
  }

  /** Runs `nft -f -` with `ruleset` inside the agent's namespace (needs `netns`). */
  nft(ruleset: string): void {
    if (!this.#netns) throw new Error('nft rules only in a private namespace');
    const r = spawnSync('nsenter', [`--net=/proc/${this.pid}/ns/net`, 'nft', '-f', '-'], {
      input: ruleset,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`nft failed: ${r.stderr}`);
  }

  /** Points in the line-protocol output file (default `<dir>/out.lp`); [] when it does not exist yet. */
  points(file = join(this.dir, 'out.lp')): LinePoint[] {
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map(parseLine);
  }

  /** The state file's device list (default `<dir>/state.json`). */
  stateDevices(file = join(this.dir, 'state.json')): Array<Record<string, unknown> & { ip: string }> {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { devices: Array<Record<string, unknown> & { ip: string }> };
    return doc.devices;
  }

  /** Kills the agent if it still runs and removes a temporary directory; idempotent. */
  async dispose(): Promise<void> {
    if (!this.#exit) {
      this.#child.kill('SIGKILL');
      await this.exited;
    }
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  #onStderr(d: string): void {
    this.#stderr += d;
    const text = this.#partial + d;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      try {
        this.logs.push(JSON.parse(l) as LogLine);
      } catch {
        // Not a log line (e.g. a stack trace fragment); kept in stderr only.
      }
    }
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

function writeConfigFile(path: string, dir: string, config: Record<string, unknown> | string): void {
  writeFileSync(path, typeof config === 'string' ? config : stringify({ ...agentTestConfig(dir), ...config }));
}

/** Parses one line of InfluxDB line protocol (escapes and quoted strings included). */
export function parseLine(line: string): LinePoint {
  let i = 0;
  const readUntil = (stops: string): string => {
    let out = '';
    while (i < line.length && !stops.includes(line[i]!)) {
      if (line[i] === '\\' && i + 1 < line.length) i++;
      out += line[i++];
    }
    return out;
  };
  const measurement = readUntil(', ');
  const tags: Record<string, string> = {};
  while (line[i] === ',') {
    i++;
    const k = readUntil('=');
    i++;
    tags[k] = readUntil(', ');
  }
  i++;
  const fields: Record<string, number | boolean | string> = {};
  for (;;) {
    const k = readUntil('=');
    i++;
    if (line[i] === '"') {
      i++;
      let s = '';
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        s += line[i++];
      }
      i++;
      fields[k] = s;
    } else {
      const raw = readUntil(', ');
      if (raw === 'T' || raw === 't' || raw === 'true' || raw === 'TRUE' || raw === 'True') fields[k] = true;
      else if (raw === 'F' || raw === 'f' || raw === 'false' || raw === 'FALSE' || raw === 'False') fields[k] = false;
      else fields[k] = Number(/[iu]$/.test(raw) ? raw.slice(0, -1) : raw);
    }
    if (line[i] !== ',') break;
    i++;
  }
  i++;
  return { measurement, tags, fields, timeMs: Number(line.slice(i)) };
}
