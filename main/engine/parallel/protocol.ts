import type { BackendKind } from '../../../shared/backend.js';
import type { SearchConfig, SearchPhase } from '../../../shared/dan.js';
import type { StepRates } from '../../../shared/schedules.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import type { GroupLayout } from './replica-group.js';
import type { ReplicaState } from './replica-state.js';

/** What a replica trains: the run's own config (a replica never reads data; the leader sends its shard). */
export type ReplicaTask = { kind: 'train'; config: TrainConfig } | { kind: 'search'; config: SearchConfig };

export interface ReplicaInit {
  buffer: SharedArrayBuffer;
  layout: GroupLayout;
  index: number;
  backend: BackendKind;
  task: ReplicaTask;
}

/** One step's shard: NHWC images, labels, and what the leader's step uses (the same for every replica). */
export interface StepShard {
  type: 'step';
  x: Float32Array;
  y: Int32Array;
  count: number;
  share: number;
  progress: number;
  rates: StepRates;
  /** DAN: the temperature and this step's Gumbel noise. */
  tau: number | null;
  noise: Array<[string, Float32Array]> | null;
  /** DAN: which step (absent: the paper's joint step) and η's learning rate (absent: the config's). */
  phase?: SearchPhase;
  etaLr?: number;
}

/** One evaluation batch's shard: measure these paths on it, then add up the figures in the group. */
export interface EvaluationShard {
  type: 'evaluate';
  x: Float32Array;
  y: Int32Array;
  count: number;
  full: boolean;
  /** The small path as trained (the run's plan), or a DAN search's under softmax(η/τ) masks at `softTau`. */
  small: boolean;
  softTau: number | null;
  /** Classes of the confusion matrix this shard also counts (0: none). */
  confusionClasses: number;
}

export type ToReplica = { type: 'state'; state: ReplicaState } | StepShard | EvaluationShard | { type: 'stop' };

export type FromReplica = { type: 'ready' } | { type: 'failed'; message: string };
