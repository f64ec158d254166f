import type { ImportPhase, ImportProgress } from '../../../shared/dataset.js';

/**
 * Turns counts into throttled progress reports with a rate and an ETA, so a
 * listener (a progress bar, a worker message) gets a few updates a second,
 * not one per file.
 */
export class ProgressMeter {
  private readonly started = performance.now();
  private lastReport = -Infinity;

  constructor(
    private readonly phase: ImportPhase,
    private readonly total: number,
    private readonly listener: ((p: ImportProgress) => void) | undefined,
    private readonly everyMs: number = 100,
  ) {}

  update(done: number, skipped = 0, force = false): void {
    if (this.listener === undefined) return;
    const now = performance.now();
    if (!force && done < this.total && now - this.lastReport < this.everyMs) return;
    this.lastReport = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    this.listener({
      phase: this.phase,
      done,
      total: this.total,
      skipped,
      filesPerSecond: rate,
      etaSeconds: rate > 0 && done > 0 ? (this.total - done) / rate : null,
    });
  }
}
