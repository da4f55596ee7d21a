// @ts-check
// ESLint flat config. `npm run lint` runs the syntactic rules (fast: no type information);
// `npm run lint:types` adds the rules that need the TypeScript program (about four times the CPU).
// CI runs both. Formatting belongs to Prettier (.prettierrc.json), so no stylistic rules here.
import js from '@eslint/js';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';

const typeAware = process.env.NETSCAN_LINT_TYPES === '1';

/** The few Node globals the plain-JS scripts use; TypeScript files get theirs from @types/node. */
const nodeGlobals = Object.fromEntries(
  ['process', 'console', 'URL', 'URLSearchParams', 'Buffer', 'setTimeout', 'clearTimeout'].map((g) => [g, 'readonly']),
);

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'deploy/grafana/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose: an interface method's argument the
      // implementation does not need (file transport, benchmark sinks), or a value computed only to defeat dead-code
      // elimination in a benchmark.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
      // Type-only imports are spelled `import type` so the emitted JS never loads a module for a type.
      // `typeof import('x')` stays allowed: it names the type of a module that is loaded lazily (raw-socket).
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      // Data types are interfaces (they merge and read better in errors); unions and mapped types stay `type`.
      '@typescript-eslint/consistent-type-definitions': ['error', 'interface'],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': 'error',
      'object-shorthand': 'error',
      // Not enabled, on purpose:
      // - @typescript-eslint/no-non-null-assertion: with noUncheckedIndexedAccess the code asserts `!` where an
      //   index is in range by construction (heap slots, ring buffers, parsed octets); about 400 such sites.
      // - @typescript-eslint/array-type: `T[]` and `Array<T>` are both in use and Prettier does not care.
    },
  },
  {
    // Only cmd/ owns stdout and stderr; everything below it logs through the injected pino logger.
    files: ['src/**/*.ts', 'internal/**/*.ts'],
    ignores: ['**/testdata/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // Tests match ANSI colour escapes and line-protocol control bytes on purpose.
    files: ['**/*.test.ts'],
    rules: { 'no-control-regex': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: nodeGlobals },
  },
  ...(typeAware
    ? [
        {
          files: ['**/*.ts'],
          languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url)) },
          },
          rules: {
            // Every fire-and-forget ends in `.catch` that says where the error went. node:test's test()/describe()
            // return promises the runner itself awaits, so those calls are safe to leave unawaited.
            '@typescript-eslint/no-floating-promises': [
              'error',
              {
                allowForKnownSafeCalls: [
                  {
                    from: 'package',
                    package: 'node:test',
                    name: ['test', 'describe', 'it', 'suite', 'before', 'after'],
                  },
                ],
              },
            ],
            '@typescript-eslint/no-misused-promises': 'error',
            '@typescript-eslint/await-thenable': 'error',
          },
        },
      ]
    : []),
);
