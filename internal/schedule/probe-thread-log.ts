import type { Logger } from '../log/log.js';

type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
const LEVEL_NAMES = new Set<unknown>(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const LEVELS: Record<number, LevelName> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * Logs one JSON line of the probe thread's logger again through `logger` (the main thread's root,
 * so destination, format and redaction are the main thread's), at its level, with its fields and
 * `thread: probe`; time, pid and hostname are the main thread's. A line that is not JSON is
 * logged as such on `own`.
 */
export function relayProbeLog(logger: Logger, own: Logger, line: string): void {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    own.warn({ line }, 'probe thread log line is not JSON');
    return;
  }
  const { level, time: _t, pid: _p, hostname: _h, service: _s, msg, ...fields } = rec;
  const name = typeof level === 'number' ? LEVELS[level] : LEVEL_NAMES.has(level) ? (level as LevelName) : undefined;
  logger[name ?? 'info']({ ...fields, thread: 'probe' }, typeof msg === 'string' ? msg : '');
}
