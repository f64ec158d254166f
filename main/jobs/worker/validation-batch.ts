import type { ImportSettings } from '../../../shared/dataset.js';
import { importSettings } from '../../../shared/config-codecs.js';
import { BatchBuilder } from '../../engine/data/batches.js';
import { openTrainingData } from '../../engine/data/open.js';
import { Rng } from '../../engine/rng.js';
import type { VerificationBatch } from '../../export/verify.js';
import type { RunRecord, StoredDataset } from '../../../shared/history.js';

export interface SampleCounts {
  /** Validation images of the run's dataset, read again and normalised as in training. */
  validation: number;
  /** Seeded random inputs (standard normal, in normalised units). */
  seeded: number;
}

export const DEFAULT_SAMPLES: SampleCounts = { validation: 48, seeded: 16 };

/**
 * The import settings (size, channels, validation split…) the run's dataset
 * was opened with, if recorded. The importer checks them (`importSettings`)
 * and throws an InputError for bad ones, which falls back to seeded inputs.
 */
function recordedSettings(dataset: StoredDataset | null): Partial<ImportSettings> {
  const s = dataset?.split['settings'];
  return s === undefined || s === null ? {} : importSettings(s, "the dataset's import settings");
}

/**
 * The inputs an export is checked on: the first validation images of the
 * run's dataset — opened as training opened it (image folders come from the
 * decoded cache) and normalised with the run's own mean and std — then
 * seeded random ones. If the dataset cannot be read any more (moved,
 * deleted, changed), the check runs on seeded inputs alone and says so.
 */
export async function verificationBatch(
  run: RunRecord,
  dataset: StoredDataset | null,
  cacheDir: string,
  counts: SampleCounts = DEFAULT_SAMPLES,
): Promise<VerificationBatch> {
  const { inputSize: size, channels } = run.config.model;
  const per = size * size * channels;
  let real: Float32Array = new Float32Array(0);
  let note: string | null = null;
  const info = run.data;
  if (counts.validation > 0) {
    if (info === null) {
      note = 'the run recorded no dataset; checked on seeded inputs only';
    } else {
      try {
        const { data } = await openTrainingData(info.source, {
          limitVal: counts.validation,
          cacheDir,
          settings: recordedSettings(dataset),
        });
        if (
          data.height !== info.height ||
          data.width !== info.width ||
          data.channels !== info.channels ||
          data.classes.join('\n') !== info.classes.join('\n')
        ) {
          note = `${info.source} no longer holds the images the run was trained on; checked on seeded inputs only`;
        } else {
          const builder = new BatchBuilder(data, size, channels, { mean: info.mean, std: info.std }, run.config.augmentation);
          const n = Math.min(counts.validation, data.val.count);
          real = builder.build(
            data.val,
            Array.from({ length: n }, (_, i) => i),
            false,
            null,
          ).x;
          if (n < counts.validation) note = `the dataset has ${n} validation images`;
        }
      } catch (e) {
        note = `the run's dataset ${info.source} cannot be read (${(e as Error).message}); checked on seeded inputs only`;
      }
    }
  }
  const validation = real.length / per;
  const n = validation + counts.seeded;
  const x = new Float32Array(n * per);
  x.set(real);
  const rng = new Rng(20_240_605);
  for (let i = real.length; i < x.length; i++) x[i] = rng.normal();
  return { x, n, height: size, width: size, channels, validationSamples: validation, note };
}
