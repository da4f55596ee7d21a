/** The error types alone, for the process shell's fast paths (`--help`, `sweep`) that must not load the agent. */
export { NetscanError, ConfigError, type ErrorCode } from '../internal/errors/errors.js';
