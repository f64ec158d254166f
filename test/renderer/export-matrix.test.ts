import { describe, expect, it } from 'vitest';
import type { ModelDetails } from '../../shared/history.js';
import { joinFolder, matrixRows } from '../../renderer/src/lib/export-matrix.js';

const model = (over: Partial<ModelDetails>): ModelDetails =>
  ({
    id: 1,
    network: 'small',
    format: 'onnx',
    precision: 'fp32',
    createdAt: 1,
    ...over,
  }) as ModelDetails;

describe('the export matrix', () => {
  it('has one row per format and precision the exporters offer, TF.js without int8', () => {
    expect(matrixRows([]).map((r) => r.key)).toEqual([
      'onnx-fp32',
      'onnx-fp16',
      'onnx-int8',
      'tflite-fp32',
      'tflite-fp16',
      'tflite-int8',
      'tfjs-fp32',
      'tfjs-fp16',
    ]);
    expect(matrixRows([]).find((r) => r.key === 'tflite-int8')).toMatchObject({
      label: 'TFLite int8',
      runtime: 'LiteRT.js',
      model: null,
      folder: 'tflite-int8',
    });
  });

  it("fills each row with its variant's latest export of the small network", () => {
    const rows = matrixRows([
      model({ id: 1, format: 'tflite', precision: 'int8', createdAt: 5 }),
      model({ id: 2, format: 'tflite', precision: 'int8', createdAt: 9 }),
      model({ id: 3, format: 'tflite', precision: 'int8', createdAt: 7 }),
      model({ id: 4, format: 'tflite', precision: 'int8', createdAt: 20, network: 'full' }),
      model({ id: 5, format: 'onnx', precision: 'fp32', createdAt: 2 }),
    ]);
    expect(rows.find((r) => r.key === 'tflite-int8')!.model!.id).toBe(2);
    expect(rows.find((r) => r.key === 'onnx-fp32')!.model!.id).toBe(5);
    expect(rows.filter((r) => r.model !== null)).toHaveLength(2);
  });

  it('joins the chosen folder and the variant folder with the separator the path already uses', () => {
    expect(joinFolder('/home/me/out/', 'onnx-int8')).toBe('/home/me/out/onnx-int8');
    expect(joinFolder('C:\\Users\\me\\out', 'tflite-fp32')).toBe('C:\\Users\\me\\out\\tflite-fp32');
    expect(joinFolder('  /data/x  ', 'a')).toBe('/data/x/a');
  });
});
