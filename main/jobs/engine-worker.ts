import { parentPort } from 'node:worker_threads';
import { InputError, serializeError } from '../../shared/errors.js';
import type { StopRequest } from '../engine/loop.js';
import { parseToJob, type FromJob, type Unsequenced } from './protocol.js';
import { releaseBackends } from '../engine/backends/release.js';
import { runJob } from './run-job.js';

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
  runJob(spec, {
    emit: (event) => send({ type: 'event', event }),
    log: (level, message) => send({ type: 'log', level, message }),
    dataset: (dataset) => send({ type: 'dataset', dataset }),
    importProgress: (path, progress) => send({ type: 'import-progress', path, progress }),
    stopRequested: () => stop,
    ...(abortAt === undefined
      ? {}
      : {
          beforeStep: (step: number) => {
            // A native abort, as libtensorflow raises on a CUDA fault, takes the whole
            // process down. process.abort() is not available in worker threads, so the
            // hook raises the same SIGABRT at the process.
            if (step === abortAt) process.kill(process.pid, 'SIGABRT');
          },
        }),
  })
    .then((outcome) => send({ type: 'done', outcome }))
    .catch((e: unknown) => {
      const error = serializeError(e);
      if (!(e instanceof InputError)) error.code ??= 'engine';
      send({ type: 'error', error });
    })
    // One job per worker: closing the port lets the thread, then its process, end
    // (a WebGPU device is destroyed first: Dawn would keep the thread alive).
    .finally(() => {
      releaseBackends();
      port.close();
    });
});
