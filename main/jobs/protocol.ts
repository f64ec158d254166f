import type { ImportProgress } from '../../shared/dataset.js';
import type { SerializedError } from '../../shared/errors.js';
import type { EngineEvent } from '../../shared/events.js';
import type { StopRequest } from '../../shared/stop.js';
import type { DatasetInput } from '../../shared/history.js';
import type { JobSpec } from './job-spec.js';

/**
 * Messages between the host (app, server, CLI), the job process and its
 * engine worker thread: discriminated unions, each with a sequence number so
 * a gap or reordering is visible (docs/ARCHITECTURE.md, "Conventions").
 */
export type ToJob = { type: 'start'; seq: number; spec: JobSpec } | { type: 'stop'; seq: number; request: StopRequest };

/** How a job ended, as the engine saw it; a scan or an import finishes with its result. */
export type JobOutcome =
  { status: 'finished'; value?: unknown } | { status: 'cancelled'; checkpoint: string | null } | { status: 'failed'; reason: string; message: string };

export type FromJob =
  | { type: 'event'; seq: number; event: EngineEvent }
  | { type: 'log'; seq: number; level: 'info' | 'warn'; message: string }
  /** The data a training job opened, for the history's dataset row. */
  | { type: 'dataset'; seq: number; dataset: DatasetInput }
  | { type: 'import-progress'; seq: number; path: string; progress: ImportProgress }
  | { type: 'done'; seq: number; outcome: JobOutcome }
  /** The job could not start or ended on an exception (bad input, unreadable data). */
  | { type: 'error'; seq: number; error: SerializedError };

/** A message before its sequence number is stamped (Omit does not distribute over a union). */
export type Unsequenced<M> = M extends unknown ? Omit<M, 'seq'> : never;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Checks a message that crossed a process or thread boundary before it is trusted. */
export function parseFromJob(v: unknown): FromJob | null {
  if (!isObject(v) || typeof v['seq'] !== 'number') return null;
  switch (v['type']) {
    case 'event':
      return isObject(v['event']) && typeof v['event']['type'] === 'string' ? (v as FromJob) : null;
    case 'log':
      return typeof v['message'] === 'string' && (v['level'] === 'info' || v['level'] === 'warn') ? (v as FromJob) : null;
    case 'dataset':
      return isObject(v['dataset']) && typeof v['dataset']['contentKey'] === 'string' ? (v as FromJob) : null;
    case 'import-progress':
      return typeof v['path'] === 'string' && isObject(v['progress']) ? (v as FromJob) : null;
    case 'done':
      return isObject(v['outcome']) && typeof v['outcome']['status'] === 'string' ? (v as FromJob) : null;
    case 'error':
      return isObject(v['error']) && typeof v['error']['message'] === 'string' ? (v as FromJob) : null;
    default:
      return null;
  }
}

export function parseToJob(v: unknown): ToJob | null {
  if (!isObject(v) || typeof v['seq'] !== 'number') return null;
  if (v['type'] === 'start' && isObject(v['spec']) && typeof v['spec']['kind'] === 'string') return v as ToJob;
  if (v['type'] === 'stop' && (v['request'] === 'cancel' || v['request'] === 'checkpoint-and-stop')) return v as ToJob;
  return null;
}
