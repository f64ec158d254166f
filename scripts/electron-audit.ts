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
/** An issue as Electronegativity's runner returns it. */
interface RawIssue {
  id: string;
  file: string;
  location?: { line?: number; column?: number };
  description: string;
  severity: { name: string };
  confidence: { name: string };
}

type Runner = (options: Record<string, unknown>, forCli: boolean) => Promise<{ issues: RawIssue[]; errors: unknown[] }>;

/**
 * Runs Electronegativity's own runner in this process and takes its issues
 * as values: its CLI writes the CSV header and the rows with two unordered
 * asynchronous writes, and under load the header can land on the first row.
 */
async function findings(stage: string, electron: string): Promise<Finding[]> {
  const run = createRequire(import.meta.url)('@doyensec/electronegativity/dist/runner.js') as Runner;
  const result = await run(
    { input: stage, isRelative: true, isVerbose: false, customScan: [], excludeFromScan: [], electronVersionOverride: electron, parserPlugins: [] },
    false,
  );
  return result.issues.map((i) => ({
    issue: i.id,
    severity: i.severity.name,
    confidence: i.confidence.name,
    file: i.file,
    location: `${i.location?.line ?? 0}:${i.location?.column ?? 0}`,
    description: i.description,
  }));
}

function electronVersion(root: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };
  const version = pkg.optionalDependencies?.['electron'];
  if (version === undefined) throw new Error('package.json names no Electron version');
  return version.replace(/^[^\d]*/, '');
}

async function main(): Promise<number> {
  const root = resolve(process.argv[2] ?? '.');
  // One folder holding what ships: the main side's sources and the page the window loads (its CSP is in a meta tag).
  const stage = mkdtempSync(join(tmpdir(), 'adjoin-audit-'));
  try {
    cpSync(join(root, 'main'), join(stage, 'main'), { recursive: true });
    cpSync(join(root, 'renderer', 'index.html'), join(stage, 'renderer', 'index.html'));
    let all: Finding[];
    try {
      all = await findings(stage, electronVersion(root));
    } catch (e) {
      process.stderr.write(`electronegativity failed: ${(e as Error).stack ?? String(e)}\n`);
      return 1;
    }
    const serious = all.filter((f) => SEVERITY.indexOf(f.severity) >= 2 && CONFIDENCE.indexOf(f.confidence) >= 1);
    const blocking = serious.filter((f) => !ALLOWED.some((a) => a.issue === f.issue && a.file === f.file));
    for (const f of serious) {
      const allowed = ALLOWED.find((a) => a.issue === f.issue && a.file === f.file);
      process.stdout.write(
        `${allowed === undefined ? 'FAIL' : 'allowed'}  ${f.issue} ${f.severity}/${f.confidence} ${f.file}:${f.location}${allowed ? ` — ${allowed.why}` : ` — ${f.description}`}\n`,
      );
    }
    process.stdout.write(`electron audit: ${all.length} findings, ${serious.length} medium or worse, ${blocking.length} not allowed\n`);
    return blocking.length === 0 ? 0 : 1;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

process.exitCode = await main();
