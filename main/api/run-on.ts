import type { RunOn } from '../../shared/api.js';
import { parseQueueUrl } from '../../shared/queue-url.js';
import type { Store } from '../store/store.js';

const USE_QUEUE = 'run-on.use-queue';
const QUEUE_URL = 'run-on.queue-url';

/**
 * The "Run on" choice as the app last left it (this machine, the first
 * time, or when a damaged history cannot say: the app must still open).
 */
export function rememberedRunOn(store: Store): RunOn {
  try {
    return { useQueue: store.settings.get(USE_QUEUE) === 'yes', url: store.settings.get(QUEUE_URL) ?? '' };
  } catch {
    return { useQueue: false, url: '' };
  }
}

/** Keeps the choice for the next launch; a queue URL must parse (the password stays in the history, to reconnect). */
export function rememberRunOn(store: Store, r: RunOn): RunOn {
  if (r.useQueue || r.url.trim() !== '') parseQueueUrl(r.url, 'url');
  if (store.damage !== null) return r;
  store.transaction(() => {
    store.settings.set(USE_QUEUE, r.useQueue ? 'yes' : 'no');
    store.settings.set(QUEUE_URL, r.url.trim());
  });
  return { useQueue: r.useQueue, url: r.url.trim() };
}
