/**
 * The one way a stage checks its options: every rule is tried, every problem is kept, and one
 * {@link ConfigError} lists them all, one `name: must be <allowed> (got <value>)` line each, so a
 * bad configuration is fixed in one run rather than one option per run. Stages name options by
 * their config key where the config maps one to one (`snmp.port`), else by the option field.
 */
import { ConfigError } from './errors.js';

/** How a value is shown in a problem: numbers as written (NaN, -1), anything else as JSON. */
function shown(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Collects option problems for one stage; {@link OptionChecks.throwIfAny} throws them as one ConfigError. */
export class OptionChecks {
  readonly #stage: string;
  readonly #problems: string[] = [];

  /** `stage` is the error's stage (`icmp`, `sweep`, `snmp`, ...). */
  constructor(stage: string) {
    this.#stage = stage;
  }

  /** The problems found so far, one line each. */
  get problems(): readonly string[] {
    return this.#problems;
  }

  /** Records a problem when `ok` is false: `name: must be <allowed> (got <value>)`. */
  require(ok: boolean, name: string, value: unknown, allowed: string): this {
    if (!ok) this.#problems.push(`${name}: must be ${allowed} (got ${shown(value)})`);
    return this;
  }

  /** Records problems already formatted elsewhere (for example credential checks). */
  add(problems: readonly string[]): this {
    this.#problems.push(...problems);
    return this;
  }

  /** An integer from `min` to `max` (inclusive; no upper bound when `max` is omitted). */
  integer(name: string, value: unknown, min: number, max?: number): this {
    const ok =
      Number.isSafeInteger(value) && (value as number) >= min && (max === undefined || (value as number) <= max);
    return this.require(
      ok,
      name,
      value,
      max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
    );
  }

  /** A finite number greater than 0 (durations in ms, rates). */
  positive(name: string, value: unknown): this {
    const ok = typeof value === 'number' && Number.isFinite(value) && value > 0;
    return this.require(ok, name, value, 'a finite number greater than 0');
  }

  /** A finite number, 0 or more (durations where 0 turns something off). */
  nonNegative(name: string, value: unknown): this {
    const ok = typeof value === 'number' && Number.isFinite(value) && value >= 0;
    return this.require(ok, name, value, 'a finite number >= 0');
  }

  /** One of `allowed`. */
  oneOf(name: string, value: unknown, allowed: readonly unknown[]): this {
    return this.require(allowed.includes(value), name, value, `one of ${allowed.map(shown).join(', ')}`);
  }

  /** Throws one ConfigError (code ERR_CONFIG, this stage) listing every problem, if any was found. */
  throwIfAny(): void {
    if (this.#problems.length > 0) throw new ConfigError([...this.#problems], { stage: this.#stage });
  }
}
