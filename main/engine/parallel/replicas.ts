import { tensor1d, tensor4d, type Tensor1D, type Tensor4D, type Variable } from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BackendKind } from '../../../shared/backend.js';
import type { Optimizer } from '../optim.js';
import type { Shard } from '../step.js';
import type { EvaluationSharding } from '../evaluate.js';
import type { FromReplica, ReplicaInit, ReplicaTask, StepShard, ToReplica } from './protocol.js';
import { createGroupBuffer, ReplicaGroup, type GroupLayout } from './replica-group.js';
import { captureState } from './replica-state.js';

/** Beyond this many classes the confusion matrix is counted on the leader alone (its counts would outgrow the exchange). */
const MAX_SHARDED_CONFUSION_CLASSES = 100;

/**
 * How many engines train a run side by side. Only the wasm and cpu backends
 * run one thread each; the native backends already use every core (and a
 * GPU is one device). `ADJOIN_TRAIN_WORKERS` (or the caller) may ask for
 * fewer or more; never more than the cores.
 */
export function trainWorkers(backend: BackendKind, requested: number | null = null): number {
  if (backend !== 'wasm' && backend !== 'cpu') return 1;
  const env = Number(process.env['ADJOIN_TRAIN_WORKERS']);
  const want = requested ?? (Number.isInteger(env) && env >= 1 ? env : availableParallelism());
  return Math.max(1, Math.min(want, availableParallelism(), 8));
}

/** The compiled replica module: next to this file when compiled, under build/ when run from sources (tests). */
function replicaEntry(): string {
  const here = fileURLToPath(import.meta.url);
  const entry = here.endsWith('.ts')
    ? fileURLToPath(new URL('../../../build/main/engine/parallel/replica-worker.js', import.meta.url))
    : fileURLToPath(new URL('./replica-worker.js', import.meta.url));
  if (!existsSync(entry)) throw new Error(`the replica module is missing (${entry}); run npm run build`);
  return entry;
}

/** A batch of NHWC images and labels, split into one contiguous shard per replica. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
}

/**
 * The leader's side of data-parallel training: replicas 1 … K−1 in worker
 * threads, replica 0 being the caller. The leader keeps them in its state
 * (`sync`), hands each its shard of a batch (`dispatch`) and then runs its
 * own shard with `shard` — the replicas meet it in the group.
 */
export class Replicas {
  private failure: string | null = null;

  private constructor(
    private readonly workers: Worker[],
    readonly group: ReplicaGroup,
    private readonly variables: ReadonlyMap<string, Variable>,
    private readonly optimizers: readonly Optimizer[],
    private readonly imageSize: number,
    private readonly task: ReplicaTask,
  ) {
    for (const w of workers) {
      w.on('message', (m: FromReplica) => {
        if (m.type === 'failed') this.failure ??= m.message;
      });
      w.on('error', (e) => {
        this.failure ??= `a training replica crashed: ${e.message}`;
        group.abort(this.failure);
      });
    }
  }

