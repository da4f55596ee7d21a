import assert from 'node:assert/strict';
import { ConfigError } from '../errors/errors.js';

/**
 * A validator for assert.throws / assert.rejects: the error is the ConfigError of `stage` listing
 * exactly `problems`, in order (as OptionChecks words them).
 */
export function optionError(stage: string, problems: readonly string[]): (err: unknown) => true {
  return (err) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.stage, stage);
    assert.deepEqual(err.problems, problems);
    return true;
  };
}
