#!/usr/bin/env node
// The `adjoin` command: runs the compiled CLI (npm install builds it).
import { existsSync } from 'node:fs';

const entry = new URL('../build/main/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('adjoin: the project is not built yet; run `npm run build` (npm install does it)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
