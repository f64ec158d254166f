import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/generate-tflite-schema.sh');
const COMMITTED = join(ROOT, 'main/export/tflite/generated');
const hasFlatc = spawnSync('flatc', ['--version'], { stdio: 'ignore' }).status === 0;

// CI installs flatbuffers-compiler and sets ADJOIN_REQUIRE_EXPORT_TOOLS: there a missing flatc fails instead of skipping.
if (!hasFlatc && process.env['ADJOIN_REQUIRE_EXPORT_TOOLS'] === '1') throw new Error('flatc is missing (apt-get install flatbuffers-compiler)');
if (!hasFlatc) console.warn('TFLite schema generation test skipped: flatc is missing (apt-get install flatbuffers-compiler); CI installs it.');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]));
}

/** Every file under `dir`, relative to it, sorted. */
const files = (dir: string): string[] =>
  walk(dir)
    .map((f) => relative(dir, f))
    .sort();

describe.runIf(hasFlatc)('the generated TFLite schema code', () => {
  it('is exactly what scripts/generate-tflite-schema.sh makes from schema.fbs', () => {
    const out = mkdtempSync(join(tmpdir(), 'adjoin-schema-'));
    try {
      execFileSync(SCRIPT, [out], { stdio: ['ignore', 'ignore', 'pipe'] });
      const committed = files(COMMITTED);
      expect(files(out)).toEqual(committed);
      expect(committed.length).toBeGreaterThan(100);
      for (const f of committed) expect(readFileSync(join(out, f), 'utf8'), f).toBe(readFileSync(join(COMMITTED, f), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
