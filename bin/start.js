#!/usr/bin/env node
// `npm start`: the desktop app where Electron's binary is installed, else the
// same UI in the browser (the browser shell), whose URL is printed. Either
// way better-sqlite3 is first rebuilt for the runtime that will load it
// (see main/app/native-modules.ts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const { startPlan, abiOfLoadError } = await import(new URL('../build/main/app/native-modules.js', import.meta.url).href);

function electronBinary() {
  try {
    // The electron package exports the path of its binary, and throws if the download never happened.
    const path = require('electron');
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

/** Electron's NODE_MODULE_VERSION, asked of Electron itself run as Node. */
function electronAbi(binary) {
  const r = spawnSync(binary, ['-p', 'process.versions.modules'], { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, encoding: 'utf8', timeout: 60_000 });
  const abi = (r.stdout ?? '').trim();
  return r.status === 0 && /^\d+$/.test(abi) ? abi : null;
}

/** The ABI better-sqlite3 was compiled for: this Node's if it loads, else what its error names. */
function builtAbi() {
  try {
    const Database = require('better-sqlite3');
    new Database(':memory:').close();
    return process.versions.modules;
  } catch (e) {
    return abiOfLoadError(String(e?.message ?? e));
  }
}

function rebuild(step) {
  process.stderr.write(`${step.why}: rebuilding it (${step.command} ${step.args.join(' ')})…\n`);
  const r = spawnSync(step.command, step.args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  return r.status === 0;
}

async function browserShell(why) {
  process.stderr.write(`${why};\nstarting the same UI in your browser instead (if none opens, open the address below).\n`);
  const { main } = await import(new URL('../build/main/cli.js', import.meta.url).href);
  process.exitCode = await main(['serve', '--open', ...process.argv.slice(2)]);
}

const binary = electronBinary();
const plan = startPlan({
  electronBinary: binary,
  electronAbi: binary === null ? null : electronAbi(binary),
  nodeAbi: process.versions.modules,
  builtAbi: builtAbi(),
});
if (plan.shell === 'electron') {
  if (plan.rebuild !== null && !rebuild(plan.rebuild)) {
    await browserShell('better-sqlite3 could not be rebuilt for Electron (building needs Electron headers, usually downloaded)');
  } else {
    const child = spawn(binary, [root], { stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 0));
  }
} else {
  if (plan.rebuild !== null) rebuild(plan.rebuild);
  await browserShell(plan.why);
}
