import type { ImportProgress } from '../../../shared/dataset.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { DatasetInput } from '../../../shared/history.js';
import type { SerializedError } from '../../../shared/errors.js';
import type { StopRequest } from '../../../shared/stop.js';
import type { JobSpec } from '../job-spec.js';
import { forkLauncher, jobProcessEntry, type JobChild, type Launcher } from './launcher.js';
import { parseFromJob, type JobOutcome } from '../protocol.js';

/** How a job ended, seen from the host: the engine's outcome, an error, or a crash of its process. */
export type JobResult = JobOutcome | { status: 'error'; error: SerializedError } | { status: 'crashed'; message: string };

export interface JobHandle {
  readonly pid: number | undefined;
  stop(request: StopRequest): void;
  /** Ends the process at once (the app quitting without waiting). */
  kill(): void;
  readonly done: Promise<JobResult>;
}

export interface HostOptions {
  onEvent(event: EngineEvent): void;
  onLog?(level: 'info' | 'warn', message: string): void;
  onDataset?(dataset: DatasetInput): void;
  onImportProgress?(path: string, progress: ImportProgress): void;
  launcher?: Launcher;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a job in a process of its own and relays its events. If the process
 * dies before reporting an end — a native abort, an out-of-memory kill — the
 * result says so, and the host goes on.
 */
export function hostJob(spec: JobSpec, options: HostOptions): JobHandle {
  const launch = options.launcher ?? forkLauncher;
  const child: JobChild = launch(jobProcessEntry(), options.env ?? process.env);
  let seq = 0;
  let result: JobResult | null = null;
  let lastSeq = -1;
  const done = new Promise<JobResult>((resolve) => {
    child.onMessage((raw) => {
      const msg = parseFromJob(raw);
      if (msg === null) {
        options.onLog?.('warn', 'job process sent a malformed message');
        return;
      }
      if (msg.seq <= lastSeq) options.onLog?.('warn', `job process message ${msg.seq} arrived after ${lastSeq}`);
      lastSeq = msg.seq;
      switch (msg.type) {
        case 'event':
          options.onEvent(msg.event);
          break;
        case 'log':
          options.onLog?.(msg.level, msg.message);
          break;
        case 'dataset':
          options.onDataset?.(msg.dataset);
          break;
        case 'import-progress':
          options.onImportProgress?.(msg.path, msg.progress);
          break;
        case 'done':
          result = msg.outcome;
          break;
        case 'error':
          result = { status: 'error', error: msg.error };
          break;
      }
    });
    child.onExit((code, signal) => {
      if (result !== null) {
        resolve(result);
        return;
      }
      const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
      resolve({ status: 'crashed', message: `the engine process ended unexpectedly (${how})` });
    });
  });
  child.send({ type: 'start', seq: seq++, spec });
  return {
    pid: child.pid,
    stop: (request) => child.send({ type: 'stop', seq: seq++, request }),
    kill: () => child.kill(),
    done,
  };
}
