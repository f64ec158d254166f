import { existsSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Resolves once `releaseFile` exists (a test creates it when it is done with
 * the held run), or at once if `stopped` settles first. The run's step loop
 * awaits it between two steps, so the job process still hears `stop`.
 */
export function releasedOrStopped(releaseFile: string, stopped: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dirname(releaseFile), (_event, name) => {
      if (name === basename(releaseFile) && existsSync(releaseFile)) done();
    });
    const done = (): void => {
      watcher.close();
      resolve();
    };
    void stopped.then(done);
    // It may have been made before the watch began.
    if (existsSync(releaseFile)) done();
  });
}
