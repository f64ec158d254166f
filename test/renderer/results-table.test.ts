import { describe, expect, it } from 'vitest';
import type { ModelDetails } from '../../shared/history.js';
import { comparisonRows, latestExport } from '../../renderer/src/lib/results-table.js';
import { details, run } from './fixtures.js';

function model(over: Partial<ModelDetails>): ModelDetails {
  return {
    id: 1,
    runId: 1,
    network: 'small',
    format: 'onnx',
    precision: 'fp32',
    params: 13_900,
    macs: 2_240_000,
    accuracy: 0.24,
    latencyMs: 0.22,
    fullLatencyMs: 0.29,
    fullMacs: 7_170_000,
    fp32LatencyMs: null,
    verification: {
      reference: 'engine',
      runtime: 'onnxruntime-node',
      samples: 64,
      validationSamples: 48,
      top1Agreement: 1,
      maxAbsLogitDiff: 1e-6,
      accuracy: 0.24,
      referenceAccuracy: 0.24,
      accuracyDrop: 0,
      required: { top1Agreement: 1, maxAbsLogitDiff: 1e-3, maxAccuracyDrop: null },
      passed: true,
      note: null,
    },
    metadata: {},
    outDir: '/out',
    byteSize: 63_900,
    createdAt: 10,
    files: [{ name: 'model.onnx', byteSize: 63_000, sha256: 'x' }],
    macRatio: 3.2,
    latencySpeedup: 1.318,
    speedupOverFp32: null,
    speedNote: null,
    integrity: 'ok',
    corruptedFiles: [],
    ...over,
  };
}

const row = (rows: ReturnType<typeof comparisonRows>, key: string) => rows.find((r) => r.key === key)!;

describe('comparisonRows', () => {
  it('before an export: accuracies, costs, estimated sizes, latency to be measured', () => {
    const rows = comparisonRows(details());
    expect(row(rows, 'accuracy')).toMatchObject({ full: '18.0%', small: '24.0%', change: '+6.0 pts' });
    expect(row(rows, 'params')).toMatchObject({ full: '176.26k', small: '13.9k', change: '13× fewer' });
    expect(row(rows, 'macs')).toMatchObject({ full: '7.17 MMACs', small: '2.24 MMACs', change: '3.2× fewer' });
    expect(row(rows, 'size').small).toBe('≈ 55.6 kB');
    expect(row(rows, 'latency')).toMatchObject({ full: 'not measured', small: 'not measured', change: '—' });
  });
  it('after an ONNX export: file sizes and measured latencies with the speed-up', () => {
    const rows = comparisonRows(details({ models: [model({}), model({ id: 2, network: 'full', byteSize: 711_500, latencyMs: 0.29, latencySpeedup: null })] }));
    expect(row(rows, 'size')).toMatchObject({ full: '711.5 kB', small: '63.9 kB', change: '11× smaller' });
    expect(row(rows, 'latency')).toMatchObject({ full: '0.29 ms', small: '0.22 ms', change: '1.3× faster' });
  });
  it('a standard run has one network, shown as the full one', () => {
    const rows = comparisonRows(
      details({ run: run({ config: { ...run().config, mode: 'standard', alpha: null }, val: { full: { accuracy: 0.5, loss: 1 }, small: null } }) }),
    );
    expect(row(rows, 'accuracy')).toMatchObject({ full: '50.0%', small: '—' });
    expect(row(rows, 'params').small).toBe('—');
  });
});

describe('latestExport', () => {
  it('prefers the newest ONNX export of the network', () => {
    const models = [model({ id: 1, createdAt: 5 }), model({ id: 2, createdAt: 9, format: 'tfjs' }), model({ id: 3, createdAt: 7 })];
    expect(latestExport(models, 'small')?.id).toBe(3);
    expect(latestExport([model({ format: 'tfjs', id: 4 })], 'small')?.id).toBe(4);
    expect(latestExport(models, 'full')).toBeNull();
  });
});
