import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's python3-pyarmnn is for the system Python, not another one on PATH. */
const PYTHON = '/usr/bin/python3';
const READER = fileURLToPath(new URL('../main/export/armnn/run_tflite.py', import.meta.url));

/** Whether Arm NN's TfLite parser and its CpuRef backend can be loaded here. */
export const hasArmNn: boolean = (() => {
  const probe = spawnSync(PYTHON, ['-c', "import pyarmnn as a; r = a.IRuntime(a.CreationOptions()); assert 'CpuRef' in str(r.GetDeviceSpec())"], {
    stdio: 'ignore',
  });
  return probe.status === 0;
})();

// CI installs the packages and sets ADJOIN_REQUIRE_EXPORT_TOOLS: there a missing reader fails instead of skipping.
if (!hasArmNn && process.env['ADJOIN_REQUIRE_EXPORT_TOOLS'] === '1') {
  throw new Error('Arm NN is missing (apt-get install python3-pyarmnn libarmnn-cpuref-backend22)');
}
if (!hasArmNn) console.warn('Arm NN reader tests skipped: apt-get install python3-pyarmnn libarmnn-cpuref-backend22 (CI installs them)');

/** Logits `[n, classes]` of a .tflite model run by Arm NN (CpuRef) on n NHWC float32 images. */
export function armNnLogits(model: Uint8Array, x: Float32Array): Float32Array {
  const dir = mkdtempSync(join(tmpdir(), 'adjoin-armnn-'));
  try {
    writeFileSync(join(dir, 'model.tflite'), model);
    writeFileSync(join(dir, 'inputs.bin'), x);
    execFileSync(PYTHON, [READER, join(dir, 'model.tflite'), join(dir, 'inputs.bin'), join(dir, 'logits.bin')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const bytes = readFileSync(join(dir, 'logits.bin'));
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
