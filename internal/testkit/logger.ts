import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../log/log.js';

/** A logger that writes nothing, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}

/** A logger that records every line as a parsed object, for tests that assert on logging. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  // pino writes synchronously to a plain Writable, so lines are visible right after the call.
  return { logger: createLogger({ level, destination: stream as never }), lines };
}
