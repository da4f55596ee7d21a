/**
 * Checks the schema cannot express: CIDR semantics, relationships between keys, and the Go
 * netscan's SNMP community and InfluxDB rules. Runs on the raw (env-expanded) YAML object, so
 * it reports alongside schema problems instead of after them; every check guards its own
 * types. Warnings never stop validation (the Go version returned at its first warning).
 */
import type { Findings, Raw } from './findings.js';
import { checkIcmp } from './validate-icmp.js';
import { checkLegacy } from './validate-legacy.js';
import { checkNetworks } from './validate-networks.js';
import { checkInflux } from './validate-outputs.js';
import { checkBuffer, checkRelations } from './validate-relations.js';
import { checkSnmp } from './validate-snmp.js';
import type { Config } from './schema.js';
export type { Findings } from './findings.js';

/** Runs every semantic check; `cfg` is the schema-parsed config when the schema accepted it. */
export function semanticChecks(raw: Raw, cfg: Config | undefined): Findings {
  const f: Findings = { errors: [], warnings: [] };
  checkNetworks(raw, f);
  checkSnmp(raw, f);
  checkInflux(raw, f);
  checkLegacy(raw, f);
  checkIcmp(raw, f);
  checkRelations(raw, cfg, f);
  checkBuffer(cfg, f);
  return f;
}
