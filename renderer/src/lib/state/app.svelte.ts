import type { ApiClient, AppInfo, HistoryWrites } from '../../../../shared/api.js';
import type { ConnectionState } from '../api/ws-client.js';
import { DatasetState } from './dataset.svelte.js';
import { errorInfo, type ErrorInfo } from './errors.js';
import { HistoryState } from './history.svelte.js';
import { ESTIMATE_CLASSES, ModelState } from './model.svelte.js';
import { MonitorState } from './monitor.svelte.js';
import { ResultsState } from './results.svelte.js';
import { RunOnState } from './run-on.svelte.js';
import { SweepSetupState } from './sweep-setup.svelte.js';
import { SweepsState } from './sweeps.svelte.js';
import { SystemState } from './system.svelte.js';
import { TrainState } from './train.svelte.js';

export const SCREENS = ['dataset', 'model', 'train', 'results', 'history', 'sweeps', 'system'] as const;
export type Screen = (typeof SCREENS)[number];

export const SCREEN_TITLES: Record<Screen, string> = {
  dataset: 'Dataset',
  model: 'Model',
  train: 'Train',
  results: 'Results & export',
  history: 'History',
  sweeps: 'Sweeps',
  system: 'System',
};

/** Shorter names for the navigation column. */
export const NAV_TITLES: Record<Screen, string> = { ...SCREEN_TITLES, results: 'Results' };

/**
 * The whole app's state, one object per screen, wired here once: the
 * dataset's classes feed the model's estimate, a scan presets the input
 * size, `runs:changed` refreshes the history and the open results.
 */
export class AppState {
  screen = $state<Screen>('dataset');
  info = $state.raw<AppInfo | null>(null);
  infoError = $state.raw<ErrorInfo | null>(null);
  connection = $state.raw<ConnectionState>({ kind: 'connecting' });
  /** Whether the history takes writes (the banner while it does not). */
  historyWrites = $state.raw<HistoryWrites>({ state: 'ok' });

  readonly dataset: DatasetState;
  readonly model: ModelState;
  readonly monitor: MonitorState;
  readonly train: TrainState;
  readonly results: ResultsState;
  readonly history: HistoryState;
  readonly sweeps: SweepsState;
  readonly sweepSetup: SweepSetupState;
  readonly system: SystemState;
  readonly runOn: RunOnState;

  readonly isDesktop = $derived(this.info?.shell === 'electron');
  readonly nativeDialogs = $derived(this.info?.nativeDialogs === true);

  private readonly unsubscribe: Array<() => void> = [];

  constructor(readonly api: ApiClient) {
    this.dataset = new DatasetState(api, (scan) => this.model.adopt(scan));
    this.model = new ModelState(() => (this.dataset.usable ? this.dataset.classCount : ESTIMATE_CLASSES));
    this.monitor = new MonitorState(api);
    this.runOn = new RunOnState(api);
    this.train = new TrainState(api, this.dataset, this.model, this.monitor, this.runOn);
    this.results = new ResultsState(api);
    this.history = new HistoryState(api);
    this.sweeps = new SweepsState(api);
    this.sweepSetup = new SweepSetupState(api, this.dataset, this.model, this.train, this.runOn);
    this.system = new SystemState(api);
    this.unsubscribe.push(
      api.on('history:writes', (state) => {
        this.historyWrites = state;
      }),
      api.on('runs:changed', ({ runId }) => {
        void this.history.refresh();
        if (this.results.runId === runId) void this.results.refresh();
      }),
    );
  }

  /** Loads what every screen needs once the transport is up. */
  async load(): Promise<void> {
    try {
      this.info = await this.api.call('app:info', {});
      this.historyWrites = this.info.historyWrites;
      this.infoError = null;
      this.runOn.adopt(this.info.runOn);
    } catch (error) {
      this.infoError = errorInfo(error);
    }
    await Promise.all([this.history.refresh(), this.sweeps.refresh()]);
    // A page opened (or reloaded) while a run goes on follows that run.
    if (this.monitor.runId === null) {
      const live = this.history.runs.find((r) => r.status === 'running') ?? this.history.runs.find((r) => r.status === 'queued');
      if (live !== undefined) await this.monitor.open(live.id);
    }
  }

  /** The transport's state; after a reconnect, what may have been missed is reloaded. */
  setConnection(state: ConnectionState): void {
    const wasDown = this.connection.kind !== 'open';
    this.connection = state;
    if (state.kind === 'open' && wasDown) {
      if (state.reconnected || this.info === null) void this.load();
      if (state.reconnected) {
        void this.monitor.resync();
        void this.results.refresh();
      }
    }
  }

  go(screen: Screen): void {
    this.screen = screen;
  }

  /** Opens a run from the history: a live one in the Train monitor, an ended one in Results. */
  async openRun(runId: number): Promise<void> {
    const run = this.history.runs.find((r) => r.id === runId);
    if (run !== undefined && (run.status === 'running' || run.status === 'queued')) {
      this.go('train');
      await this.monitor.open(runId);
      return;
    }
    this.go('results');
    await this.results.open(runId);
  }

  async resumeRun(runId: number): Promise<void> {
    const resumed = await this.history.resume(runId);
    if (resumed === null) return;
    this.go('train');
    await this.monitor.open(resumed);
  }

  async deleteRun(runId: number): Promise<void> {
    if (await this.history.remove(runId)) this.results.forget(runId);
  }

  /** The Train monitor's run, in Results. */
  async showResults(runId: number): Promise<void> {
    this.go('results');
    await this.results.open(runId);
  }

  /** Queues the sweep the "Compare α values…" dialog describes, and shows it. */
  async startSweep(): Promise<void> {
    const sweepId = await this.sweepSetup.start();
    if (sweepId === null) return;
    this.go('sweeps');
    await this.sweeps.open(sweepId);
  }

  dispose(): void {
    for (const u of this.unsubscribe) u();
    this.monitor.dispose();
    this.sweeps.dispose();
  }
}
