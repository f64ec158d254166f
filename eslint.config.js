import tseslint from 'typescript-eslint';

/** Where code may run is visible in its path; these rules keep it so (STYLE.md, "Layers you can see"). */
const nodeModules = ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'zlib', 'util', 'url', 'http', 'net'];

export default tseslint.config(
  { ignores: ['build/**', 'dist/**', 'node_modules/**', 'renderer/dist/**', 'test-artifacts/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.cts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': [
        'error',
        {
          // better-sqlite3 transactions must be synchronous (RELIABILITY.md row 13).
          selector: "CallExpression[callee.property.name='transaction'] > :function[async=true]",
          message: 'better-sqlite3 transaction functions must not be async',
        },
      ],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeModules, message: 'shared/ runs anywhere: no Node modules' },
            { group: ['electron', '@tensorflow/*', 'better-sqlite3', 'sharp', 'onnxruntime-node', 'ws'], message: 'shared/ imports no runtime libraries' },
            { group: ['../main/*', '../../main/*', '../renderer/*', '../../renderer/*'], message: 'shared/ imports only shared/' },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'window', 'document', 'process', 'Buffer', 'require'],
    },
  },
  {
    files: ['main/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', 'better-sqlite3'], message: 'the engine never imports Electron or SQLite' },
            { group: ['**/store/*', '**/app/*', '**/server/*', '**/jobs/*', '**/cli/*'], message: 'arrows point one way: the engine imports only shared/' },
          ],
        },
      ],
    },
  },
  {
    files: ['main/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', '@tensorflow/*', 'onnxruntime-node'], message: 'the store keeps the history; it runs no models' },
            {
              group: ['**/engine/*', '**/jobs/*', '**/export/*', '**/cli/*', '**/app/*', '**/server/*'],
              message: 'arrows point one way: jobs → store, never back',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['main/export/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['electron', 'better-sqlite3'], message: 'exporters write files; jobs records them in the store' },
            { group: ['**/store/*', '**/jobs/*', '**/cli/*', '**/app/*', '**/server/*'], message: 'arrows point one way: jobs → export → engine' },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: nodeModules, message: 'the renderer only talks to the API' },
            { group: ['electron', '@tensorflow/*', 'better-sqlite3', '**/main/*'], message: 'the renderer only talks to the API' },
          ],
        },
      ],
    },
  },
);
