import type { ApiClient } from '../../../../shared/api.js';
import type { ExportFormat } from '../../../../shared/export.js';
import type { ModelDetails, RunDetails } from '../../../../shared/history.js';
import { errorInfo, type ErrorInfo } from './errors.js';

export interface ExportSettings {
  format: ExportFormat;
  fp16: boolean;
  /** Also write the full network (for comparison; it gives the measured speed-up a reference). */
  full: boolean;
  outDir: string;
}

/** The Results screen: one run's figures from the history, and its exports. */
export class ResultsState {
  runId = $state<number | null>(null);
  details = $state.raw<RunDetails | null>(null);
  loading = $state(false);
  error = $state.raw<ErrorInfo | null>(null);

  exportSettings = $state<ExportSettings>({ format: 'onnx', fp16: false, full: true, outDir: '' });
  exporting = $state(false);
  exportError = $state.raw<ErrorInfo | null>(null);
  /** The models the last export wrote, for "reveal in folder". */
  lastExport = $state.raw<ModelDetails[] | null>(null);

  private sequence = 0;

  constructor(private readonly api: ApiClient) {}

  async open(runId: number): Promise<void> {
    if (this.runId !== runId) {
      this.lastExport = null;
      this.exportError = null;
    }
    this.runId = runId;
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const runId = this.runId;
    if (runId === null) return;
    const mine = ++this.sequence;
    this.loading = true;
    this.error = null;
    try {
      const details = await this.api.call('runs:show', { runId });
      if (mine === this.sequence) this.details = details;
    } catch (error) {
      if (mine === this.sequence) {
        this.details = null;
        this.error = errorInfo(error);
      }
    } finally {
      if (mine === this.sequence) this.loading = false;
    }
  }

  /** Forgets a run that was deleted. */
  forget(runId: number): void {
    if (this.runId !== runId) return;
    this.runId = null;
    this.details = null;
    this.lastExport = null;
  }

  async chooseOutDir(): Promise<void> {
    try {
      const { path } = await this.api.call('dialog:choose-folder', { title: 'Export the model to…' });
      if (path !== null) this.exportSettings.outDir = path;
    } catch (error) {
      this.exportError = errorInfo(error);
    }
  }

  /** The folder holds files Adjoin did not write: why, while the page asks whether to replace them. */
  overwriteQuestion = $state.raw<string | null>(null);

  /** Exports with the settings; `overwrite` once the user agreed to replace files Adjoin did not write. */
  async export(overwrite = false): Promise<void> {
    const runId = this.runId;
    const s = $state.snapshot(this.exportSettings);
    this.overwriteQuestion = null;
    if (runId === null) return;
    if (s.outDir.trim() === '') {
      this.exportError = { message: 'choose the folder to export to', field: 'outDir' };
      return;
    }
    this.exporting = true;
    this.exportError = null;
    try {
      this.lastExport = await this.api.call('runs:export', { runId, format: s.format, fp16: s.fp16, full: s.full, outDir: s.outDir.trim(), overwrite });
      await this.refresh();
    } catch (error) {
      const info = errorInfo(error);
      if (info.field === 'overwrite') this.overwriteQuestion = info.message;
      else this.exportError = { message: info.message, field: info.field ?? 'outDir' };
    } finally {
      this.exporting = false;
    }
  }

  async reveal(path: string): Promise<void> {
    try {
      await this.api.call('shell:reveal', { path });
    } catch (error) {
      this.exportError = errorInfo(error);
    }
  }
}
