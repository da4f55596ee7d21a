#!/usr/bin/env node
/**
 * The process shell: argv, environment, signals, exit codes, stdout/stderr. The only place that
 * touches `process`. Everything it runs lives in src/.
 *
 * Exit codes: 0 success or graceful stop, 1 runtime failure (e.g. no ICMP permission),
 * 2 config or usage error, 130 forced exit on a second signal.
 */
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, NetscanError } from '../src/errors.js';
import { version } from '../src/version.js';
import type { Logger, LoadedConfig } from '../src/index.js';

// The agent (and pino-pretty) load only in `run` and `check-config`: `--help`, `--version` and
// `sweep` start without them (about 2 s less on a loaded machine).
const loadAgent = (): Promise<typeof import('../src/index.js')> => import('../src/index.js');

// A long-running agent allocates steadily (a point per probe): let V8 grow the old generation by
// 50% instead of its default up to 4x after a major GC, which removes the start-up RSS peak (285 ->
// 190 MB at 100k devices, no measurable CPU cost; MANUAL, Benchmarks). This flag is read at
// every GC, so setting it here at run time works.
setFlagsFromString('--heap-growing-percent=50');

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_CONFIG = 2;
const EXIT_FORCED = 130;

interface GlobalOpts {
  logLevel: string;
  logFormat: 'json' | 'pretty';
}

async function buildLogger(g: GlobalOpts): Promise<Logger> {
  const { createLogger } = await loadAgent();
  if (g.logFormat === 'pretty') {
    const { default: pretty } = await import('pino-pretty');
    return createLogger({
      level: g.logLevel,
      destination: pretty({
        colorize: process.stderr.isTTY,
        destination: 2,
        sync: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname,service',
      }),
    });
  }
  return createLogger({ level: g.logLevel });
}

/** -c, then NETSCAN_CONFIG, then ./config.yaml, then the Go default ./config.yml. */
function configPath(opt: string | undefined): string {
  // An empty -c (e.g. -c "$CFG" with CFG unset) is a mistake, not a request for the default file.
  if (opt !== undefined) {
    if (opt === '')
      throw new NetscanError('ERR_USAGE', '-c/--config: empty path (got ""; allowed a path to a YAML file)');
    return opt;
  }
  const env = process.env.NETSCAN_CONFIG;
  if (env !== undefined) {
    if (env === '')
      throw new NetscanError(
        'ERR_USAGE',
        'NETSCAN_CONFIG: empty path (got ""; allowed a path to a YAML file, or unset it)',
      );
    return env;
  }
  if (!existsSync('config.yaml') && existsSync('config.yml')) return 'config.yml';
  return 'config.yaml';
}

function printConfigError(err: ConfigError, path: string): void {
  process.stderr.write(
    `netscan: invalid configuration in ${path} (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}):\n`,
  );
  for (const p of err.problems) process.stderr.write(`  ${p}\n`);
  for (const w of err.warnings) process.stderr.write(`netscan: warning: ${w}\n`);
}

function printWarnings(loaded: LoadedConfig): void {
  for (const w of loaded.warnings) process.stderr.write(`netscan: warning: ${w}\n`);
}

async function load(path: string): Promise<LoadedConfig | undefined> {
  const { loadConfigFile } = await loadAgent();
  try {
    return await loadConfigFile(path, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      printConfigError(err, path);
      process.exitCode = EXIT_CONFIG;
      return undefined;
    }
    throw err;
  }
}

async function checkConfig(opts: { config?: string }): Promise<void> {
  const path = configPath(opts.config);
  const loaded = await load(path);
  if (!loaded) return;
  printWarnings(loaded);
  process.stdout.write(
    `${loaded.source}: configuration is valid${loaded.warnings.length ? ` (${loaded.warnings.length} warning${loaded.warnings.length === 1 ? '' : 's'})` : ''}\n`,
  );
  process.exitCode = EXIT_OK;
}

