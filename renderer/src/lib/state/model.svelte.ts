import type { DatasetScan } from '../../../../shared/dataset.js';
import { DEFAULT_MODEL_SETTINGS, estimate, type EstimateResult, type ModelSettings } from '../wizard-config.js';

/** Classes assumed for the estimate until a dataset is scanned. */
export const ESTIMATE_CLASSES = 10;

/** The Model screen: architecture, input, width and mode, with a live cost estimate. */
export class ModelState {
  settings = $state<ModelSettings>(structuredClone(DEFAULT_MODEL_SETTINGS));

  /** Computed in the renderer (shared/model), so it follows every keystroke. */
  readonly estimate: EstimateResult;

  /** `classes`: the dataset's class count (or a stand-in until one is scanned). */
  constructor(classes: () => number) {
    this.estimate = $derived(estimate(this.settings, classes()));
  }

  /** A scan suggests the input size and channels that fit its images. */
  adopt(scan: DatasetScan): void {
    this.settings.inputSize = scan.suggested.size;
    this.settings.channels = scan.suggested.channels;
  }
}
