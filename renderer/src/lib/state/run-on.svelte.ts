import type { ApiClient, QueueCheck, RunOn } from '../../../../shared/api.js';
import { parseQueueUrl } from '../../../../shared/queue-url.js';
import { errorInfo, type ErrorInfo } from './errors.js';

/**
 * "Run on": this machine, or a queue of `adjoin worker`s at a Redis URL. One
 * choice for the Train screen and the sweep dialog, remembered by the main
 * side for the next launch.
 */
export class RunOnState {
  useQueue = $state(false);
  url = $state('');
  checking = $state(false);
  /** The last check of the queue: its server and live workers. */
  check = $state.raw<QueueCheck | null>(null);
  error = $state.raw<ErrorInfo | null>(null);

  constructor(private readonly api: ApiClient) {}

  adopt(r: RunOn): void {
    this.useQueue = r.useQueue;
    this.url = r.url;
  }

  /** Where the next run goes: a queue URL, or undefined for this machine. A URL that does not parse is an error naming the field `queue`. */
  target(): string | undefined {
    return this.useQueue ? parseQueueUrl(this.url, 'queue').url : undefined;
  }

  choose(useQueue: boolean): void {
    this.useQueue = useQueue;
    this.check = null;
    this.error = null;
    void this.remember();
  }

  /** Connects to the queue and lists its workers (a wrong password comes back as a clear error). */
  async probe(): Promise<void> {
    this.checking = true;
    this.error = null;
    this.check = null;
    try {
      const url = parseQueueUrl(this.url, 'queue').url;
      this.check = await this.api.call('queue:check', { url });
      await this.remember();
    } catch (error) {
      this.error = errorInfo(error);
    } finally {
      this.checking = false;
    }
  }

  /** Keeps the choice for the next launch; a URL that does not parse yet is not kept. */
  async remember(): Promise<void> {
    try {
      await this.api.call('queue:remember', { useQueue: this.useQueue, url: this.url });
    } catch {
      // Not remembered (a half-typed URL, a read-only history): the choice still holds for this session.
    }
  }
}
