import { Worker } from 'node:worker_threads';
import { serializeError } from '../../shared/errors.js';
import { parseFromJob, parseToJob, type FromJob, type ToJob } from './protocol.js';

/**
 * A job's own process: it hosts the engine worker thread and relays messages.
 * A native abort in the engine (libtensorflow on a CUDA fault) kills this
 * process, not the app, the server or the other jobs; the host sees the exit
 * and marks the run failed.
 *
 * Runs under child_process.fork (server, CLI) or Electron's utilityProcess,
 * whose parent channel is `process.parentPort`.
 */
interface ParentChannel {
  send(message: FromJob): void;
  onMessage(handler: (message: unknown) => void): void;
}

function parentChannel(): ParentChannel {
  const utility = (process as NodeJS.Process & { parentPort?: { postMessage(m: unknown): void; on(e: 'message', h: (e: { data: unknown }) => void): void } })
    .parentPort;
  if (utility !== undefined) {
    return { send: (m) => utility.postMessage(m), onMessage: (h) => utility.on('message', (e) => h(e.data)) };
  }
  if (process.send === undefined) throw new Error('job-process must be started with an IPC channel');
  return { send: (m) => void process.send!(m), onMessage: (h) => process.on('message', h) };
}

// sharp must be loaded on the main thread before any worker uses it (glibc; RELIABILITY.md row 23).
await import('sharp');

const parent = parentChannel();
const worker = new Worker(new URL('./engine-worker.js', import.meta.url));
let seq = 0;

worker.on('message', (raw: unknown) => {
  const msg = parseFromJob(raw);
  if (msg !== null) parent.send({ ...msg, seq: seq++ });
});
worker.on('error', (e) => {
  parent.send({ type: 'error', seq: seq++, error: { ...serializeError(e), code: 'engine' } });
});
worker.on('exit', (code) => {
  // Let the last messages drain, then leave with the worker's status.
  setImmediate(() => process.exit(code));
});
// A host that dies (killed, crashed) takes its jobs with it: an orphan would
// train on with nobody recording it, and its run is marked interrupted anyway.
process.on('disconnect', () => {
  void worker.terminate().finally(() => process.exit(1));
});
parent.onMessage((raw) => {
  const msg: ToJob | null = parseToJob(raw);
  if (msg !== null) worker.postMessage(msg);
});
