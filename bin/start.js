#!/usr/bin/env node
// `npm start`: the desktop app where Electron's binary is installed, else the
// same UI in the browser (the browser shell), whose URL is printed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

function electronBinary() {
  try {
    // The electron package exports the path of its binary, and throws if the download never happened.
    const path = require('electron');
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

const electron = electronBinary();
if (electron !== null) {
  const child = spawn(electron, [root], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  process.stderr.write(
    'Electron is not installed here (its binary is downloaded at install time where the network allows);\n' +
      'starting the same UI in your browser instead (if none opens, open the address below).\n',
  );
  const entry = new URL('../build/main/cli.js', import.meta.url);
  const { main } = await import(entry.href);
  process.exitCode = await main(['serve', '--open', ...process.argv.slice(2)]);
}
