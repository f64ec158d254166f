import type { CellProgress, CellState, SweepCell } from '../../../shared/sweep.js';
import type { JobManager } from './manager.js';

/** Where a cell stands after a pass of a sweep's loop: still moving, settled, or settled as a failure (which makes the sweep fail). */
export type CellOutcome = 'open' | 'settled' | 'failed';

export type CellReporter = (cell: SweepCell, runId: number | null, state: CellState, error: string | null) => void;

/** Reports a cell's state to `onProgress` only when it changed since the last report: a sweep's loop reports every cell on every pass. */
export function changeReporter(sweepId: number, onProgress: ((p: CellProgress) => void) | undefined): CellReporter {
  const reported = new Map<string, string>();
  return (cell, runId, state, error) => {
    const sig = `${runId}:${state}:${error}`;
    if (reported.get(cell.key) === sig) return;
    reported.set(cell.key, sig);
    onProgress?.({ sweepId, cell, runId, state, error });
  };
}

/** Wakes a sweep's loop when runs change, or after half a second: stop requests are polled too, not only run changes. */
export function runChanges(manager: JobManager): { next: () => Promise<void>; close: () => void } {
  let wake: (() => void) | null = null;
  const close = manager.subscribe((e) => {
    if (e.type === 'runs:changed') wake?.();
  });
  const next = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 500).unref();
    });
    wake = null;
  };
  return { next, close };
}
