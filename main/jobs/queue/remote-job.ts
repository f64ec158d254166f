import type { BackendInfo } from '../../../shared/backend.js';
import { searchConfig, trainConfig, importSettings } from '../../../shared/config-codecs.js';
import type { SearchConfig } from '../../../shared/dan.js';
import { arr, type Decoder, int, nullable, obj, oneOf, str, tagged } from '../../../shared/decode.js';
import { backendInfo } from '../../../shared/event-codecs.js';
import type { TrainConfig } from '../../../shared/train-config.js';
import type { DataRequest } from '../job-spec.js';

/**
 * What travels in a BullMQ job: one run, with its full validated config,
 * its data named by path (as the workers see it) and content key, and how
 * big a checkpoint may be to travel. Both sides decode it before use: the
 * worker takes nothing from Redis on trust.
 */
export const REMOTE_FORMAT = 1;

export type RemoteRunSpec = { kind: 'train'; config: TrainConfig } | { kind: 'search'; config: SearchConfig; thenTrain: number | null };

export interface RemoteRunJob {
  format: typeof REMOTE_FORMAT;
  /** The run's id in the submitter's history (names it in messages). */
  runId: number;
  /** Who submitted it: the host and its history. */
  submitter: string;
  run: RemoteRunSpec;
  data: DataRequest;
  /** The dataset's content key on the submitting machine: a worker whose copy differs refuses the run. */
  contentKey: string;
  /** Checkpoints larger than this do not travel (the outputs always do). */
  transferLimitBytes: number;
  /** A standard run's kd students (their job ids): each gets a copy of its network when it finishes. */
  students: string[];
}

/** A flow's parent: once its child (a standard run) has finished, it puts the kd runs it teaches on the queue. */
export interface ReleaseJob {
  format: typeof REMOTE_FORMAT;
  teacher: string;
  students: Array<{ jobId: string; data: RemoteRunJob }>;
}

/** A file that travelled back, by its path in the run's folder. */
export interface TravelledFile {
  path: string;
  bytes: number;
}

/** What a run job returns when it completes. */
export interface RunJobResult {
  status: 'finished' | 'cancelled';
  files: TravelledFile[];
  /** Checkpoints over the size limit: they stayed on the worker. */
  withheld: TravelledFile[];
}

/** Who ran an attempt. */
export interface WorkerIdentity {
  name: string;
  host: string;
}

/** What a worker says about itself while it lives (`adjoin:workers:<name>`, with a time to live). */
export interface WorkerAnnouncement extends WorkerIdentity {
  pid: number;
  backend: BackendInfo;
  cores: number;
  concurrency: number;
  startedAt: number;
  heartbeatAt: number;
  /** The jobs it is running. */
  jobs: string[];
}

const dataRequest: Decoder<DataRequest> = obj({
  source: str,
  limitTrain: nullable(int),
  limitVal: nullable(int),
  import: nullable(importSettings),
});

const remoteRunSpec: Decoder<RemoteRunSpec> = tagged('kind', {
  train: obj({ kind: oneOf(['train'] as const), config: trainConfig }),
  search: obj({ kind: oneOf(['search'] as const), config: searchConfig, thenTrain: nullable(int) }),
});

export const remoteRunJob: Decoder<RemoteRunJob> = obj({
  format: oneOf([REMOTE_FORMAT] as const),
  runId: int,
  submitter: str,
  run: remoteRunSpec,
  data: dataRequest,
  contentKey: str,
  transferLimitBytes: int,
  students: arr(str),
});

export const releaseJob: Decoder<ReleaseJob> = obj({
  format: oneOf([REMOTE_FORMAT] as const),
  teacher: str,
  students: arr(obj({ jobId: str, data: remoteRunJob })),
});

const travelled: Decoder<TravelledFile> = obj({ path: str, bytes: int });

export const runJobResult: Decoder<RunJobResult> = obj({
  status: oneOf(['finished', 'cancelled'] as const),
  files: arr(travelled),
  withheld: arr(travelled),
});

export const workerIdentity: Decoder<WorkerIdentity> = obj({ name: str, host: str });

export const workerAnnouncement: Decoder<WorkerAnnouncement> = obj({
  name: str,
  host: str,
  pid: int,
  backend: backendInfo,
  cores: int,
  concurrency: int,
  startedAt: int,
  heartbeatAt: int,
  jobs: arr(str),
});

/** A BullMQ job id may not contain ':' (its key separator). */
export function runJobId(submitter: string, runId: number, generation: number): string {
  return `${submitter}-run${runId}-g${generation}`;
}

export function releaseJobId(submitter: string, teacherRunId: number, generation: number): string {
  return `${submitter}-teach${teacherRunId}-g${generation}`;
}
