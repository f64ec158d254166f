import svelte from 'eslint-plugin-svelte';
import tseslint from 'typescript-eslint';
import svelteConfig from './renderer/svelte.config.js';

/**
 * Where code may run is visible in its path; these rules keep it so
 * (docs/ARCHITECTURE.md, "Processes and layers"). Arrows point one way:
 * renderer → shared ← main; app/server/cli → api → jobs/host → store;
 * jobs/worker → engine, export; engine → shared; jobs/host and
 * jobs/queue-worker → jobs/queue (the run queue's layout and messages).
 */
const nodeModules = ['node:*', 'fs', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'zlib', 'util', 'url', 'http', 'net'];
const modelLibraries = ['@tensorflow/*', 'onnxruntime-node', '@litertjs/*', 'webgpu'];
/** sharp decodes untrusted images: jobs do that, in their own processes (a front end may only render its own plots with it). */
const engineLibraries = [...modelLibraries, 'sharp'];
/** The run queue's clients: only main/jobs/queue, main/jobs/queue-worker and the host's queue code speak to Redis. */
const queueLibraries = ['bullmq', 'ioredis'];

/** A restricted-imports rule for the files of one layer. */
function layer(files, patterns) {
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

const rendererOnlyApi = [
  { group: nodeModules, message: 'the renderer only talks to the API' },
  { group: ['electron', 'better-sqlite3', ...engineLibraries, ...queueLibraries, '**/main/*', '**/main/**'], message: 'the renderer only talks to the API' },
];

export default tseslint.config(
  { ignores: ['build/**', 'dist/**', 'node_modules/**', 'renderer/dist/**', 'test-artifacts/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  ...svelte.configs['flat/recommended'],
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'], svelteConfig } },
    // A Set or Map built and dropped inside one function is not state; the rule cannot tell.
    rules: { 'svelte/prefer-svelte-reactivity': 'off' },
  },
  {
    files: ['**/*.ts', '**/*.cts', '**/*.svelte'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': [
        'error',
        {
          // better-sqlite3 runs a transaction function synchronously; an async one commits before it has run.
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
            { group: ['electron', 'better-sqlite3', 'ws', 'bullmq', 'ioredis', ...engineLibraries], message: 'shared/ imports no runtime libraries' },
            { group: ['../main/*', '../../main/*', '../renderer/*', '../../renderer/*'], message: 'shared/ imports only shared/' },
          ],
        },
      ],
      'no-restricted-globals': ['error', 'window', 'document', 'process', 'Buffer', 'require'],
    },
  },
  layer(
    ['main/engine/**/*.ts'],
    [
      { group: ['electron', 'better-sqlite3', ...queueLibraries], message: 'the engine never imports Electron, SQLite or the queue' },
      {
        group: ['**/store/*', '**/app/*', '**/server/*', '**/jobs/*', '**/jobs/**', '**/cli/*', '**/api/*', '**/export/*'],
        message: 'arrows point one way: the engine imports only shared/',
      },
    ],
  ),
  layer(
    ['main/export/**/*.ts'],
    [
      { group: ['electron', 'better-sqlite3', ...queueLibraries], message: 'exporters write files; the host records them in the history' },
      {
        group: ['**/store/*', '**/jobs/*', '**/jobs/**', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'arrows point one way: jobs/worker → export → engine',
      },
    ],
  ),
  layer(
    ['main/store/**/*.ts'],
    [
      { group: ['electron', ...engineLibraries, ...queueLibraries], message: 'the store keeps the history; it runs no models and speaks to no queue' },
      {
        group: ['**/engine/*', '**/engine/**', '**/jobs/*', '**/jobs/**', '**/export/*', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'arrows point one way: jobs/host → store, never back',
      },
    ],
  ),
  layer(
    ['main/jobs/worker/**/*.ts'],
    [
      { group: ['electron', 'better-sqlite3', ...queueLibraries], message: 'a job process never opens the history: it reports to the host, the one writer' },
      {
        group: ['**/store/*', '**/host/*', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'a job process imports the engine, the exporters and shared/ only',
      },
    ],
  ),
  layer(
    ['main/jobs/host/**/*.ts'],
    [
      { group: engineLibraries, message: 'the host runs no models: jobs do, in their own processes' },
      {
        group: ['**/engine/*', '**/engine/**', '**/export/*', '**/worker/*', '**/queue-worker/*', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'the host talks to jobs through the job protocol only',
      },
    ],
  ),
  layer(
    ['main/jobs/queue/**/*.ts'],
    [
      {
        group: ['electron', 'better-sqlite3', ...engineLibraries],
        message: "the queue's layout and messages are shared by submitters and workers: no history, no models",
      },
      {
        group: [
          '**/engine/*',
          '**/engine/**',
          '**/export/*',
          '**/store/*',
          '**/host/*',
          '**/host/**',
          '**/worker/*',
          '**/queue-worker/*',
          '**/cli/*',
          '**/app/*',
          '**/server/*',
          '**/api/*',
        ],
        message: 'main/jobs/queue imports the job protocol and shared/ only',
      },
    ],
  ),
  layer(
    ['main/jobs/queue-worker/**/*.ts'],
    [
      {
        group: ['electron', 'better-sqlite3', ...engineLibraries],
        message: 'a queue worker is a host without a history: it runs models only in job processes',
      },
      {
        group: ['**/engine/*', '**/engine/**', '**/export/*', '**/store/*', '**/jobs/worker/*', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'a queue worker starts job processes through jobs/host and speaks to the queue through jobs/queue',
      },
    ],
  ),
  layer(
    ['main/jobs/*.ts'],
    [
      { group: ['electron', 'better-sqlite3', ...engineLibraries, ...queueLibraries], message: 'the job protocol is types both sides share' },
      {
        group: ['**/engine/*', '**/engine/**', '**/export/*', '**/store/*', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'the job protocol imports shared/ only',
      },
    ],
  ),
  layer(
    ['main/cli/**/*.ts', 'main/api/**/*.ts', 'main/server/**/*.ts'],
    [
      { group: ['electron', ...modelLibraries, ...queueLibraries], message: 'front ends run no models and speak to queues through jobs/host and jobs/queue' },
      { group: ['**/engine/*', '**/engine/**', '**/export/*', '**/jobs/worker/*'], message: 'front ends reach the engine only through jobs/host' },
    ],
  ),
  layer(
    ['main/app/**/*.ts', 'main/app/**/*.cts'],
    [
      { group: [...engineLibraries, ...queueLibraries], message: 'the desktop app runs no models: jobs do, in utility processes' },
      {
        group: ['**/engine/*', '**/engine/**', '**/export/*', '**/jobs/worker/*', '**/store/*'],
        message: 'the app reaches the history and the engine through api/ and jobs/host',
      },
    ],
  ),
  layer(
    ['main/system/*.ts'],
    [
      { group: modelLibraries, message: 'the system report is gathered by a probe process; the host only starts it' },
      {
        group: ['**/engine/*', '**/engine/**', '**/export/*', '**/jobs/worker/*', '**/probe/*'],
        message: 'the host reaches the probe through its protocol only',
      },
    ],
  ),
  layer(
    ['main/system/probe/**/*.ts'],
    [
      { group: ['electron'], message: 'the probe runs in a process of its own' },
      {
        group: ['**/store/*', '**/jobs/*', '**/jobs/**', '**/cli/*', '**/app/*', '**/server/*', '**/api/*'],
        message: 'the probe reports to the host in messages',
      },
    ],
  ),
  layer(['renderer/**/*.ts', 'renderer/**/*.svelte'], rendererOnlyApi),
);
