import type { ExportFormat } from '../../../shared/export.js';
import type { Exporter } from './exporter.js';
import { onnxExporter } from './onnx.js';
import { tfjsExporter } from './tfjs.js';
import { tfliteExporter } from './tflite.js';

/** Every format's exporter, by the names in shared/export.ts: the one place a new format is registered. */
export const EXPORTERS: Readonly<Record<ExportFormat, Exporter>> = {
  onnx: onnxExporter,
  tflite: tfliteExporter,
  tfjs: tfjsExporter,
};
