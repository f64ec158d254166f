import { InputError, serializeError } from '../../shared/errors.js';
import type { StopRequest } from '../../shared/stop.js';
import type { JobChild, Launcher } from '../../main/jobs/host/launcher.js';
import type { JobSpec } from '../../main/jobs/job-spec.js';
import { parseToJob, type FromJob, type Unsequenced } from '../../main/jobs/protocol.js';
import { runJob } from '../../main/jobs/worker/run-job.js';

/** A job as a test sees it before each of its steps: what it runs, and a promise that settles when the host asks it to stop. */
export interface JobView {
  spec: JobSpec;
  stopped: Promise<void>;
}

/**
 * Runs jobs in the test's own process, through the same protocol the job
 * process speaks, so a test can hold a run at a step of its choosing — it
 * returns a promise from `beforeStep` — instead of hoping a run is still
 * going (or already done) when it looks.
 */
export function inProcessLauncher(beforeStep: (job: JobView, globalStep: number) => void | Promise<void>): Launcher {
  return () => {
    const handlers: Array<(m: unknown) => void> = [];
    const exits: Array<(code: number | null, signal: string | null) => void> = [];
    let seq = 0;
    let stop: StopRequest | null = null;
    let markStopped!: () => void;
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    const send = (m: Unsequenced<FromJob>): void => {
      const message = { ...m, seq: seq++ };
      // Asynchronously, as a message from another process arrives.
      setImmediate(() => handlers.forEach((h) => h(message)));
    };
    const child: JobChild = {
      pid: undefined,
      send: (raw) => {
        const msg = parseToJob(raw);
        if (msg === null) return;
        if (msg.type === 'stop') {
          stop = msg.request;
          markStopped();
          return;
        }
        const job: JobView = { spec: msg.spec, stopped };
        runJob(msg.spec, {
          emit: (event) => send({ type: 'event', event }),
          log: (level, message) => send({ type: 'log', level, message }),
          dataset: (dataset) => send({ type: 'dataset', dataset }),
          importProgress: (path, progress) => send({ type: 'import-progress', path, progress }),
          stopRequested: () => stop,
          beforeStep: (globalStep) => beforeStep(job, globalStep),
        })
          .then(
            (outcome) => send({ type: 'done', outcome }),
            (e: unknown) => {
              const error = serializeError(e);
              if (!(e instanceof InputError)) error.code ??= 'engine';
              send({ type: 'error', error });
            },
          )
          // After the last message is delivered (they go out in order).
          .finally(() => setImmediate(() => exits.forEach((h) => h(0, null))));
      },
      onMessage: (h) => handlers.push(h),
      onExit: (h) => exits.push(h),
      kill: () => markStopped(),
    };
    return child;
  };
}

/** A promise a test resolves when it is ready to let something go on. */
export function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}
