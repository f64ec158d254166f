/**
 * The files a run leaves in its folder (README, "A finished run leaves"):
 * the engine writes them, the host looks for them (to resume, to export).
 */
export const RUN_FILES = {
  /** Weights, optimizer state and position; the one before it is kept as `<name>.prev`. */
  checkpoint: 'checkpoint.ckpt',
  /** The trained network (shared weights, both paths' batch norms). */
  network: 'network.adjoin',
  /** The extracted small network. */
  small: 'small.adjoin',
  /** The small network as a TF.js layers model. */
  smallTfjs: 'small-tfjs',
  summary: 'run.json',
  /** A DAN search's answer. */
  search: 'search.json',
} as const;

export const CHECKPOINT_FILE = RUN_FILES.checkpoint;
