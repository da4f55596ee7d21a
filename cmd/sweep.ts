import { NetscanError, parseSweepCommandArgs, runSweepCommand, type SweepCommandArgv } from '../src/index.js';

/** `netscan sweep`: parses commander's strings, wires signals and stdio, returns the exit code. */
export async function sweepCli(cidrs: string[], argv: SweepCommandArgv): Promise<number> {
  let parsed;
  try {
    parsed = parseSweepCommandArgs(cidrs, argv);
  } catch (err) {
    if (err instanceof NetscanError && err.code === 'ERR_USAGE') {
      process.stderr.write(`netscan: ${err.message}\n`);
      return 2;
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
    return await runSweepCommand(parsed, { stdout: process.stdout, stderr: process.stderr, isTTY: process.stderr.isTTY === true, signal: ac.signal });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
