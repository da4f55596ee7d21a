/** Public API of the netscan package. */
export { Agent, type AgentOptions } from './agent.js';
export { loadConfigFile, parseConfigText, type LoadedConfig, type Env } from './config/load.js';
export { configSchema, schemaKeyPaths, type Config, type ConfigInput } from './config/schema.js';
export { parseDuration, formatDuration } from './config/duration.js';
export { version } from './version.js';
export { NetscanError, ConfigError, type ErrorCode } from '../internal/errors/errors.js';
export { createLogger, type Logger } from '../internal/log/log.js';
export { systemClock, type Clock } from '../internal/clock/clock.js';
export { runSweepCommand, SWEEP_EXIT, type SweepCommandIo } from './sweep-command.js';
export { parseSweepCommandArgs, type SweepCommandArgv, type SweepCommandOptions } from './sweep-argv.js';
export { formatSummary } from './sweep-output.js';