async function run(opts: { config?: string }, g: GlobalOpts): Promise<void> {
  const path = configPath(opts.config);
  const loaded = await load(path);
  if (!loaded) return;
  const logger = await buildLogger(g);
  logger.info(
    { pid: process.pid, config: path },
    'Ctrl-C or SIGTERM stops netscan (a second one exits at once); SIGHUP reloads the config',
  );
  for (const w of loaded.warnings) logger.warn({ warning: w }, 'configuration warning');
  const { Agent, loadConfigFile, systemClock } = await loadAgent();
  const agent = new Agent({
    config: loaded.config,
    logger,
    clock: systemClock,
    version,
    loadConfig: () => loadConfigFile(path, process.env),
  });

  let signals = 0;
  const shutdown = (signal: string): void => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal received, exiting immediately');
      logger.flush();
      process.exit(EXIT_FORCED);
    }
    logger.info({ signal }, 'shutdown signal received, stopping');
    agent.stop().then(
      () => {
        logger.flush();
        process.exit(EXIT_OK);
      },
      (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        logger.flush();
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => {
    logger.info({ path }, 'SIGHUP received, reloading configuration');
    // reloadFromSource logs a rejected config itself and never rejects.
    void agent.reloadFromSource();
  });

  try {
    await agent.start();
  } catch (err) {
    // The stable code goes to the log (no stack: the advice is printed below by main()).
    if (err instanceof NetscanError)
      logger.fatal({ code: err.code, stage: err.stage, err: err.message }, 'netscan could not start');
    logger.flush();
    throw err;
  }
  // Keeps the event loop alive: every stage's timers are unref()'d by design.
  setInterval(() => undefined, 1 << 30);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** The default log level: NETSCAN_LOG_LEVEL (checked like --log-level), DEBUG=true, or info. */
function defaultLogLevel(): string {
  const env = process.env.NETSCAN_LOG_LEVEL;
  if (env !== undefined && env !== '') {
    if (!LOG_LEVELS.includes(env)) {
      throw new NetscanError(
        'ERR_USAGE',
        `NETSCAN_LOG_LEVEL: invalid log level (got ${JSON.stringify(env)}; allowed ${LOG_LEVELS.join(', ')})`,
      );
    }
    return env;
  }
  return process.env.DEBUG?.toLowerCase() === 'true' ? 'debug' : 'info';
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('netscan')
    .description('Network discovery and continuous ping monitoring agent')
    .version(version, '-V, --version')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default(defaultLogLevel()))
    .addOption(
      new Option('--log-format <format>', 'log format')
        .choices(['json', 'pretty'])
        .default(process.stderr.isTTY ? 'pretty' : 'json', 'pretty on a terminal, json otherwise'),
    )
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  program
    .command('run', { isDefault: true })
    .description('run the agent (default command)')
    .option(
      '-c, --config <file>',
      'config file (env NETSCAN_CONFIG; default ./config.yaml, or ./config.yml if only that exists)',
    )
    .action(async (opts: { config?: string }) => run(opts, program.opts<GlobalOpts>()));

  program
    .command('check-config')
    .description('validate a config file; exit 0 if valid, 2 if not (all problems are listed)')
    .option('-c, --config <file>', 'config file (env NETSCAN_CONFIG; default ./config.yaml)')
    .action(async (opts: { config?: string }) => checkConfig(opts));

  program
    .command('sweep')
    .description(
      "one-shot ICMP sweep with fping's habits: prints the targets that answered; exit 0 if one did, 1 if none, 2 on usage errors",
    )
    .argument(
      '[target...]',
      'IPv4 CIDRs, IPv6 prefixes up to /112, addresses, ranges FIRST-LAST or host names (none: -f FILE, else standard input)',
    )
    .option('-f, --file <file>', 'read targets from FILE, one per line, # comments (- is standard input)')
    .option('-a, --alive', 'print the targets that answered (default)')
    .option('-u, --unreach', 'print the targets that did not answer')
    .option('-q, --quiet', 'print no per-target lines (errors, -c statistics and the summary still print)')
    .option('-c, --count <n>', 'send N echo requests to every target; per-target statistics on stderr')
    .option(
      '-p, --period <duration>',
      'with -c: time between two requests to one target (default 1s; a bare number is ms)',
    )
    .addOption(
      new Option('--order <order>', 'print targets as they answer, or sorted by address at the end')
        .choices(['arrival', 'address'])
        .default('arrival'),
    )
    .option('-4, --ipv4', 'IPv4 only: host names resolve to IPv4 addresses')
    .option('-6, --ipv6', 'IPv6 only: host names resolve to IPv6 addresses')
    .option(
      '--exclude <cidr>',
      'exclude a CIDR, address or range (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--rate <pps>', 'echo requests per second, retries included', '1000')
    .option('-t, --timeout <duration>', 'reply timeout (e.g. 500ms; a bare number is ms)', '1s')
    .option('-r, --retries <n>', 'extra attempts for addresses that did not answer (not with -c)', '1')
    .option('--in-flight <n>', 'addresses probed at once', '1024')
    .option('--json', 'one JSON object per printed address: {"ip":"127.0.0.5","rtt_ms":0.021}')
    .option('--icmp-mode <mode>', 'ICMP socket kind: auto (raw when allowed, else datagram), raw or dgram', 'auto')
    .action(async (targets: string[], opts: Record<string, unknown>) => {
      const { sweepCli } = await import('./sweep.js');
      process.exitCode = await sweepCli(targets, opts);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_CONFIG;
      return;
    }
    throw err;
  }
}

main(process.argv).catch((err: unknown) => {
  if (err instanceof NetscanError) {
    process.stderr.write(`netscan: ${err.message}\n`);
    process.exitCode = err.code === 'ERR_CONFIG' || err.code === 'ERR_USAGE' ? EXIT_CONFIG : EXIT_FAILURE;
  } else {
    process.stderr.write(
      `netscan: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = EXIT_FAILURE;
  }
});
