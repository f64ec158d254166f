import { EXPORT_FORMAT_INFO, EXPORT_FORMATS, type ExportFormat, type Precision } from '../../../shared/export.js';
import type { ModelDetails } from '../../../shared/history.js';

/**
 * The Results screen's export matrix: one row per format × precision the
 * exporters offer, each with the figures of its latest export of the small
 * network (the product): accuracy on the validation images in its runtime,
 * agreement with the engine, file size, latency and speed-up over the full
 * network in float32, and the note left where int8 did not pay.
 */
export interface MatrixRow {
  key: string;
  format: ExportFormat;
  precision: Precision;
  label: string;
  runtime: string;
  /** The latest export of this variant, or null. */
  model: ModelDetails | null;
  /** The folder an export of this row writes to, under the chosen one. */
  folder: string;
}

/** `onnx-int8`: the subfolder a variant is written to, so variants never overwrite each other. */
export function variantFolder(format: ExportFormat, precision: Precision): string {
  return `${format}-${precision}`;
}

export function matrixRows(models: readonly ModelDetails[], network: 'small' | 'full' = 'small'): MatrixRow[] {
  return EXPORT_FORMATS.flatMap((format) => {
    const info = EXPORT_FORMAT_INFO[format];
    return info.precisions.map((precision): MatrixRow => {
      const mine = models.filter((m) => m.network === network && m.format === format && m.precision === precision);
      const model = mine.reduce<ModelDetails | null>((best, m) => (best === null || m.createdAt > best.createdAt ? m : best), null);
      return {
        key: variantFolder(format, precision),
        format,
        precision,
        label: `${info.label} ${precision}`,
        runtime: info.runtime,
        model,
        folder: variantFolder(format, precision),
      };
    });
  });
}

/** Joins a folder and a subfolder the way the machine running Adjoin writes paths (a Windows path uses \). */
export function joinFolder(folder: string, sub: string): string {
  const trimmed = folder.trim().replace(/[\\/]+$/, '');
  const sep = /^[A-Za-z]:\\|\\\\/.test(trimmed) || (trimmed.includes('\\') && !trimmed.includes('/')) ? '\\' : '/';
  return `${trimmed}${sep}${sub}`;
}
