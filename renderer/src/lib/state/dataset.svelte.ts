import type { ApiClient } from '../../../../shared/api.js';
import type { DatasetScan } from '../../../../shared/dataset.js';
import { errorInfo, type ErrorInfo } from './errors.js';

/** The Dataset screen: the folder the user picked and what a scan of it found. */
export class DatasetState {
  /** The folder path field (the browser shell types it; the desktop app fills it from a drop or the picker). */
  path = $state('');
  /** The path the current scan was made of: what a run will read. */
  source = $state<string | null>(null);
  scan = $state.raw<DatasetScan | null>(null);
  scanning = $state(false);
  error = $state.raw<ErrorInfo | null>(null);
  /** Why a drop did not give a path (the browser cannot tell a folder's path). */
  dropNote = $state<string | null>(null);

  readonly usable = $derived(this.scan?.verdict.usable === true);
  readonly classCount = $derived(this.scan?.classes.length ?? 0);

  private sequence = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly onScanned: (scan: DatasetScan) => void,
  ) {}

  async scanFolder(path: string): Promise<void> {
    const trimmed = path.trim();
    if (trimmed === '') {
      this.error = { message: 'type the path of a folder of images', field: 'path' };
      return;
    }
    const mine = ++this.sequence;
    this.path = trimmed;
    this.scanning = true;
    this.error = null;
    this.dropNote = null;
    try {
      const scan = await this.api.call('dataset:scan', { path: trimmed });
      if (mine !== this.sequence) return;
      this.scan = scan;
      this.source = trimmed;
      this.onScanned(scan);
    } catch (error) {
      if (mine !== this.sequence) return;
      this.scan = null;
      this.source = null;
      const info = errorInfo(error);
      this.error = { message: info.message, field: info.field ?? 'path' };
    } finally {
      if (mine === this.sequence) this.scanning = false;
    }
  }

  async chooseFolder(): Promise<void> {
    try {
      const { path } = await this.api.call('dialog:choose-folder', { title: 'Choose a folder of images' });
      if (path !== null) await this.scanFolder(path);
    } catch (error) {
      this.error = errorInfo(error);
    }
  }
}
