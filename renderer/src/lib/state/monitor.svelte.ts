import type { ApiClient, ApiEvents } from '../../../../shared/api.js';
import type { ImportProgress } from '../../../../shared/dataset.js';
import type { EngineEvent } from '../../../../shared/events.js';
import type { RunKind } from '../../../../shared/history.js';
import { applyEvent, emptySeries, isOver, type RunSeries, seriesFromDetails } from '../run-series.js';
import { errorInfo, type ErrorInfo } from './errors.js';

/**
 * The run the Train screen follows. Its series is folded from `run:event`s;
 * a run opened while it runs is first rebuilt from the history, then follows
 * the events. Events that arrive before the run's id is known (a run can
 * start before `runs:start` answers) or while the history loads are held
 * and applied after, in order.
 */
export class MonitorState {
  runId = $state<number | null>(null);
  kind = $state<RunKind>('train');
  series = $state.raw<RunSeries>(emptySeries());
  /**
   * The data folder the run reads, as sent and as the main side resolved it
   * (it reports the import's progress under the resolved, real path).
   */
  dataPaths = $state.raw<string[]>([]);
  importProgress = $state.raw<ImportProgress | null>(null);
  loading = $state(false);
  cancelling = $state(false);
  error = $state.raw<ErrorInfo | null>(null);

  readonly active = $derived(this.runId !== null && !isOver(this.series));
  readonly over = $derived(isOver(this.series));

  /** Events held until the run id is known (starting) or the history has loaded (opening). */
  private held: Array<ApiEvents['run:event']> = [];
  private holding: 'none' | 'unknown-id' | 'loading' = 'none';
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly api: ApiClient) {
    this.unsubscribe.push(
      api.on('run:event', (p) => this.onRunEvent(p)),
      api.on('dataset:progress', (p) => {
        if (this.dataPaths.includes(p.path) && this.series.phase === null && !isOver(this.series)) {
          this.importProgress = p.progress;
        }
      }),
    );
  }

  dispose(): void {
    for (const u of this.unsubscribe) u();
  }

  /** Before `runs:start`/`runs:search` is sent: hold events until its id comes back. */
  expectRun(kind: RunKind, dataPaths: string[]): void {
    this.runId = null;
    this.kind = kind;
    this.dataPaths = dataPaths;
    this.series = emptySeries();
    this.importProgress = null;
    this.error = null;
    this.cancelling = false;
    this.holding = 'unknown-id';
    this.held = [];
  }

  /** The start call answered with this run's id. */
  attach(runId: number): void {
    this.runId = runId;
    this.release();
  }

  /** The start call failed: nothing to follow. */
  abandon(): void {
    this.holding = 'none';
    this.held = [];
    this.dataPaths = [];
  }

  /** Follows a run from the history (a running one opened, or one just resumed). */
  async open(runId: number): Promise<void> {
    this.runId = runId;
    this.series = emptySeries();
    this.importProgress = null;
    this.error = null;
    this.cancelling = false;
    this.holding = 'loading';
    this.held = [];
    this.loading = true;
    try {
      const details = await this.api.call('runs:show', { runId });
      if (this.runId !== runId) return;
      this.kind = details.run.kind;
      this.dataPaths = details.dataset === null ? [] : [details.dataset.path];
      this.series = seriesFromDetails(details);
    } catch (error) {
      if (this.runId === runId) this.error = errorInfo(error);
    } finally {
      if (this.runId === runId) {
        this.loading = false;
        this.release();
      }
    }
  }

  /** After the connection came back: events may have been missed, so rebuild from the history. */
  async resync(): Promise<void> {
    if (this.runId !== null && !this.loading) await this.open(this.runId);
  }

  async cancel(): Promise<void> {
    if (this.runId === null) return;
    this.cancelling = true;
    this.error = null;
    try {
      const { status } = await this.api.call('runs:cancel', { runId: this.runId });
      // A queued run is dropped without an engine event: take the answer's word for it.
      if (status === 'cancelled' && !isOver(this.series)) this.series = { ...this.series, status: 'cancelled' };
    } catch (error) {
      this.error = errorInfo(error);
    } finally {
      this.cancelling = false;
    }
  }

  private release(): void {
    const held = this.held;
    this.held = [];
    this.holding = 'none';
    for (const p of held) this.onRunEvent(p);
  }

  private onRunEvent(p: ApiEvents['run:event']): void {
    if (this.holding !== 'none') {
      if (this.holding === 'unknown-id' || p.runId === this.runId) this.held.push(p);
      return;
    }
    if (p.runId !== this.runId) return;
    this.apply(p.event);
  }

  private apply(event: EngineEvent): void {
    this.series = applyEvent(this.series, event);
    if (event.type === 'started' || event.type === 'search-started') this.importProgress = null;
  }
}
