/** Stable error codes. Operators and tests match on these, never on message text. */
export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_USAGE'
  | 'ERR_ICMP_PERMISSION'
  | 'ERR_ICMP_SOCKET'
  | 'ERR_SNMP'
  | 'ERR_WRITE'
  | 'ERR_STATE'
  | 'ERR_HEALTH'
  | 'ERR_INTERNAL';

/** Fields that locate an error: which stage raised it and, where there is one, for which device. */
export interface NetscanErrorOptions {
  /** Stage that raised the error (`config`, `icmp`, `writer`, ...). */
  stage?: string;
  /** Device IP the error concerns, if any. */
  ip?: string;
  /** Underlying error. */
  cause?: unknown;
}

/** The one error type the agent throws for expected failures (config, permissions, I/O faults). */
export class NetscanError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** Stage that raised the error. */
  readonly stage: string | undefined;
  /** Device IP concerned, if any. */
  readonly ip: string | undefined;

  constructor(code: ErrorCode, message: string, opts: NetscanErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'NetscanError';
    this.code = code;
    this.stage = opts.stage;
    this.ip = opts.ip;
  }
}

/** A configuration error carrying every problem found, one `path: message` line each. */
export class ConfigError extends NetscanError {
  /** All problems, each already formatted as `key.path: message (got X; allowed Y)`. */
  readonly problems: readonly string[];
  /** Warnings found beside the problems (printed too: one run shows everything to fix). */
  readonly warnings: readonly string[];

  constructor(problems: readonly string[], opts: NetscanErrorOptions & { warnings?: readonly string[] } = {}) {
    const { warnings, ...rest } = opts;
    super('ERR_CONFIG', problems.join('\n'), { stage: 'config', ...rest });
    this.name = 'ConfigError';
    this.problems = problems;
    this.warnings = warnings ?? [];
  }
}

/** True when `err` is a NetscanError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is NetscanError {
  return err instanceof NetscanError && err.code === code;
}

/** Message of any thrown value, for logs. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
