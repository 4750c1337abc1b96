import { builtinModules } from 'node:module';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'coverage/', 'docs/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/test return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['describe', 'test', 'it', 'suite'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no side-effect modules.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code must be deterministic: no Node built-ins.',
          })),
          patterns: [
            {
              group: ['**/db/*', '**/lucca/*', '**/config/*', 'mongodb', 'pino'],
              message: 'Workflows call activities; they never do I/O.',
            },
            {
              group: ['**/activities', '**/activities/*'],
              allowTypeImports: true,
              message: 'Import activities with `import type` only.',
            },
          ],
        },
      ],
    },
  },
  {
    // The console is a client of operations/: it reads documents' types from db/, never the
    // database itself, and never calls Lucca (the connection check is an operation).
    files: ['console/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/db/*'],
              allowTypeImports: true,
              message: 'The console goes through operations/ (and repositories it is given); db/ for types only.',
            },
            { group: ['**/lucca/*'], message: 'The console reaches Lucca through operations/.' },
          ],
        },
      ],
    },
  },
  // The layers point one way: domain ← lucca, db ← activities, operations ← workers, console, scripts.
  ...[
    {
      files: ['domain/**/*.ts'],
      forbidden: ['db', 'lucca', 'activities', 'workflows', 'operations', 'console', 'workers', 'config'],
      message: 'domain/ holds pure rules: no I/O, no other layer.',
      packages: ['mongodb', '@temporalio/*', 'fastify'],
    },
    {
      files: ['lucca/**/*.ts'],
      forbidden: ['db', 'activities', 'workflows', 'operations', 'console', 'workers'],
      message: 'lucca/ is the Lucca client: it knows domain types and nothing of storage or Temporal.',
      packages: ['mongodb', '@temporalio/*'],
    },
    {
      files: ['db/**/*.ts'],
      forbidden: ['lucca', 'activities', 'workflows', 'operations', 'console', 'workers'],
      message: 'db/ is storage: repositories know domain types and MongoDB only.',
      packages: ['@temporalio/*'],
    },
    {
      files: ['activities/**/*.ts', 'operations/**/*.ts'],
      forbidden: ['console', 'workers', 'scripts', 'dev-tools'],
      message: 'Activities and operations are used by the entry points, never the other way round.',
      packages: [],
    },
  ].map(({ files, forbidden, message, packages }) => ({
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: [...forbidden.map((dir) => `**/${dir}/*`), ...packages], message }] },
      ],
    },
  })),
  {
    // Tests import the tools; the tools (and the scripts that run them) never import tests.
    files: ['scripts/**/*.ts', 'dev-tools/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/test/**'], message: 'Shared test tooling belongs in dev-tools/.' }] },
      ],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
