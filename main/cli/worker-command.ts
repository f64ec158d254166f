import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { cacheDir, datasetCacheDir } from '../app-paths.js';
import { InputError } from '../../shared/errors.js';
import { DEFAULT_LOCK_SECONDS } from '../jobs/queue/layout.js';
import { startQueueWorker } from '../jobs/queue-worker/queue-worker.js';
import { intArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';

const WORKER_USAGE = `adjoin worker --queue redis://[user:password@]host:port[/db] [--concurrency N] [--name NAME] [--work-dir DIR] [--lock-seconds N]
  Trains runs from a queue (rediss:// for TLS) until Ctrl-C, which checkpoints the running runs after their step and hands
  them back to the queue. Runs are submitted with --queue by adjoin train, search and sweep, or from the app ("Run on").`;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export async function workerCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    queue: { type: 'string' },
    concurrency: { type: 'string' },
    name: { type: 'string' },
    'work-dir': { type: 'string' },
    'lock-seconds': { type: 'string' },
  });
  if (values.queue === undefined) throw new InputError('--queue is required: the Redis URL of the run queue, redis://[user:password@]host:port', 'queue');
  const concurrency = intArg(values.concurrency, 'concurrency', 1);
  if (concurrency < 1 || concurrency > availableParallelism() * 4) {
    throw new InputError(`--concurrency must be from 1 to ${availableParallelism() * 4}, got ${concurrency}`, 'concurrency');
  }
  const name = values.name ?? `${hostname()}-${process.pid}`;
  if (!NAME_PATTERN.test(name)) throw new InputError(`--name must be letters, digits, '.', '_' or '-' (at most 63), got '${name}'`, 'name');
  const lockSeconds = intArg(values['lock-seconds'], 'lock-seconds', DEFAULT_LOCK_SECONDS);
  if (lockSeconds < 2 || lockSeconds > 3_600) throw new InputError(`--lock-seconds must be from 2 to 3600, got ${lockSeconds}`, 'lock-seconds');

  const worker = await startQueueWorker({
    url: values.queue,
    concurrency,
    name,
    workDir: values['work-dir'] ?? join(cacheDir(), 'worker-runs'),
    cacheDir: datasetCacheDir(),
    lockSeconds,
    say: (line) => io.err(`${line}\n`),
  });
  io.err(
    `worker ${worker.identity.name} on ${worker.identity.host}: ${worker.backend.label}, ${worker.backend.device}; ` +
      `up to ${concurrency} run${concurrency === 1 ? '' : 's'} at once; taking runs from ${worker.address.shown}\n`,
  );
  await new Promise<void>((resolve) => {
    io.onInterrupt(resolve);
    // A service manager stops a worker with SIGTERM: the same hand-back as Ctrl-C.
    process.once('SIGTERM', resolve);
  });
  io.err('handing the running runs back to the queue after their current step…\n');
  await worker.handBack();
  io.err(`worker ${worker.identity.name} stopped\n`);
  return 130;
}

export const workerCmd: Command = { name: 'worker', usage: WORKER_USAGE, run: workerCommand };
