import type { ApiClient, SweepSummary } from '../../../../shared/api.js';
import type { SweepView } from '../../../../shared/sweep.js';
import { coalesced } from '../coalesce.js';
import { applyCellProgress } from '../sweep-view.js';
import { errorInfo, type ErrorInfo } from './errors.js';

/**
 * The Sweeps screen: every sweep, and the one open with its cells and
 * statistics. A cell's new state is shown as its `sweep:progress` arrives;
 * the statistics and the list are then fetched again (`sweeps:show`,
 * `sweeps:list`), as they are after a reconnect.
 */
export class SweepsState {
  list = $state.raw<SweepSummary[]>([]);
  loaded = $state(false);
  error = $state.raw<ErrorInfo | null>(null);
  sweepId = $state<number | null>(null);
  view = $state.raw<SweepView | null>(null);
  viewError = $state.raw<ErrorInfo | null>(null);
  /** A cancel or resume is in flight. */
  busy = $state(false);
  /** What the last cancel or resume found, when it was not what was asked. */
  notice = $state<string | null>(null);

  readonly refreshList = coalesced(() => this.fetchList());
  readonly refreshView = coalesced(() => this.fetchView());
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly api: ApiClient) {
    this.unsubscribe.push(
      api.on('sweep:progress', (p) => {
        if (this.view !== null) this.view = applyCellProgress(this.view, p);
        void this.refreshList();
        if (p.sweepId === this.sweepId) void this.refreshView();
      }),
      api.on('sweeps:changed', ({ sweepId }) => {
        void this.refreshList();
        if (sweepId === this.sweepId) void this.refreshView();
      }),
    );
  }

  dispose(): void {
    for (const u of this.unsubscribe) u();
  }

  /** Reloads the list and the open sweep (on load, and after the connection came back). */
  async refresh(): Promise<void> {
    await Promise.all([this.refreshList(), this.refreshView()]);
  }

  async open(sweepId: number): Promise<void> {
    if (this.sweepId !== sweepId) {
      this.view = null;
      this.notice = null;
    }
    this.sweepId = sweepId;
    this.viewError = null;
    await this.refreshView();
  }

  async cancel(): Promise<void> {
    const sweepId = this.sweepId;
    if (sweepId === null) return;
    await this.act(async () => {
      const { stopping } = await this.api.call('sweeps:cancel', { sweepId });
      // A sweep left "running" by an app that is gone is not this app's to stop; the next start marks it interrupted.
      if (!stopping) this.notice = `Sweep #${sweepId} is not running in this app, so there was nothing to stop.`;
    });
  }

  async resume(): Promise<void> {
    const sweepId = this.sweepId;
    if (sweepId === null) return;
    await this.act(async () => {
      await this.api.call('sweeps:resume', { sweepId });
    });
  }

  private async act(action: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.error = null;
    this.notice = null;
    try {
      await action();
    } catch (error) {
      this.error = errorInfo(error);
    } finally {
      this.busy = false;
    }
    await this.refresh();
  }

  private async fetchList(): Promise<void> {
    try {
      this.list = await this.api.call('sweeps:list', {});
      this.loaded = true;
      // The newest sweep is open until the user picks another.
      const newest = this.list[0];
      if (this.sweepId === null && newest !== undefined) void this.open(newest.sweepId);
    } catch (error) {
      this.error = errorInfo(error);
    }
  }

  private async fetchView(): Promise<void> {
    const sweepId = this.sweepId;
    if (sweepId === null) return;
    try {
      const view = await this.api.call('sweeps:show', { sweepId });
      if (this.sweepId !== sweepId) return;
      this.view = view;
      this.viewError = null;
    } catch (error) {
      if (this.sweepId === sweepId) this.viewError = errorInfo(error);
    }
  }
}
