import { NetscanError } from '../src/index.js';

/** `netscan sweep`: wired to the sweep engine once it lands (issue 4). */
export async function sweepCli(_cidrs: string[], _opts: Record<string, unknown>): Promise<number> {
  throw new NetscanError('ERR_USAGE', 'sweep is not available yet');
}
