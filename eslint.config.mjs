// Lint rules, and the folder rules of docs/architecture.md as import restrictions.
import js from '@eslint/js';
import grafanaConfig from '@grafana/eslint-config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Imports a folder may not make: `patterns` of paths relative to the importing file. */
const restrict = (files, groups, message) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns: [{ group: groups, message }] }] },
});
const OUTSIDE_CORE = ['**/processor/**', '**/audit/**', '**/sim/**', '**/cli/**', '**/grafana-plugin/**', '**/bench/**', '**/test/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/vectors/**', 'test/harness/fixtures/grafana/host.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Hot paths write `let a = 0, b = 0` and assign in conditions on purpose; TypeScript checks the rest.
      'no-cond-assign': ['error', 'except-parens'],
      'no-control-regex': 'off',
    },
  },
  {
    // Tests reach into untyped browser globals and Grafana props.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  { files: ['test/harness/fixtures/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
  // The Grafana plugins follow Grafana's own lint config.
  ...grafanaConfig.map((c) => ({ ...c, files: ['grafana-plugin/**/*.{ts,tsx}'] })),
  {
    files: ['grafana-plugin/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'react/prop-types': 'off',
      'no-restricted-imports': [
        'error',
        {
          paths: ['moment'],
          patterns: [
            {
              group: ['**/core/node/**', '**/core/lineprotocol/**'],
              message: 'core/node and core/lineprotocol use Node APIs: not in the browser.',
            },
            { group: ['**/processor/**', '**/audit/**', '**/sim/**', '**/cli/**'], message: 'The plugins share only core/.' },
          ],
        },
      ],
    },
  },
  restrict(['core/**'], OUTSIDE_CORE, 'core/ is the bottom layer: it imports only core/.'),
  restrict(
    ['processor/**', 'audit/**', 'sim/**'],
    ['**/cli/**', '**/grafana-plugin/**', '**/bench/**', '**/test/**', '../audit/**', '../sim/**', '../processor/**'],
    'Import shared rules from core/ (docs/architecture.md).',
  ),
  restrict(
    ['cli/**'],
    ['**/processor/**', '**/grafana-plugin/**', '**/bench/**', '**/test/**'],
    'cli/ uses core/, audit/ and sim/, never processor/ internals.',
  ),
  prettier,
);
