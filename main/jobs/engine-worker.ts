import { parentPort } from 'node:worker_threads';
import { InputError, serializeError } from '../../shared/errors.js';
import type { EngineEvent } from '../../shared/events.js';
import type { StopRequest } from '../engine/loop.js';
import { parseToJob, type FromJob, type Unsequenced } from './protocol.js';
import { runJob } from './run-job.js';
import { heldMessage, holdUntilReleased } from './test-hold.js';

/**
 * The engine's worker thread (the client asked for training off the main
 * thread). Receives one `start`, streams events, honours `stop`, ends with
 * `done` or `error`.
 */
const port = parentPort;
if (port === null) throw new Error('engine-worker must run as a worker thread');

let seq = 0;
const send = (m: Unsequenced<FromJob>): void => port.postMessage({ ...m, seq: seq++ });
let stop: StopRequest | null = null;
let started = false;

port.on('message', (raw: unknown) => {
  const msg = parseToJob(raw);
  if (msg === null) {
    send({ type: 'log', level: 'warn', message: `engine worker: ignored a malformed message` });
    return;
  }
  if (msg.type === 'stop') {
    stop = msg.request;
    return;
  }
  if (started) {
    send({ type: 'log', level: 'warn', message: 'engine worker: a job is already running' });
    return;
  }
  started = true;
  const spec = msg.spec;
  const hooks = process.env['ADJOIN_TEST_HOOKS'] === '1' && 'testHooks' in spec ? spec.testHooks : undefined;
  const abortAt = hooks?.abortAtStep;
  const hold = hooks?.hold;
  const emit = (event: EngineEvent): void => send({ type: 'event', event });
  runJob(spec, {
    emit,
    log: (level, message) => send({ type: 'log', level, message }),
    dataset: (dataset) => send({ type: 'dataset', dataset }),
    importProgress: (path, progress) => send({ type: 'import-progress', path, progress }),
    stopRequested: () => stop,
    ...(abortAt === undefined && hold === undefined
      ? {}
      : {
          beforeStep: (step: number) => {
            // A native abort, as libtensorflow raises on a CUDA fault, takes the whole
            // process down. process.abort() is not available in worker threads, so the
            // hook raises the same SIGABRT at the process.
            if (step === abortAt) process.kill(process.pid, 'SIGABRT');
            if (hold !== undefined && step === hold.atStep) {
              emit({ type: 'log', time: Date.now(), level: 'info', message: heldMessage(step) });
              holdUntilReleased(hold.releaseFile);
            }
          },
        }),
  })
    .then((outcome) => send({ type: 'done', outcome }))
    .catch((e: unknown) => {
      const error = serializeError(e);
      if (!(e instanceof InputError)) error.code ??= 'engine';
      send({ type: 'error', error });
    })
    // One job per worker: closing the port lets the thread, then its process, end.
    .finally(() => port.close());
});
