// One `netscan sweep` run as a separate process, exactly as the CLI runs it (alive addresses on
// stdout), for bench/icmp/main.ts. Last stderr line: {"bench":{...}} with the peak RSS.
// Usage: sweep-child <cidr> <ratePps> <timeoutMs> <retries> <inFlight>
import { runSweepCommand } from '../../src/sweep-command.js';

const [cidr, rate, timeout, retries, inFlight] = process.argv.slice(2);
const code = await runSweepCommand(
  { targets: [cidr!], exclude: [], ratePps: Number(rate), timeoutMs: Number(timeout), retries: Number(retries), json: false, inFlight: Number(inFlight) },
  { stdout: process.stdout, stderr: process.stderr, isTTY: false },
);
// maxRSS is in KiB (getrusage(2) ru_maxrss).
process.stderr.write(`${JSON.stringify({ bench: { code, maxRssMb: process.resourceUsage().maxRSS / 1024 } })}\n`);
process.exitCode = code;
