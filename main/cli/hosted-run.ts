import { dirname, join, resolve } from 'node:path';
import { InputError } from '../../shared/errors.js';
import type { StopRequest } from '../../shared/stop.js';
import { datasetCacheDir } from '../app-paths.js';
import { JobManager, type StartOptions } from '../jobs/host/manager.js';
import { testHooksFromEnv } from '../jobs/test-hooks.js';
import { RemoteRuns, type RemoteRunRequest } from '../jobs/host/queue/remote-runs.js';
import { checkQueue } from '../jobs/queue/connect.js';
import { openStore } from '../store/open.js';
import type { CommandIo } from './command.js';
import { progressPrinter } from './data-command.js';
import { historyWritesPrinter, NOT_RECORDED_EXIT, recordWaitMs, settleRecording } from './history-writes.js';
import { ProgressPrinter } from './progress.js';
import { queueOption } from './run-options.js';
import { dbFile } from './store-args.js';

type Values = Partial<Record<string, string | boolean | undefined>>;

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** A run as the CLI starts it: on this machine through the job manager, or on a queue (--queue). */
export interface HostedRun {
  local: (manager: JobManager, o: StartOptions) => number;
  onQueue: Omit<RemoteRunRequest, 'queue' | 'outDir' | 'resume' | 'transferLimitBytes'>;
}

/**
 * Runs one training or search the way the app does: through the job manager,
 * in a job process of its own (or on a queue of workers, with --queue),
 * recorded in the history (--db) by this process. Every event is stored
 * before it is printed (as JSON lines with --json, else as a progress bar);
 * Ctrl-C asks the run to checkpoint and stop. Bad input found by the job (a
 * missing checkpoint, a teacher that does not fit) leaves no run behind and
 * exits 2; so does a queue that cannot be reached or refuses the password.
 */
export async function hostRun(values: Values, io: CommandIo, workers: number | null, run: HostedRun): Promise<number> {
  const resume = values['resume'] === true;
  const out = str(values['out']);
  if (resume && out === undefined) throw new InputError('--resume needs --out <the run folder to resume>', 'out');
  const onQueue = queueOption(values);
  // A queue that is not there, or refuses the password, is one clear line before anything is written.
  if (onQueue !== null) await checkQueue(onQueue.queue);
  const store = openStore(dbFile(str(values['db'])));
  const runsDir = join(dirname(store.file), 'runs');
  const manager = new JobManager(store, { runsDir, cacheDir: datasetCacheDir(), testHooks: testHooksFromEnv(process.env) });
  const remote =
    onQueue === null ? null : new RemoteRuns(manager, { runsDir, cacheDir: datasetCacheDir(), onWarning: (m) => io.err(`adjoin: warning: ${m}\n`) });
  const json = values['json'] === true;
  const printer = new ProgressPrinter(io.err, io.errIsTty);
  const importing = progressPrinter(io);
  const writes = historyWritesPrinter(store.file, io);
  let runId: number | null = null;
  const unsubscribe = manager.subscribe((e) => {
    if (e.type === 'dataset:progress') importing.show(e.progress);
    if (e.type === 'history:writes') writes(e.state);
    if (e.type !== 'run:event' || e.runId !== runId) return;
    importing.done();
    if (json) io.out(JSON.stringify(e.event));
    else printer.handle(e.event);
  });
  try {
    const outDir = out === undefined ? null : resolve(out);
    const id =
      remote === null || onQueue === null
        ? run.local(manager, { outDir, resume, discardIfUnstarted: true, workers })
        : await remote.submit({ ...run.onQueue, queue: onQueue.queue, outDir, resume, transferLimitBytes: onQueue.transferLimitBytes });
    runId = id;
    const where = remote === null ? '' : `; training on the queue at ${(await remote.link(onQueue?.queue ?? '')).address.shown}`;
    io.err(`run ${id}: recording in ${store.file}; files in ${store.runs.require(id).outDir ?? '?'}${where}\n`);
    const stop: StopRequest = 'checkpoint-and-stop';
    io.onInterrupt(() => manager.stop(id, stop));
    const ended = manager.jobEnded(id);
    if (ended === null) throw new Error(`run ${id} was not queued`);
    // The job's end, then its record: a history that refuses writes keeps them in memory a while.
    const result = await ended;
    const notRecorded = await settleRecording(manager.writer, store, io, recordWaitMs());
    if (notRecorded !== null) {
      const outDir = store.runs.get(id)?.outDir ?? '?';
      io.err(
        `adjoin: error: run ${id} ${result.status}, but the history ${store.file} would not take its outcome: ${notRecorded}; its files are in ${outDir}\n`,
      );
      return NOT_RECORDED_EXIT;
    }
    switch (result.status) {
      case 'finished':
        return 0;
      case 'cancelled':
        return 130;
      case 'failed':
      case 'crashed':
        return 1;
      case 'error':
        if (result.error.code === 'input') throw new InputError(result.error.message, result.error.field ?? 'input');
        io.err(`adjoin: error: ${result.error.message}\n`);
        return 1;
    }
  } finally {
    unsubscribe();
    await manager.stopAll('checkpoint-and-stop');
    store.close();
  }
}
