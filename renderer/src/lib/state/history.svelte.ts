import type { ApiClient } from '../../../../shared/api.js';
import type { RunDetails, RunRecord } from '../../../../shared/history.js';
import { errorInfo, type ErrorInfo } from './errors.js';

/** The History screen: every run, the two chosen for comparison, and their details. */
export class HistoryState {
  runs = $state.raw<RunRecord[]>([]);
  loaded = $state(false);
  loading = $state(false);
  error = $state.raw<ErrorInfo | null>(null);
  /** Run ids ticked for comparison (at most two; a third replaces the oldest). */
  selected = $state<number[]>([]);
  comparison = $state.raw<[RunDetails, RunDetails] | null>(null);
  comparing = $state(false);
  /** A run id whose action (delete, resume) is in flight. */
  busy = $state<number | null>(null);

  private inFlight: Promise<void> | null = null;
  private again = false;

  constructor(private readonly api: ApiClient) {}

  /**
   * Reloads the list. `runs:changed` can come in bursts (a run's start and
   * its first epoch): calls during a load coalesce into one more load after it.
   */
  refresh(): Promise<void> {
    if (this.inFlight !== null) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.load().finally(() => {
      this.inFlight = null;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    this.loading = true;
    try {
      this.runs = await this.api.call('runs:list', {});
      this.error = null;
      this.loaded = true;
      const ids = new Set(this.runs.map((r) => r.id));
      this.selected = this.selected.filter((id) => ids.has(id));
    } catch (error) {
      this.error = errorInfo(error);
    } finally {
      this.loading = false;
    }
  }

  toggle(runId: number): void {
    if (this.selected.includes(runId)) this.selected = this.selected.filter((id) => id !== runId);
    else this.selected = [...this.selected, runId].slice(-2);
  }

  async compare(): Promise<void> {
    const [a, b] = this.selected;
    if (a === undefined || b === undefined) return;
    this.comparing = true;
    this.error = null;
    try {
      const [da, db] = await Promise.all([this.api.call('runs:show', { runId: a }), this.api.call('runs:show', { runId: b })]);
      this.comparison = [da, db];
    } catch (error) {
      this.error = errorInfo(error);
    } finally {
      this.comparing = false;
    }
  }

  closeComparison(): void {
    this.comparison = null;
  }

  async remove(runId: number): Promise<boolean> {
    this.busy = runId;
    this.error = null;
    try {
      const { deleted } = await this.api.call('runs:delete', { runId });
      this.selected = this.selected.filter((id) => id !== runId);
      if (this.comparison?.some((d) => d.run.id === runId)) this.comparison = null;
      await this.refresh();
      return deleted;
    } catch (error) {
      this.error = errorInfo(error);
      return false;
    } finally {
      this.busy = null;
    }
  }

  /** Continues a run from its last checkpoint; the id of the run that continues it. */
  async resume(runId: number): Promise<number | null> {
    this.busy = runId;
    this.error = null;
    try {
      const { runId: resumed } = await this.api.call('runs:resume', { runId });
      await this.refresh();
      return resumed;
    } catch (error) {
      this.error = errorInfo(error);
      return null;
    } finally {
      this.busy = null;
    }
  }
}
