import type { ApiClient } from '../../../../shared/api.js';
import type { SystemReport } from '../../../../shared/system.js';
import { errorInfo, type ErrorInfo } from './errors.js';

/**
 * The System screen: the report of `adjoin doctor`, fetched when the screen
 * is first opened (it starts a probe process, a few seconds) and again on
 * request.
 */
export class SystemState {
  report = $state.raw<SystemReport | null>(null);
  loading = $state(false);
  error = $state.raw<ErrorInfo | null>(null);

  constructor(private readonly api: ApiClient) {}

  /** Checks again; a check already in flight is not started twice. */
  async refresh(): Promise<void> {
    if (this.loading) return;
    this.loading = true;
    try {
      this.report = await this.api.call('system:report', {});
      this.error = null;
    } catch (error) {
      this.error = errorInfo(error);
    } finally {
      this.loading = false;
    }
  }

  /** On the first visit: check once. */
  async ensure(): Promise<void> {
    if (this.report === null && this.error === null) await this.refresh();
  }
}
