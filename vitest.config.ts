import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    // tfjs keeps one global engine per process: forks isolate test files fully.
    pool: 'forks',
    setupFiles: ['test/setup-env.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
