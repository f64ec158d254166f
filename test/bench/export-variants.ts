import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExportFormat, Precision, VerificationReport } from '../../shared/export.js';
import { round } from './measure.js';

const ADJOIN = fileURLToPath(new URL('../../../bin/adjoin.js', import.meta.url));
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/** What `adjoin export --json` prints per model (the fields used here). */
interface Exported {
  format: ExportFormat;
  precision: Precision;
  files: Array<{ name: string; bytes: number }>;
  latencyMs: number | null;
  fp32LatencyMs: number | null;
  speedupOverFp32: number | null;
  note: string | null;
  verification: VerificationReport;
}

function adjoin(args: string[]): string {
  const r = spawnSync(process.execPath, [ADJOIN, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`adjoin ${args.slice(0, 2).join(' ')} failed (${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
  return r.stdout;
}

const envInt = (name: string, fallback: number): number => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

/**
 * The phone model: ResNet-18 (CIFAR stem, width 1, α = 4) on
 * Fashion-MNIST 28×28×1, trained briefly through the CLI so accuracy means
 * something, then exported as ONNX and TFLite in float32 and int8 through
 * the CLI — the real path, each variant checked on the run's validation
 * images and timed batch-1 on one thread next to float32 in its runtime.
 * `ADJOIN_BENCH_EXPORT_TRAIN` / `_VAL` / `_EPOCHS` change the run's length
 * (defaults 2000 / 1000 / 1: a few minutes on two idle cores).
 */
export async function exportVariants(): Promise<Record<string, unknown>> {
  const data = process.env['ADJOIN_BENCH_FASHION_MNIST'] ?? FASHION_MNIST;
  if (!existsSync(data)) return { variants_skipped: `${data} is missing (apt-get install dataset-fashion-mnist)` };
  const trainImages = envInt('ADJOIN_BENCH_EXPORT_TRAIN', 2000);
  const valImages = envInt('ADJOIN_BENCH_EXPORT_VAL', 1000);
  const epochs = envInt('ADJOIN_BENCH_EXPORT_EPOCHS', 1);
  const dir = mkdtempSync(join(tmpdir(), 'adjoin-bench-export-'));
  try {
    const db = join(dir, 'adjoin.db');
    const t0 = performance.now();
    adjoin([
      'train',
      '--data',
      data,
      '--limit-train',
      String(trainImages),
      '--limit-val',
      String(valImages),
      '--arch',
      'resnet18',
      '--stem',
      'cifar',
      '--width',
      '1',
      '--mode',
      'an',
      '--alpha',
      '4',
      '--small-ce',
      '1',
      '--epochs',
      String(epochs),
      '--batch',
      '64',
      '--seed',
      '0',
      '--db',
      db,
      '--out',
      join(dir, 'run'),
      '--json',
    ]);
    const trainSeconds = (performance.now() - t0) / 1000;
    const variant = (format: ExportFormat, precision: Precision): Exported => {
      const out = adjoin(['export', '1', '--format', format, '--precision', precision, '--out', join(dir, `${format}-${precision}`), '--db', db, '--json']);
      return (JSON.parse(out) as Exported[])[0]!;
    };
    const onnx32 = variant('onnx', 'fp32');
    const onnx8 = variant('onnx', 'int8');
    const tfl32 = variant('tflite', 'fp32');
    const tfl8 = variant('tflite', 'int8');
    const size = (m: Exported): number => m.files.find((f) => f.name.startsWith('model.'))!.bytes;
    const pct = (x: number | null): number | null => (x === null ? null : round(100 * x, 2));
    return {
      variants_model: `resnet18 cifar-stem width 1, α=4, Fashion-MNIST 28×28×1, ${epochs} epoch(s) on ${trainImages} training images, checked on ${valImages} validation images`,
      variants_train_seconds: round(trainSeconds, 1),
      fp32_accuracy: pct(onnx8.verification.referenceAccuracy),
      int8_accuracy: pct(onnx8.verification.accuracy),
      int8_speedup: onnx8.speedupOverFp32 === null ? null : round(onnx8.speedupOverFp32),
      int8_accuracy_drop: onnx8.verification.accuracyDrop === null ? null : round(onnx8.verification.accuracyDrop, 2),
      int8_size_ratio: round(size(onnx8) / size(onnx32), 3),
      int8_latency_ms: onnx8.latencyMs === null ? null : round(onnx8.latencyMs, 3),
      fp32_latency_ms: onnx32.latencyMs === null ? null : round(onnx32.latencyMs, 3),
      int8_note: onnx8.note,
      tflite_max_abs_diff: Number(tfl32.verification.maxAbsLogitDiff.toExponential(2)),
      tflite_latency_ms: tfl32.latencyMs === null ? null : round(tfl32.latencyMs, 3),
      tflite_int8_latency_ms: tfl8.latencyMs === null ? null : round(tfl8.latencyMs, 3),
      tflite_int8_speedup: tfl8.speedupOverFp32 === null ? null : round(tfl8.speedupOverFp32),
      tflite_int8_accuracy_drop: tfl8.verification.accuracyDrop === null ? null : round(tfl8.verification.accuracyDrop, 2),
      tflite_int8_size_ratio: round(size(tfl8) / size(tfl32), 3),
      meets_int8_speedup_1_3: onnx8.speedupOverFp32 !== null && onnx8.speedupOverFp32 >= 1.3,
      meets_int8_drop_1_0: onnx8.verification.accuracyDrop !== null && onnx8.verification.accuracyDrop <= 1,
      meets_int8_size_0_3: size(onnx8) / size(onnx32) <= 0.3,
      meets_tflite_diff_1e_4: tfl32.verification.maxAbsLogitDiff <= 1e-4,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
