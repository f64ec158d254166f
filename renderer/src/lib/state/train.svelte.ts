import type { ApiClient } from '../../../../shared/api.js';
import { validateSearchConfig } from '../../../../shared/dan.js';
import { importSettings } from '../../../../shared/dataset.js';
import { InputError } from '../../../../shared/errors.js';
import { validateTrainConfig } from '../../../../shared/train-config.js';
import {
  applyPreset,
  dataSourceOf,
  defaultTrainSettings,
  type PresetId,
  searchConfigOf,
  trainConfigOf,
  type TrainSettings,
  withBatchSize,
} from '../wizard-config.js';
import type { DatasetState } from './dataset.svelte.js';
import { errorInfo, type ErrorInfo } from './errors.js';
import type { ModelState } from './model.svelte.js';
import type { MonitorState } from './monitor.svelte.js';
import type { RunOnState } from './run-on.svelte.js';

/** The Train screen's settings and its Start button. */
export class TrainState {
  settings = $state<TrainSettings>(defaultTrainSettings());
  starting = $state(false);
  error = $state.raw<ErrorInfo | null>(null);

  /** What must be done before Start can work, in words; null when ready. */
  readonly blocker: string | null = $derived.by(() => {
    if (this.dataset.scan === null || this.dataset.source === null) return 'Choose a dataset first (Dataset screen).';
    if (!this.dataset.usable) return 'The dataset cannot be used as it is; see the Dataset screen.';
    if (!this.model.estimate.ok) return `The model settings need fixing: ${this.model.estimate.message}`;
    if (this.monitor.active) return 'A run is in progress; cancel it or wait for it to end.';
    return null;
  });

  constructor(
    private readonly api: ApiClient,
    private readonly dataset: DatasetState,
    private readonly model: ModelState,
    private readonly monitor: MonitorState,
    private readonly runOn: RunOnState,
  ) {}

  choosePreset(preset: PresetId): void {
    this.settings = applyPreset(this.settings, preset);
  }

  setBatchSize(batchSize: number): void {
    this.settings = withBatchSize(this.settings, batchSize);
  }

  /** Sends runs:start (standard, AN) or runs:search (DAN); the monitor follows the new run. */
  async start(): Promise<number | null> {
    const source = this.dataset.source;
    if (this.blocker !== null || source === null) {
      this.error = { message: this.blocker ?? 'Choose a dataset first.', field: null };
      return null;
    }
    const model = $state.snapshot(this.model.settings);
    const train = $state.snapshot(this.settings);
    const classes = this.dataset.classCount;
    const data = dataSourceOf(source, model, train);
    const kind = model.mode === 'dan' ? 'search' : 'train';
    const thenTrain = model.thenTrain > 0 ? model.thenTrain : null;
    // The main side's own rules, checked here first: an empty or bad field is
    // named at once, before anything is sent.
    let request: { kind: 'search'; config: ReturnType<typeof searchConfigOf> } | { kind: 'train'; config: ReturnType<typeof trainConfigOf> };
    let queue: string | undefined;
    try {
      queue = this.runOn.target();
      importSettings(data.settings);
      if (train.limitTrain !== null && (!Number.isInteger(train.limitTrain) || train.limitTrain < 1)) {
        throw new InputError(`the number of training images must be a positive integer, got ${train.limitTrain}`, 'limitTrain');
      }
      request =
        kind === 'search'
          ? { kind, config: validateSearchConfig(searchConfigOf(model, train, classes)) }
          : { kind, config: validateTrainConfig(trainConfigOf(model, train, classes)) };
    } catch (error) {
      this.error = errorInfo(error);
      return null;
    }
    this.starting = true;
    this.error = null;
    this.monitor.expectRun(kind, [data.path, this.dataset.scan?.root ?? data.path]);
    try {
      const onQueue = queue === undefined ? {} : { queue };
      const { runId } =
        request.kind === 'search'
          ? await this.api.call('runs:search', { data, config: request.config, thenTrain, ...onQueue })
          : await this.api.call('runs:start', { data, config: request.config, ...onQueue });
      this.monitor.attach(runId);
      void this.runOn.remember();
      return runId;
    } catch (error) {
      this.monitor.abandon();
      this.error = errorInfo(error);
      return null;
    } finally {
      this.starting = false;
    }
  }
}
