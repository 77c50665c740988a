// Lint: typescript-eslint's recommended rules, no import cycles, and one owner per table: only
// repositories (*.repository.ts), migrations and database/ may reach the database.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const DATABASE_ACCESS = {
  paths: [
    {
      name: 'typeorm',
      importNames: ['DataSource', 'Repository', 'EntityManager', 'QueryRunner', 'SelectQueryBuilder'],
      message: 'Reach the database through the owning module’s repository (docs/architecture.md, "Where things go").',
    },
    {
      name: '@nestjs/typeorm',
      importNames: ['InjectDataSource', 'InjectRepository', 'InjectEntityManager'],
      message: 'Inject the owning module’s repository instead (docs/architecture.md, "Where things go").',
    },
    { name: 'pg', message: 'Only database/ talks to the pg driver.' },
  ],
  patterns: [
    {
      group: ['**/database/transaction'],
      importNames: ['managerOf', 'txOf'],
      message: 'A Tx is opaque outside repositories: hand it to the owning repository.',
    },
  ],
};

export default tseslint.config(
  // test/web/test-results: Playwright's traces (scripts with page code), written while the checks run beside the web suite.
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'coverage/**',
      'infra/**',
      'libs/sdk/src/schema.d.ts',
      'test/web/test-results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })] },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // CommonJS config and jest plumbing.
    files: ['**/*.js'],
    languageOptions: { globals: globals.node, sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests and benches may use loose shapes for the foreign documents they inspect.
    files: ['test/**/*.ts', 'bench/**/*.ts', '**/*.spec.ts', '**/*.int-spec.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
      'no-useless-assignment': 'off',
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.repository.ts', '**/database/**', '**/migrations/**'],
    rules: { 'no-restricted-imports': ['error', DATABASE_ACCESS] },
  },
  {
    // The in-memory hypervisor is for specs: production code always talks to a real adapter.
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', 'libs/libvirt/src/testing/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@limen/libvirt/testing', '@limen/libvirt/testing/*', '**/testing', '**/testing/*'],
              message: 'Test doubles (FakeVirtualizationPort) are for *.spec.ts files only.',
            },
          ],
        },
      ],
    },
  },
  {
    // Small pieces: no function over 60 lines (blank lines and comments aside), no file over 400
    // lines except the two hypervisor adapters. Specs and migrations are exempt.
    files: ['apps/*/src/**/*.ts', 'libs/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/migrations/**'],
    rules: {
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 400 }],
    },
  },
  {
    files: [
      'libs/libvirt/src/adapters/libvirt/libvirt-adapter.ts',
      'libs/libvirt/src/adapters/qemu-direct/qemu-direct-adapter.ts',
    ],
    rules: { 'max-lines': 'off' },
  },
  prettier,
);
