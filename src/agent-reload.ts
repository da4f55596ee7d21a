import { errorMessage, NetscanError } from '../internal/errors/errors.js';
import type { ReloadResult } from '../internal/health/health-server.js';
import type { Logger } from '../internal/log/log.js';
import type { AgentStages } from './agent-stages.js';
import { reconcilerOptions, schedulerOptions } from './config/stage-options.js';
import type { Config } from './config/schema.js';
import { networkCidrs, Ownership } from './discovery-loop.js';
import type { PreparedOutputs } from './output-slot.js';

/** Settings the state store, the SNMP enricher, the health listener and the ICMP sockets take at construction only. */
const restartKeys = [
  'state_file',
  'max_devices',
  'prune_after',
  'prune_interval',
  'state_snapshot_interval',
  'snmp',
  'snmp_interval',
  'snmp_rate_limit',
  'snmp_burst_limit',
  'snmp_max_consecutive_fails',
  'snmp_backoff_duration',
  'health_check_port',
  'health_check_bind',
  'icmp_mode',
  'icmp_payload_bytes',
  'icmp_tos',
  'icmp_ttl',
  'icmp_source_ipv4',
  'icmp_source_ipv6',
  'icmp_interface',
  'prometheus',
  'probe_thread',
  'probe_thread_nice',
] as const;

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** A reload prepared without touching what runs: everything that can fail has been done. */
export interface PreparedReload {
  /** The configuration running before the reload. */
  old: Config;
  /** The configuration the reload applies. */
  config: Config;
  /** The new config's network and shard ownership. */
  ownership: Ownership;
  /** New outputs to hand over to, when the output settings changed. */
  outputs: PreparedOutputs | undefined;
  /** Changed settings that take effect only after a restart. */
  restartNeeded: readonly string[];
}

/** Prepares a reload from `old` to `config`; a rejection leaves the running stages untouched. */
export async function prepareReload(stages: AgentStages, old: Config, config: Config): Promise<PreparedReload> {
  const ownership = new Ownership(config);
  const outputs = await stages.outputs.prepare(config);
  const restartNeeded = restartKeys.filter((k) => !sameJson(old[k], config[k]));
  return { old, config, ownership, outputs, restartNeeded };
}

/** What {@link applyReload} acts on besides the prepared reload. */
export interface ApplyReloadOptions {
  /** The running stages. */
  stages: AgentStages;
  /** The agent's logger. */
  logger: Logger;
  /** Deadline for the replaced outputs' final flush, ms. */
  closeDeadlineMs: number;
  /** Restarts the status log (called when `status_log_interval` changed). */
  restartStatusLog: () => void;
}

/**
 * Applies a prepared reload to the running stages: schedules, reconciler, discovery, tags and
 * targets are reconfigured in place, the outputs are handed over when they changed, and the
 * settings that need a restart are logged.
 */
export async function applyReload(plan: PreparedReload, opts: ApplyReloadOptions): Promise<void> {
  const { old, config, outputs } = plan;
  const { stages: s, logger } = opts;
  s.scheduler.reconfigure(schedulerOptions(config));
  s.reconciler.reconfigure(reconcilerOptions(config));
  s.discovery.reconfigure(config, plan.ownership);
  s.tags.reconfigure(config);
  s.targets
    .reconfigure(config)
    .catch((err: unknown) =>
      logger.error({ stage: 'targets', err: errorMessage(err) }, 'target resolution after reload failed'),
    );
  if (outputs) {
    // stop() waits for the previous outputs' closing, so a shutdown cannot cut their final flush short.
    await s.outputs.replace(outputs, opts.closeDeadlineMs);
    logger.info({ outputs: outputs.names }, 'outputs replaced');
  }
  s.discovery.followTargets(old);
  if (old.status_log_interval !== config.status_log_interval) opts.restartStatusLog();
  if (plan.restartNeeded.length > 0)
    logger.warn({ keys: plan.restartNeeded }, 'these settings take effect after a restart');
  logger.info({ networks: networkCidrs(config), targets: config.targets.length }, 'configuration reloaded');
}

/** Loads the config through `load` and hands it to `reload`, turning a rejection into the problems it names. */
export async function reloadFromLoader(
  load: (() => Promise<{ config: Config; warnings: readonly string[] }>) | undefined,
  reload: (config: Config, warnings: readonly string[]) => Promise<void>,
  logger: Logger,
): Promise<ReloadResult> {
  if (!load) return { ok: false, problems: ['reload is not available: the agent was started without a config file'] };
  try {
    const next = await load();
    await reload(next.config, next.warnings);
    return { ok: true, problems: [] };
  } catch (err) {
    const problems =
      err instanceof NetscanError && 'problems' in err
        ? [...(err as { problems: string[] }).problems]
        : [errorMessage(err)];
    logger.error({ problems }, 'configuration reload rejected; keeping the running configuration');
    return { ok: false, problems };
  }
}

/** Reloads applied and rejected (the running config stayed), and whether the last one applied: for /health and /metrics. */
export class ReloadTally {
  applied = 0;
  failed = 0;
  lastOk = true;

  /** Books the outcome of a reload asked for (SIGHUP, POST /-/reload) and passes it on. */
  settled(r: ReloadResult): ReloadResult {
    this.lastOk = r.ok;
    if (!r.ok) this.failed++;
    return r;
  }

  /** A copy of the figures. */
  figures(): { applied: number; failed: number; lastOk: boolean } {
    return { applied: this.applied, failed: this.failed, lastOk: this.lastOk };
  }
}
