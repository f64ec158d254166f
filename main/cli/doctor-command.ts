import { BACKEND_TITLES } from '../../shared/backend.js';
import type { SystemReport } from '../../shared/system.js';
import { datasetCacheDir } from '../app-paths.js';
import { forkLauncher } from '../jobs/host/launcher.js';
import { packageVersion } from '../package-root.js';
import { systemReport } from '../system/doctor.js';
import { parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { dbFile } from './store-args.js';

const DOCTOR_USAGE = `adjoin doctor [--json] [--db FILE]
  What this machine can train on: each backend (CUDA, WebGPU, native CPU, WebAssembly) with why it can or cannot run,
  the GPU adapters found, native modules against this runtime, free space, the history's integrity check.
  Exits 1 when the backend ADJOIN_BACKEND asks for cannot run.`;

function gigabytes(n: number | null): string {
  return n === null ? 'free space unknown' : `${(n / 1e9).toFixed(1)} GB free`;
}

/** The report for people: one line per finding, the backend a run would use marked. */
export function renderReport(r: SystemReport): string {
  const lines: string[] = [];
  lines.push(`Adjoin ${r.adjoin} on Node ${r.node} (ABI ${r.abi})${r.electron === null ? '' : `, Electron ${r.electron}`}, ${r.platform} ${r.arch}`);
  const asked = r.requested.value === null ? 'ADJOIN_BACKEND is not set: the fastest backend that can run is used' : `ADJOIN_BACKEND=${r.requested.value}`;
  lines.push(asked);
  if (r.requested.problem !== null) lines.push(`  PROBLEM: ${r.requested.problem}`);
  lines.push(r.chosen === null ? 'a run started now could not train' : `a run started now would train on: ${BACKEND_TITLES[r.chosen]}`);
  lines.push('', 'backends, fastest first');
  const width = Math.max(...r.backends.map((b) => BACKEND_TITLES[b.kind].length));
  for (const b of r.backends) {
    const mark = b.kind === r.chosen ? '→' : b.available ? '✓' : '✗';
    lines.push(`  ${mark} ${BACKEND_TITLES[b.kind].padEnd(width)}  ${b.detail}`);
  }
  lines.push('', 'GPU adapters (WebGPU)');
  if (r.adapters.length === 0) lines.push('  none found');
  for (const a of r.adapters) {
    lines.push(`  ${a.name}${a.software ? ' — software, computes on the CPU' : ''} (asked for as ${a.requestedAs.join(', ')})`);
  }
  if (r.vulkanDrivers !== null) lines.push(`  Vulkan drivers: ${r.vulkanDrivers.length === 0 ? 'none' : r.vulkanDrivers.join(', ')}`);
  lines.push('', `native modules (this runtime: ABI ${r.abi})`);
  for (const m of r.nativeModules) lines.push(`  ${m.status === 'ok' ? '✓' : m.status === 'missing' ? '-' : '✗'} ${m.name}: ${m.detail}`);
  lines.push('', 'folders');
  for (const f of r.folders) {
    lines.push(`  ${f.what.padEnd(5)}  ${f.path}${f.exists ? '' : ' (not created yet)'}: ${f.error ?? gigabytes(f.freeBytes)}`);
  }
  const h = r.history;
  const state = !h.exists
    ? 'no history yet'
    : h.error !== null
      ? `could not be checked: ${h.error}`
      : h.integrity!.length === 1 && h.integrity![0] === 'ok'
        ? 'integrity check ok'
        : `DAMAGED: ${h.integrity!.slice(0, 5).join('; ')} (see adjoin db check)`;
  lines.push('', `history  ${h.path}: ${state}`);
  return lines.join('\n');
}

export async function doctorCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' }, db: { type: 'string' } });
  const report = await systemReport({
    launcher: forkLauncher,
    env: process.env,
    database: dbFile(values.db),
    cacheDir: datasetCacheDir(),
    version: packageVersion(),
  });
  io.out(values.json === true ? JSON.stringify(report) : renderReport(report));
  return report.ok ? 0 : 1;
}

export const doctorCmd: Command = { name: 'doctor', usage: DOCTOR_USAGE, run: doctorCommand };
