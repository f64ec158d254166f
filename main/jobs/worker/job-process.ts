import { InputError, serializeError } from '../../../shared/errors.js';
import type { StopRequest } from '../../../shared/stop.js';
import { parseToJob, type FromJob, type Unsequenced } from '../protocol.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { TestHooks } from '../job-spec.js';
import { heldMessage } from '../test-hooks.js';
import { releaseBackends } from '../../engine/backends/release.js';
import { runJob } from './run-job.js';
import { releasedOrStopped } from './test-hold.js';

/**
 * A job's own process: receives one `start`, runs the job on its main thread
 * (the engine yields between steps, so `stop` is heard), streams events and
 * ends with `done` or `error`. A native abort in the engine (libtensorflow on
 * a CUDA fault) kills this process, not the app, the server or the other
 * jobs; the host sees the exit and marks the run failed.
 *
 * Runs under child_process.fork (server, CLI) or Electron's utilityProcess,
 * whose parent channel is `process.parentPort`.
 */
interface ParentChannel {
  /** Resolves once the message has left this process. */
  send(message: FromJob): Promise<void>;
  onMessage(handler: (message: unknown) => void): void;
}

function parentChannel(): ParentChannel {
  const utility = (process as NodeJS.Process & { parentPort?: { postMessage(m: unknown): void; on(e: 'message', h: (e: { data: unknown }) => void): void } })
    .parentPort;
  if (utility !== undefined) {
    return {
      send: (m) => {
        utility.postMessage(m);
        return Promise.resolve();
      },
      onMessage: (h) => utility.on('message', (e) => h(e.data)),
    };
  }
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('job-process must be started with an IPC channel');
  return {
    send: (m) => new Promise((resolve) => void send(m, undefined, {}, () => resolve())),
    onMessage: (h) => process.on('message', h),
  };
}

// sharp must be loaded on the main thread before any worker (the image decoders) uses it.
await import('sharp');

const parent = parentChannel();
let seq = 0;
const send = (m: Unsequenced<FromJob>): Promise<void> => parent.send({ ...m, seq: seq++ } as FromJob);
let stop: StopRequest | null = null;
let started = false;

// Ctrl-C in a terminal reaches every process of its group: the host decides
// what it means (checkpoint and stop) and tells this process with `stop`.
process.on('SIGINT', () => undefined);
// A host that dies (killed, crashed) takes its jobs with it: an orphan would
// train on with nobody recording it, and its run is marked interrupted anyway.
process.on('disconnect', () => process.exit(1));

let markStopped!: () => void;
const stopped = new Promise<void>((resolve) => (markStopped = resolve));

/**
 * What the test hooks do before a step: abort the process as a CUDA fault
 * would, or hold the run (saying so: a test waits for that event) until the
 * test releases it or, with `holdAtStep`, until it is asked to stop.
 */
function testHook(hooks: TestHooks, step: number, emit: (event: EngineEvent) => void): Promise<void> | undefined {
  // A native abort, as libtensorflow raises on a CUDA fault, takes the whole process down.
  if (step === hooks.abortAtStep) process.kill(process.pid, 'SIGABRT');
  const held = (): void => emit({ type: 'log', time: Date.now(), level: 'info', message: heldMessage(step) });
  if (step === hooks.holdAtStep) {
    held();
    return stopped;
  }
  if (hooks.hold === undefined || step !== hooks.hold.atStep) return undefined;
  held();
  return releasedOrStopped(hooks.hold.releaseFile, stopped);
}

parent.onMessage((raw) => {
  const msg = parseToJob(raw);
  if (msg === null) {
    void send({ type: 'log', level: 'warn', message: 'job process: ignored a malformed message' });
    return;
  }
  if (msg.type === 'stop') {
    stop = msg.request;
    markStopped();
    return;
  }
  if (started) {
    void send({ type: 'log', level: 'warn', message: 'job process: a job is already running' });
    return;
  }
  started = true;
  const spec = msg.spec;
  const hooks = process.env['ADJOIN_TEST_HOOKS'] === '1' && 'testHooks' in spec ? spec.testHooks : undefined;
  const emit = (event: EngineEvent): void => void send({ type: 'event', event });
  runJob(spec, {
    emit,
    log: (level, message) => void send({ type: 'log', level, message }),
    dataset: (dataset) => void send({ type: 'dataset', dataset }),
    importProgress: (path, progress) => void send({ type: 'import-progress', path, progress }),
    stopRequested: () => stop,
    ...(hooks === undefined ? {} : { beforeStep: (step: number) => testHook(hooks, step, emit) }),
  })
    .then(
      (outcome) => send({ type: 'done', outcome }).then(() => 0),
      (e: unknown) => {
        const error = serializeError(e);
        if (!(e instanceof InputError)) error.code ??= 'engine';
        return send({ type: 'error', error }).then(() => 1);
      },
    )
    // One job per process: the last message has left, so it can end (a GPU backend released first: Dawn may hold the process).
    .then((code) => {
      releaseBackends();
      process.exit(code);
    });
});
