import type { ImportSettings } from '../../../shared/dataset.js';
import { importSettings } from '../../../shared/config-codecs.js';
import { BatchBuilder } from '../../engine/data/batches.js';
import { openTrainingData } from '../../engine/data/open.js';
import type { TrainingData } from '../../engine/data/types.js';
import { Rng } from '../../engine/rng.js';
import type { CalibrationImages } from '../../export/quant/calibrate.js';
import type { VerificationBatch } from '../../export/verify.js';
import type { RunRecord, StoredDataset } from '../../../shared/history.js';

export interface SampleCounts {
  /** Validation images of the run's dataset, read again and normalised as in training (null: all of them). */
  validation: number | null;
  /** Seeded random inputs (standard normal, in normalised units). */
  seeded: number;
}

/** The whole validation split, and 16 seeded inputs that reach where real images do not. */
export const DEFAULT_SAMPLES: SampleCounts = { validation: null, seeded: 16 };

/**
 * The import settings (size, channels, validation split…) the run's dataset
 * was opened with, if recorded. The importer checks them (`importSettings`)
 * and throws an InputError for bad ones, which counts as unreadable data.
 */
function recordedSettings(dataset: StoredDataset | null): Partial<ImportSettings> {
  const s = dataset?.split['settings'];
  return s === undefined || s === null ? {} : importSettings(s, "the dataset's import settings");
}

/** The run's images as training opened them, or why they cannot be read. */
export type RunData = { data: TrainingData; builder: BatchBuilder } | { data: null; reason: string };

/**
 * Opens the run's dataset again — image folders from the decoded cache —
 * and checks it still holds the images the run was trained on (size,
 * channels, classes). Moved, deleted or changed data is reported, not
 * thrown: float exports are then checked on seeded inputs alone, and int8
 * ones refused (they need images to calibrate and to measure accuracy).
 */
export async function openRunData(run: RunRecord, dataset: StoredDataset | null, cacheDir: string): Promise<RunData> {
  const info = run.data;
  if (info === null) return { data: null, reason: 'the run recorded no dataset' };
  try {
    const { data } = await openTrainingData(info.source, {
      // The importer's cache (the CLI's `adjoin data` uses the same folder).
      cacheDir,
      settings: recordedSettings(dataset),
    });
    if (data.height !== info.height || data.width !== info.width || data.channels !== info.channels || data.classes.join('\n') !== info.classes.join('\n')) {
      return { data: null, reason: `${info.source} no longer holds the images the run was trained on` };
    }
    const { inputSize: size, channels } = run.config.model;
    return { data, builder: new BatchBuilder(data, size, channels, { mean: info.mean, std: info.std }, run.config.augmentation) };
  } catch (e) {
    return { data: null, reason: `the run's dataset ${info.source} cannot be read (${(e as Error).message})` };
  }
}

/**
 * The inputs an export is checked on: the run's validation images (all of
 * them unless a count is given), normalised with the run's own mean and std,
 * then seeded random ones; built a chunk at a time. Without readable data,
 * seeded inputs alone, and the note says why.
 */
export function verificationBatch(run: RunRecord, opened: RunData, counts: SampleCounts = DEFAULT_SAMPLES): VerificationBatch {
  const { inputSize: size, channels } = run.config.model;
  const per = size * size * channels;
  let validation = 0;
  let note: string | null = null;
  let labels: Int32Array | null = null;
  if (counts.validation !== 0) {
    if (opened.data === null) {
      note = `${opened.reason}; checked on seeded inputs only`;
    } else {
      // The run's own validation split: the first valCount images (a --limit-val run validated on fewer).
      const available = Math.min(opened.data.val.count, run.data?.valCount ?? Infinity);
      validation = counts.validation === null ? available : Math.min(counts.validation, available);
      labels = Int32Array.from(opened.data.val.labels.subarray(0, validation));
      if (counts.validation !== null && validation < counts.validation) note = `the dataset has ${validation} validation images`;
    }
  }
  const seeded = new Float32Array(counts.seeded * per);
  const rng = new Rng(20_240_605);
  for (let i = 0; i < seeded.length; i++) seeded[i] = rng.normal();
  const n = validation + counts.seeded;
  return {
    n,
    height: size,
    width: size,
    channels,
    validationSamples: validation,
    labels,
    note,
    inputs(from, count) {
      const out = new Float32Array(count * per);
      const real = Math.max(0, Math.min(validation, from + count) - from);
      if (real > 0 && opened.data !== null) {
        const idx = Array.from({ length: real }, (_, i) => from + i);
        out.set(opened.builder.build(opened.data.val, idx, false, null).x);
      }
      const s = Math.max(from, validation);
      if (from + count > s) out.set(seeded.subarray((s - validation) * per, (from + count - validation) * per), (s - from) * per);
      return out;
    },
  };
}

/**
 * The images an int8 export is calibrated on: `count` of the run's own
 * training images, drawn without augmentation by a fixed seed (folders list
 * class after class, so the first N could all be one class).
 */
export function calibrationImages(
  run: RunRecord,
  opened: RunData,
  count: number,
): { images: CalibrationImages; source: string } | { images: null; reason: string } {
  if (opened.data === null) return { images: null, reason: opened.reason };
  const train = opened.data.train;
  // The run's own training images: the first trainCount (a --limit-train run saw no others).
  const available = Math.min(train.count, run.data?.trainCount ?? Infinity);
  if (available === 0) return { images: null, reason: `${run.data?.source ?? 'the dataset'} has no training images` };
  const n = Math.min(count, available);
  const order = Array.from({ length: available }, (_, i) => i);
  const rng = new Rng(7_340_033);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const { inputSize: size, channels } = run.config.model;
  const { x } = opened.builder.build(train, order.slice(0, n), false, null);
  return {
    images: { x, n, height: size, width: size, channels },
    source: `${n} of the run's ${available} training images (${run.data?.source ?? 'its dataset'}), drawn with a fixed seed, normalised as in validation`,
  };
}
