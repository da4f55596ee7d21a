// One `netscan sweep` run as a separate process, exactly as the CLI runs it (alive addresses on
// stdout), for bench/icmp/main.ts. Last stderr line: {"bench":{...}} with the peak RSS.
// Usage: sweep-child <target> <ratePps> <timeoutMs> <retries> <inFlight> [auto|raw|dgram]
import { parseSweepCommandArgs } from '../../src/sweep-argv.js';
import { runSweepCommand } from '../../src/sweep-command.js';

const [target, rate, timeout, retries, inFlight, icmpMode] = process.argv.slice(2);
const opts = parseSweepCommandArgs([target!], { rate, timeout, retries, inFlight, icmpMode });
const code = await runSweepCommand(opts, { stdout: process.stdout, stderr: process.stderr, isTTY: false });
// maxRSS is in KiB (getrusage(2) ru_maxrss).
process.stderr.write(`${JSON.stringify({ bench: { code, maxRssMb: process.resourceUsage().maxRSS / 1024 } })}\n`);
process.exitCode = code;
