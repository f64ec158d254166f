#!/usr/bin/env node
// `npm run bench -- <name> [--json]`: benchmarks from test/bench, compiled by `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../build/test/bench/run.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('bench: the project is not built yet; run `npm run build`\n');
  process.exit(1);
}
const { runBenchmarks } = await import(entry.href);
process.exitCode = await runBenchmarks(process.argv.slice(2));
