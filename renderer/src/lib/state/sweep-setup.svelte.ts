import type { ApiClient } from '../../../../shared/api.js';
import { defaultTrainSettings, estimate } from '../wizard-config.js';
import { defaultSweepDraft, type SweepContext, type SweepDraft, sweepRequest } from '../sweep-setup.js';
import type { DatasetState } from './dataset.svelte.js';
import { errorInfo, type ErrorInfo } from './errors.js';
import type { ModelState } from './model.svelte.js';
import type { RunOnState } from './run-on.svelte.js';
import type { TrainState } from './train.svelte.js';

/** The "Compare α values…" dialog: its grid, whether it may open, and its Start. */
export class SweepSetupState {
  draft = $state<SweepDraft>(defaultSweepDraft(defaultTrainSettings()));
  open = $state(false);
  starting = $state(false);
  /** Why the last Start was refused, and the grid it was refused for. */
  private refusal = $state.raw<{ error: ErrorInfo; draft: string } | null>(null);

  /** The refusal, while the grid is as it was: once the user changes it, a stale message would mislead. */
  readonly error: ErrorInfo | null = $derived(this.refusal !== null && this.refusal.draft === JSON.stringify(this.draft) ? this.refusal.error : null);

  /** What must be done before a sweep can be set up, in words; null when ready. */
  readonly blocker: string | null = $derived.by(() => {
    if (this.dataset.scan === null || this.dataset.source === null) return 'Choose a dataset first (Dataset screen).';
    if (!this.dataset.usable) return 'The dataset cannot be used as it is; see the Dataset screen.';
    // The Model screen's mode does not matter here (the sweep has its own): only the network must be valid.
    const network = estimate({ ...this.model.settings, mode: 'standard' }, this.dataset.classCount);
    if (!network.ok) return `The model settings need fixing: ${network.message}`;
    return null;
  });

  /** The rest of the wizard as the sweep reads it; null until a usable dataset is scanned. */
  readonly context: SweepContext | null = $derived.by(() => {
    const source = this.dataset.source;
    if (source === null || !this.dataset.usable) return null;
    return { source, model: this.model.settings, train: this.train.settings, classes: this.dataset.classCount };
  });

  constructor(
    private readonly api: ApiClient,
    private readonly dataset: DatasetState,
    private readonly model: ModelState,
    private readonly train: TrainState,
    private readonly runOn: RunOnState,
  ) {}

  /** Opens the dialog; the runs' length starts from the Train screen's, the grid from the last time. */
  show(): void {
    if (this.blocker !== null) return;
    this.draft.epochs = this.train.settings.epochs;
    this.draft.limitTrain = this.train.settings.limitTrain;
    this.refusal = null;
    this.open = true;
  }

  close(): void {
    this.open = false;
  }

  /** Checks the grid as the main side will, then sends `sweeps:start`; the new sweep's id, or null. */
  async start(): Promise<number | null> {
    const ctx = this.context;
    if (this.blocker !== null || ctx === null) {
      this.refuse({ message: this.blocker ?? 'Choose a dataset first.', field: null });
      return null;
    }
    let spec;
    let queue: string | undefined;
    try {
      queue = this.runOn.target();
      spec = sweepRequest($state.snapshot(this.draft), {
        source: ctx.source,
        model: $state.snapshot(this.model.settings),
        train: $state.snapshot(this.train.settings),
        classes: ctx.classes,
      });
    } catch (error) {
      this.refuse(errorInfo(error));
      return null;
    }
    this.starting = true;
    this.refusal = null;
    try {
      const { sweepId } = await this.api.call('sweeps:start', { spec, ...(queue === undefined ? {} : { queue }) });
      this.open = false;
      void this.runOn.remember();
      return sweepId;
    } catch (error) {
      this.refuse(errorInfo(error));
      return null;
    } finally {
      this.starting = false;
    }
  }

  private refuse(error: ErrorInfo): void {
    this.refusal = { error, draft: JSON.stringify(this.draft) };
  }
}
