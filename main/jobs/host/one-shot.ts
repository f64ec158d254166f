import type { ImportProgress } from '../../../shared/dataset.js';
import { InputError, type SerializedError } from '../../../shared/errors.js';
import type { JobSpec, JobValues } from '../job-spec.js';
import { hostJob, type JobHandle, type JobResult } from './job-host.js';
import type { Launcher } from './launcher.js';

/** A job that ended on an error other than bad input: its error as the job process reported it. */
export class JobFailed extends Error {
  readonly code: string | undefined;
  constructor(readonly error: SerializedError) {
    super(error.message);
    this.name = error.name;
    this.code = error.code;
  }
}

export interface OneShotOptions {
  onImportProgress?: (path: string, progress: ImportProgress) => void;
  /** What the job says it is doing (an export's checking and timing take a while). */
  onLog?: (level: 'info' | 'warn', message: string) => void;
  /** Called once the job process is started: its handle, to stop it. */
  onStart?: (handle: JobHandle) => void;
  launcher?: Launcher | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

function subject(spec: JobSpec): string {
  switch (spec.kind) {
    case 'backend':
      return 'choosing a backend';
    case 'scan':
    case 'import':
      return spec.path;
    case 'open-data':
      return spec.data.source;
    case 'export':
      return `the export of run ${spec.run.id}`;
    case 'latency':
      return spec.dirs.join(', ');
    case 'train':
    case 'search':
      return spec.data.source;
  }
}

/**
 * Runs a job that answers once — a scan, an import, opening a dataset, an
 * export — in a process of its own, and returns its value. Bad input comes
 * back as an InputError (so every front end names the field at fault), any
 * other failure as JobFailed, a crash of the process with what it was doing.
 */
export async function runOneShot<K extends JobSpec['kind']>(spec: Extract<JobSpec, { kind: K }>, o: OneShotOptions = {}): Promise<JobValues[K]> {
  const handle = hostJob(spec, {
    onEvent: () => undefined,
    ...(o.onImportProgress === undefined ? {} : { onImportProgress: o.onImportProgress }),
    ...(o.onLog === undefined ? {} : { onLog: o.onLog }),
    ...(o.launcher === undefined ? {} : { launcher: o.launcher }),
    ...(o.env === undefined ? {} : { env: o.env }),
  });
  o.onStart?.(handle);
  const result: JobResult = await handle.done;
  switch (result.status) {
    case 'finished':
      // The job process is ours and answers a job of this kind with its value (see run-job.ts).
      return result.value as JobValues[K];
    case 'error':
      if (result.error.code === 'input') throw new InputError(result.error.message, result.error.field ?? 'input');
      throw new JobFailed(result.error);
    case 'crashed':
      throw new JobFailed({ name: 'EngineCrash', message: `${result.message} while working on ${subject(spec)}` });
    case 'cancelled':
      throw new InputError('cancelled', 'data');
    case 'failed':
      throw new JobFailed({ name: 'JobFailed', message: result.message });
  }
}
