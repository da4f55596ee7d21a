import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandEnv } from './env.js';

test('expands $VAR and ${VAR}, unset becomes empty, $$ is a literal dollar', () => {
  const env = { TOKEN: 'abc', ORG: 'acme', A_1: 'x' };
  const table: Array<[string, string]> = [
    ['${TOKEN}', 'abc'],
    ['$TOKEN', 'abc'],
    ['pre-$ORG-post', 'pre-acme-post'],
    ['${MISSING}', ''],
    ['$MISSING', ''],
    ['pa$$word', 'pa$word'],
    ['cost: 5$', 'cost: 5$'],
    ['${}', ''],
    ['a${TOKEN', 'aTOKEN'],
    ['$A_1$TOKEN', 'xabc'],
    ['$ space', '$ space'],
    ['plain', 'plain'],
    ['abc$123xyz', 'abc23xyz'],
  ];
  for (const [input, want] of table) assert.equal(expandEnv(input, env), want, input);
});
