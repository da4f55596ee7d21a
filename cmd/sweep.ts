import { readFile } from 'node:fs/promises';
import { parseSweepCommandArgs, type SweepCommandArgv } from '../src/sweep-argv.js';
import { runSweepCommand } from '../src/sweep-command.js';
import { parseTargetList } from '../src/sweep-targets.js';

/** Raw commander values of `netscan sweep`, with the target-list file. */
export interface SweepCliArgv extends SweepCommandArgv {
  /** `-f, --file FILE` (`-` is standard input). */
  readonly file?: string;
}

const EXIT_USAGE = 2;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `netscan sweep`: gathers the targets (arguments, then `-f FILE`, else standard input when it is
 * not a terminal, as fping does), parses commander's strings, wires signals and stdio, and
 * returns the exit code.
 */
export async function sweepCli(args: string[], argv: SweepCliArgv): Promise<number> {
  const targets = [...args];
  try {
    if (argv.file !== undefined)
      targets.push(...parseTargetList(argv.file === '-' ? await readStdin() : await readFile(argv.file, 'utf8')));
    else if (targets.length === 0 && !process.stdin.isTTY) targets.push(...parseTargetList(await readStdin()));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(
      `netscan: -f ${argv.file}: cannot read the target list: ${e.code === 'ENOENT' ? 'no such file' : e.message}\n`,
    );
    return EXIT_USAGE;
  }
  let parsed;
  try {
    parsed = parseSweepCommandArgs(targets, argv);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_USAGE') {
      for (const line of (err as Error).message.split('\n')) process.stderr.write(`netscan: ${line}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  const ac = new AbortController();
  const stop = (): void => ac.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed pipe (`netscan sweep ... | head`) ends the sweep quietly instead of crashing.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') ac.abort(err);
  });
  try {
    return await runSweepCommand(parsed, {
      stdout: process.stdout,
      stderr: process.stderr,
      isTTY: process.stderr.isTTY === true,
      stdoutIsTTY: process.stdout.isTTY === true,
      signal: ac.signal,
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
