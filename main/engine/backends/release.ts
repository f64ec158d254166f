/**
 * What a backend must undo before its process ends. Dawn keeps a process
 * alive while its GPU object is referenced, and a device left undestroyed
 * can fault at exit, so a job, a CLI command or a test worker calls
 * `releaseBackends` when it is done. Light on purpose: a process that never
 * loaded TensorFlow.js can call it without loading it.
 */
const releases: Array<() => void> = [];

export function onRelease(release: () => void): void {
  releases.push(release);
}

/** Undoes every backend's set-up, newest first; safe to call more than once. */
export function releaseBackends(): void {
  while (releases.length > 0) {
    const release = releases.pop()!;
    try {
      release();
    } catch (e) {
      process.emitWarning(`releasing a compute backend failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
