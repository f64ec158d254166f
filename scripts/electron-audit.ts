import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The Electron security gate (`npm run audit:electron`, run by CI): scans the
 * main side and the renderer's page with Electronegativity and fails on any
 * finding of medium severity or worse, at firm confidence or better, unless it
 * is allowed below with the reason it does not apply.
 */

const ALLOWED: ReadonlyArray<{ issue: string; file: string; why: string }> = [
  {
    issue: 'PRELOAD_JS_CHECK',
    file: 'main/app/window.ts',
    why:
      'the one preload (main/app/preload.cts) runs sandboxed with context isolation and exposes only call/on/pathForFile ' +
      'through contextBridge; every call is checked against the API contract on the main side (main/api/dispatch.ts)',
  },
];

const SEVERITY = ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH'];
const CONFIDENCE = ['TENTATIVE', 'FIRM', 'CERTAIN'];

interface Finding {
  issue: string;
  severity: string;
  confidence: string;
  file: string;
  location: string;
  description: string;
}

/** Electronegativity's CSV: a header, then one finding per line with quoted fields. */
function parseCsv(text: string): Finding[] {
  const rows = text
    .trim()
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '');
  return rows.map((line) => {
    const cells: string[] = [];
    let cell = '';
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (ch === ',' && !quoted) {
        cells.push(cell.trim());
        cell = '';
      } else cell += ch;
    }
    cells.push(cell.trim());
    const [issue = '', severity = '', confidence = '', file = '', location = '', , description = ''] = cells;
    return { issue, severity, confidence, file, location, description };
  });
}

function electronVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
  const version = pkg.optionalDependencies?.['electron'];
  if (version === undefined) throw new Error('package.json names no Electron version');
  return version.replace(/^[^\d]*/, '');
}

function main(): number {
  const root = resolve(process.argv[2] ?? '.');
  // One folder holding what ships: the main side's sources and the page the window loads (its CSP is in a meta tag).
  const stage = mkdtempSync(join(tmpdir(), 'adjoin-audit-'));
  try {
    cpSync(join(root, 'main'), join(stage, 'main'), { recursive: true });
    cpSync(join(root, 'renderer', 'index.html'), join(stage, 'renderer', 'index.html'));
    const out = join(stage, 'findings.csv');
    const bin = createRequire(import.meta.url).resolve('@doyensec/electronegativity/dist/index.js');
    const run = spawnSync(process.execPath, [bin, '-i', stage, '-e', electronVersion(root), '-o', out, '-r', '-v', 'false'], { encoding: 'utf8' });
    if (run.status !== 0) {
      process.stderr.write(`electronegativity failed (exit ${run.status}):\n${run.stderr}`);
      return 1;
    }
    const findings = parseCsv(readFileSync(out, 'utf8'));
    const serious = findings.filter((f) => SEVERITY.indexOf(f.severity) >= 2 && CONFIDENCE.indexOf(f.confidence) >= 1);
    const blocking = serious.filter((f) => !ALLOWED.some((a) => a.issue === f.issue && a.file === f.file));
    for (const f of serious) {
      const allowed = ALLOWED.find((a) => a.issue === f.issue && a.file === f.file);
      process.stdout.write(
        `${allowed === undefined ? 'FAIL' : 'allowed'}  ${f.issue} ${f.severity}/${f.confidence} ${f.file}:${f.location}${allowed ? ` — ${allowed.why}` : ` — ${f.description}`}\n`,
      );
    }
    process.stdout.write(`electron audit: ${findings.length} findings, ${serious.length} medium or worse, ${blocking.length} not allowed\n`);
    return blocking.length === 0 ? 0 : 1;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

process.exitCode = main();