  /** Starts K − 1 replicas of the run's network and waits until each has its engine ready. */
  static async start(o: {
    count: number;
    backend: BackendKind;
    task: ReplicaTask;
    variables: ReadonlyMap<string, Variable>;
    optimizers: readonly Optimizer[];
    imageSize: number;
  }): Promise<Replicas> {
    let channels = 1;
    let total = 0;
    for (const v of o.variables.values()) {
      total += v.size;
      if (v.rank === 1) channels = Math.max(channels, v.size);
    }
    // The small exchange carries batch-norm sums, and an evaluation shard's
    // figures: two per path and, up to 100 classes, its confusion counts.
    const classes = o.task.config.model.classes;
    const evaluation = 4 + (classes <= MAX_SHARDED_CONFUSION_CLASSES ? classes * classes : 0);
    const layout: GroupLayout = { count: o.count, smallCapacity: Math.max(2 * channels + 1, evaluation), largeCapacity: total };
    const buffer = createGroupBuffer(layout);
    const entry = replicaEntry();
    const workers: Worker[] = [];
    const ready: Array<Promise<void>> = [];
    for (let index = 1; index < o.count; index++) {
      const init: ReplicaInit = { buffer, layout, index, backend: o.backend, task: o.task };
      const w = new Worker(entry, { workerData: init });
      workers.push(w);
      ready.push(
        new Promise((resolve, reject) => {
          const onMessage = (m: FromReplica): void => {
            w.off('message', onMessage);
            if (m.type === 'ready') resolve();
            else reject(new Error(m.message));
          };
          w.on('message', onMessage);
          w.once('error', reject);
          w.once('exit', (code) => reject(new Error(`a training replica exited (code ${code}) before it was ready`)));
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    const replicas = new Replicas(workers, new ReplicaGroup(buffer, layout, 0), o.variables, o.optimizers, o.imageSize, o.task);
    replicas.sync();
    return replicas;
  }

  get count(): number {
    return this.workers.length + 1;
  }

  /** Copies the leader's weights and optimizer state to every replica (at the start, after a resume, after a step it took alone). */
  sync(): void {
    const state = captureState(this.variables, this.optimizers);
    for (const w of this.workers) w.postMessage({ type: 'state', state } satisfies ToReplica);
  }

  /**
   * Sends replicas 1 … K−1 their shards of `batch` (`n` images) and returns
   * the leader's: its images and its `Shard`. A batch smaller than the group
   * cannot be split: then null, and the caller steps alone and calls `sync`.
   */
  dispatch(batch: Batch, n: number, step: Omit<StepShard, 'type' | 'x' | 'y' | 'count' | 'share'>): { batch: Batch; count: number; shard: Shard } | null {
    const own = this.spread(batch, n, (x, y, count) => ({ type: 'step', x, y, count, share: count / n, ...step }));
    return own === null ? null : { batch: own.batch, count: own.count, shard: { group: this.group, share: own.count / n } };
  }

  /**
   * Spreads evaluation over the engines: each replica measures its shard of
   * every batch (the trained paths, or a search's soft-masked small path) and
   * meets the leader in `sum`.
   */
  evaluation(): EvaluationSharding | null {
    return {
      dispatch: (batch, n, paths) => {
        // Two figures per path and the confusion counts must fit the group's small exchange.
        const figures = 2 * (Number(paths.full) + Number(paths.small)) + paths.confusionClasses ** 2;
        if (figures > this.group.layout.smallCapacity) return null;
        const own = this.spread(batch, n, (x, y, count) => ({ type: 'evaluate', x, y, count, ...paths }));
        return own === null ? null : { ...own.batch, count: own.count };
      },
      sum: (values) => this.group.allReduce(values),
    };
  }

  /** Posts replicas 1 … K−1 their contiguous shards of `batch`; returns the leader's, or null if `n` is too small to split. */
  private spread(batch: Batch, n: number, message: (x: Float32Array, y: Int32Array, count: number) => ToReplica): { batch: Batch; count: number } | null {
    if (this.failure !== null) this.group.abort(this.failure);
    if (n < this.count) return null;
    const sizes = Array.from({ length: this.count }, (_, i) => Math.floor(n / this.count) + (i < n % this.count ? 1 : 0));
    let start = sizes[0]!;
    this.workers.forEach((w, i) => {
      const count = sizes[i + 1]!;
      const x = batch.x.slice(start * this.imageSize, (start + count) * this.imageSize);
      const y = batch.y.slice(start, start + count);
      start += count;
      w.postMessage(message(x, y, count), [x.buffer, y.buffer]);
    });
    const own = sizes[0]!;
    return { batch: { x: batch.x.subarray(0, own * this.imageSize), y: batch.y.subarray(0, own) }, count: own };
  }

  async stop(): Promise<void> {
    for (const w of this.workers) w.postMessage({ type: 'stop' } satisfies ToReplica);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * One optimisation step over `batch` (`n` images of `image` = [h, w, c]):
 * spread over the replicas when there are any and the batch is big enough,
 * else taken by the leader alone (and the replicas then brought up to date).
 */
export async function shardedStep<R>(
  replicas: Replicas | null,
  batch: Batch,
  n: number,
  image: [number, number, number],
  step: Omit<StepShard, 'type' | 'x' | 'y' | 'count' | 'share'>,
  run: (x: Tensor4D, y: Tensor1D, shard: Shard | null) => Promise<R>,
): Promise<R> {
  const parts = replicas === null ? null : replicas.dispatch(batch, n, step);
  const own = parts?.batch ?? batch;
  const count = parts?.count ?? n;
  const x = tensor4d(own.x, [count, ...image]);
  const y = tensor1d(own.y, 'int32');
  let result: R;
  try {
    result = await run(x, y, parts?.shard ?? null);
  } finally {
    x.dispose();
    y.dispose();
  }
  if (replicas !== null && parts === null) replicas.sync();
  return result;
}
