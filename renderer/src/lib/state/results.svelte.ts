import type { ApiClient } from '../../../../shared/api.js';
import type { ExportFormat, Precision } from '../../../../shared/export.js';
import type { ModelDetails, RunDetails } from '../../../../shared/history.js';
import { joinFolder, variantFolder } from '../export-matrix.js';
import { errorInfo, type ErrorInfo } from './errors.js';

export interface ExportSettings {
  /** Also write the full network (into the variant's `full/`), for comparison. */
  full: boolean;
  /** The folder each variant is written under, in its own subfolder (`onnx-int8/`…). */
  outDir: string;
}

/** The Results screen: one run's figures from the history, and its exports. */
export class ResultsState {
  runId = $state<number | null>(null);
  details = $state.raw<RunDetails | null>(null);
  loading = $state(false);
  error = $state.raw<ErrorInfo | null>(null);

  exportSettings = $state<ExportSettings>({ full: true, outDir: '' });
  /** The variant being exported (`onnx-int8`…), or null. */
  exporting = $state<string | null>(null);
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

  /** The folder holds files Adjoin did not write: why, and the variant to export again once the user agrees to replace them. */
  overwriteQuestion = $state.raw<{ message: string; format: ExportFormat; precision: Precision } | null>(null);

  /**
   * Exports one variant into its own subfolder of the chosen folder, checked and timed by the main side;
   * `overwrite` once the user agreed to replace files Adjoin did not write.
   */
  async export(format: ExportFormat, precision: Precision, overwrite = false): Promise<void> {
    const runId = this.runId;
    const s = $state.snapshot(this.exportSettings);
    this.overwriteQuestion = null;
    if (runId === null || this.exporting !== null) return;
    if (s.outDir.trim() === '') {
      this.exportError = { message: 'choose the folder to export to', field: 'outDir' };
      return;
    }
    const variant = variantFolder(format, precision);
    this.exporting = variant;
    this.exportError = null;
    try {
      this.lastExport = await this.api.call('runs:export', { runId, format, precision, full: s.full, outDir: joinFolder(s.outDir.trim(), variant), overwrite });
      await this.refresh();
    } catch (error) {
      const info = errorInfo(error);
      if (info.field === 'overwrite') this.overwriteQuestion = { message: info.message, format, precision };
      else this.exportError = { message: info.message, field: info.field ?? 'outDir' };
    } finally {
      this.exporting = null;
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
