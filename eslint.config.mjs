import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'coverage/', 'docs/', 'dist/'] },
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
    // A module that imports, through others, itself has no order in which it can be read: a cycle
    // is a layer or a concept with two homes. Type-only imports count too (they are a design arrow).
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  // Who may import whom. One `no-restricted-imports` per room (a later config's rule replaces an
  // earlier one for the same files, so each room's list is complete): the layers point one way
  // (domain ← lucca, db ← activities, operations ← workers, console, scripts), and the rooms hold
  // one kind of thing each: product code never reaches into dev-tools/, test/ or the operator CLI,
  // and only dev-tools/ and test/ start a worker in-process.
  ...rooms().map(({ files, ignores, rule, paths, patterns }) => ({
    files,
    ...(ignores ? { ignores } : {}),
    rules: { [rule]: ['error', { ...(paths.length ? { paths } : {}), patterns }] },
  })),
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);

/**
 * The import rules of every room, as flat-config entries. `forbidden` names other rooms (any file
 * in them); `types` rooms may be imported with `import type` only.
 */
function rooms() {
  const dirs = (names) => names.map((dir) => `**/${dir}/*`);
  const productRoom = [
    { group: dirs(['dev-tools']), message: 'dev-tools/ is for development and tests; product code never imports it.' },
    { group: dirs(['test']), message: 'Tests import product code, never the other way round.' },
    { group: dirs(['scripts']), message: 'scripts/ holds the operator CLI: nothing imports it.' },
  ];
  const notWorkers = {
    group: dirs(['workers']),
    message: 'workers/ is the composition root: only it builds a worker.',
  };
  const deterministic = [
    ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
  ];
  const layer = (names, message, packages = []) => ({ group: [...dirs(names), ...packages], message });
  const storage = layer(
    ['lucca', 'activities', 'workflows', 'temporal', 'operations', 'console', 'workers'],
    'db/ is storage: repositories know domain types and MongoDB only.',
    ['@temporalio/*'],
  );
  return [
    {
      // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no side-effect
      // modules, no client (the names it shares with clients live in temporal/ids and search-attributes).
      files: ['workflows/**/*.ts'],
      rule: 'no-restricted-imports',
      paths: deterministic,
      patterns: [
        ...productRoom,
        notWorkers,
        layer(['db', 'lucca', 'config', 'operations', 'console'], 'Workflows call activities; they never do I/O.', [
          'mongodb',
          'pino',
        ]),
        {
          group: ['**/temporal/client', '@temporalio/client'],
          message:
            'Workflows never import the Temporal client: ids and search attributes are in temporal/ids, temporal/search-attributes.',
        },
        {
          group: ['**/activities', '**/activities/*'],
          allowTypeImports: true,
          message: 'Import activities with `import type` only.',
        },
      ],
    },
    {
      // Shared with workflow code, so as deterministic as it.
      files: ['temporal/ids.ts', 'temporal/search-attributes.ts'],
      rule: 'no-restricted-imports',
      paths: deterministic,
      patterns: [
        ...productRoom,
        layer(
          ['db', 'lucca', 'config', 'activities', 'workflows', 'operations', 'console', 'workers', 'temporal'],
          'temporal/ids and search-attributes are pure names that workflows import: nothing with side effects.',
          ['mongodb', 'pino', '@temporalio/client', '@temporalio/worker', './client'],
        ),
      ],
    },
    {
      files: ['temporal/client.ts'],
      patterns: [
        ...productRoom,
        notWorkers,
        layer(
          ['db', 'lucca', 'config', 'activities', 'operations', 'console'],
          'temporal/client only speaks to Temporal.',
        ),
      ],
    },
    {
      files: ['domain/**/*.ts'],
      patterns: [
        ...productRoom,
        layer(
          ['db', 'lucca', 'activities', 'workflows', 'temporal', 'operations', 'console', 'workers', 'config'],
          'domain/ holds pure rules: no I/O, no other layer.',
          ['mongodb', '@temporalio/*', 'fastify'],
        ),
      ],
    },
    {
      files: ['lucca/**/*.ts'],
      patterns: [
        ...productRoom,
        layer(
          ['db', 'activities', 'workflows', 'temporal', 'operations', 'console', 'workers'],
          'lucca/ is the Lucca client: it knows domain types and nothing of storage or Temporal.',
          ['mongodb', '@temporalio/*'],
        ),
      ],
    },
    {
      files: ['db/**/*.ts'],
      patterns: [...productRoom, storage],
    },
    {
      // A run's working data uses the profiles repository (a journaled rewrite is completed
      // through it), never the other way round.
      files: ['db/profiles-repository.ts'],
      patterns: [
        ...productRoom,
        storage,
        { group: ['**/run-working-data'], message: "The profiles repository knows nothing of a run's working data." },
      ],
    },
    {
      files: ['config/**/*.ts'],
      patterns: [
        ...productRoom,
        notWorkers,
        layer(['activities', 'workflows', 'operations', 'console'], 'config/ reads settings; the layers read config/.'),
      ],
    },
    {
      files: ['activities/**/*.ts'],
      patterns: [
        ...productRoom,
        notWorkers,
        layer(['console', 'operations'], 'Activities are used by the entry points, never the other way round.'),
      ],
    },
    {
      files: ['operations/**/*.ts'],
      patterns: [
        ...productRoom,
        notWorkers,
        layer(['console'], 'Operations are used by the entry points, never the other way round.'),
        {
          group: ['**/activities', '**/activities/*'],
          message: 'Operations never import activities: what both need lives in db/ or domain/.',
        },
      ],
    },
    {
      // The console is a client of operations/: it reads documents' types from db/, never the
      // database itself, and never calls Lucca (the connection check is an operation).
      files: ['console/**/*.ts'],
      patterns: [
        ...productRoom,
        notWorkers,
        {
          group: dirs(['db']),
          allowTypeImports: true,
          message: 'The console goes through operations/ (and repositories it is given); db/ for types only.',
        },
        { group: dirs(['lucca']), message: 'The console reaches Lucca through operations/.' },
        { group: dirs(['activities', 'workflows']), message: 'The console goes through operations/.' },
      ],
    },
    {
      files: ['scripts/**/*.ts'],
      patterns: [
        productRoom[0],
        productRoom[1],
        notWorkers,
        {
          group: dirs(['activities', 'workflows']),
          allowTypeImports: true,
          message: 'The CLI goes through operations/.',
        },
      ],
    },
    {
      files: ['workers/**/*.ts'],
      patterns: [...productRoom, layer(['console'], 'The worker and the console are separate entry points.')],
    },
    {
      // Tests import the tools; the tools never import tests. The demo prints what the CLI prints
      // from operations/ (terminal-format, terminal-progress), not from the CLI.
      files: ['dev-tools/**/*.ts'],
      patterns: [{ group: dirs(['test']), message: 'Shared test tooling belongs in dev-tools/.' }, productRoom[2]],
    },
  ].map(({ rule = '@typescript-eslint/no-restricted-imports', paths = [], ...room }) => ({ rule, paths, ...room }));
}
