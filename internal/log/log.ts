import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths pino blanks in every log line. Tokens, passwords and SNMP communities/keys never reach
 * a log, wherever they appear in a logged object.
 */
export const redactPaths: readonly string[] = [
  'token',
  '*.token',
  '*.*.token',
  'password',
  '*.password',
  '*.*.password',
  'community',
  '*.community',
  '*.*.community',
  '*.communities',
  '*.*.communities',
  'auth_key',
  '*.auth_key',
  '*.*.auth_key',
  '*.*.*.auth_key',
  'priv_key',
  '*.priv_key',
  '*.*.priv_key',
  '*.*.*.priv_key',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.Authorization',
  '*.headers.Authorization',
];

/** Replaces the user:password part of every URL in `s` (`http://u:p@host` -> `http://[redacted]@host`). */
export function redactUrlCredentials(s: string): string {
  // Greedy up to the last '@' before whitespace or a quote: a password may itself hold '/' or '@'.
  return s.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s"']*@/gi, '$1[redacted]@');
}

/**
 * Replaces every occurrence of each secret in `s` (tokens, passwords a server may echo in an
 * error body) and URL credentials. Empty secrets are ignored.
 */
export function redactSecrets(s: string, secrets: readonly string[]): string {
  let out = redactUrlCredentials(s);
  for (const secret of secrets) if (secret !== '') out = out.split(secret).join('[redacted]');
  return out;
}

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Minimum level: trace, debug, info, warn, error, fatal, silent. */
  level: string;
  /** Where lines go (defaults to stderr). */
  destination?: DestinationStream;
}

/** Builds the root logger: JSON lines, snake_case keys, secrets redacted, `service: netscan`. */
export function createLogger(opts: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    base: { service: 'netscan' },
    redact: { paths: [...redactPaths], censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return pino(options, opts.destination ?? pino.destination({ fd: 2, sync: false }));
}
