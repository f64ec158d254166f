import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { anything, arr, DecodeError, type Decoded, type Decoder, int, num, obj, oneOf, optional, record } from '../../shared/decode.js';
import { InputError } from '../../shared/errors.js';
import { CHECKPOINT_FILE } from '../../shared/run-files.js';
import { toStored } from './bundle.js';
import type { Optimizer } from './optim.js';
import type { NetworkParams } from './params.js';
import { readTensorFile, writeTensorFile, type StoredTensor } from './tensor-file.js';

export const CHECKPOINT_VERSION = 1;

export { CHECKPOINT_FILE };

/** Where a run stands, enough to continue it exactly (docs/RELIABILITY.md row 24). */
export interface CheckpointPosition {
  epoch: number;
  step: number;
  globalStep: number;
  orderState: [number, number, number, number];
  augmentState: [number, number, number, number];
  /** Sums over the steps done in the current epoch. */
  totals: Record<string, number>;
  elapsedSeconds: number;
}

const generatorState: Decoder<[number, number, number, number]> = (v, path) => {
  const xs = arr(int)(v, path);
  if (xs.length !== 4) throw new DecodeError(path, 'four generator words', v);
  return [xs[0]!, xs[1]!, xs[2]!, xs[3]!];
};

const position: Decoder<CheckpointPosition> = obj({
  epoch: int,
  step: int,
  globalStep: int,
  orderState: generatorState,
  augmentState: generatorState,
  totals: record(num),
  elapsedSeconds: num,
});

/** What a checkpoint file says besides its tensors; `config`, `history` and `extra` are decoded by the loop that resumes. */
const checkpointMeta = obj({
  kind: oneOf(['adjoin-checkpoint'] as const),
  version: int,
  config: anything,
  position,
  history: optional(arr(anything)),
  optimizerSteps: optional(int),
  extra: optional(anything),
});

const OPT_PREFIX = 'optimizer/';

/** Saves weights, running statistics, optimizer slots and the run's position. */
export async function saveCheckpoint(
  path: string,
  s: {
    config: unknown;
    params: NetworkParams;
    optimizer: Optimizer;
    position: CheckpointPosition;
    history: unknown[];
    extra?: unknown;
    extraTensors?: ReadonlyMap<string, tf.Tensor>;
  },
): Promise<void> {
  const opt = s.optimizer.state();
  const tensors = await toStored([
    ...s.params.all(),
    ...[...opt.slots].map(([name, v]) => [OPT_PREFIX + name, v] as const),
    ...[...(s.extraTensors ?? [])].map(([name, v]) => [`extra/${name}`, v] as const),
  ]);
  const meta = {
    kind: 'adjoin-checkpoint',
    version: CHECKPOINT_VERSION,
    config: s.config,
    position: s.position,
    history: s.history,
    optimizerSteps: opt.steps,
    ...(s.extra === undefined ? {} : { extra: s.extra }),
  };
  writeTensorFile(path, meta, tensors);
}

export interface CheckpointState {
  path: string;
  /** As saved; the loop that resumes validates it. */
  config: unknown;
  position: CheckpointPosition;
  history: unknown[];
  extra: unknown;
  extraTensors: Map<string, StoredTensor>;
  /** Copies the saved values into freshly built parameters and optimizer. */
  restoreInto(params: NetworkParams, optimizer: Optimizer): void;
}

export function loadCheckpoint(path: string): CheckpointState {
  const file = readTensorFile(path);
  const meta = decodeMeta(file.meta, file.path);
  if (meta.version > CHECKPOINT_VERSION) {
    throw new Error(`${file.path} was written by a newer Adjoin (checkpoint version ${meta.version})`);
  }
  const extraTensors = new Map<string, StoredTensor>();
  for (const [name, t] of file.tensors) if (name.startsWith('extra/')) extraTensors.set(name.slice(6), t);
  return {
    path: file.path,
    config: meta.config,
    position: meta.position,
    history: meta.history ?? [],
    extra: meta.extra,
    extraTensors,
    restoreInto(params, optimizer) {
      for (const [name, v] of params.all()) {
        const t = file.tensors.get(name);
        if (t === undefined) throw new Error(`${file.path} has no tensor ${name}: it belongs to another model`);
        if (t.shape.join('x') !== v.shape.join('x')) {
          throw new Error(`${file.path}: ${name} has shape ${t.shape.join('×')}, the model expects ${v.shape.join('×')}`);
        }
        tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, 'float32')));
      }
      const slots = new Map<string, tf.Tensor>();
      for (const [name, t] of file.tensors) {
        if (name.startsWith(OPT_PREFIX)) slots.set(name.slice(OPT_PREFIX.length), tf.tensor(t.data, t.shape, 'float32'));
      }
      optimizer.restore(meta.optimizerSteps ?? 0, slots);
      tf.dispose([...slots.values()]);
    },
  };
}

function decodeMeta(meta: unknown, path: string): Decoded<typeof checkpointMeta> {
  try {
    return checkpointMeta(meta, 'checkpoint');
  } catch (e) {
    throw new Error(`${path} is not an Adjoin checkpoint (${(e as Error).message})`);
  }
}

/**
 * The checkpoint a resumed run continues from (`<outDir>/checkpoint.ckpt`, or its
 * `.prev` if the newest is damaged); null when the run starts afresh.
 */
export function checkpointToResume(outDir: string | null, resume: boolean): CheckpointState | null {
  if (!resume) return null;
  const path = outDir === null ? null : join(outDir, CHECKPOINT_FILE);
  if (path === null || (!existsSync(path) && !existsSync(`${path}.prev`))) {
    throw new InputError(`there is no checkpoint to resume from in ${outDir ?? '(no output folder)'}`, 'resume');
  }
  return loadCheckpoint(path);
}
