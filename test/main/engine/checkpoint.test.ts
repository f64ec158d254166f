import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKPOINT_FILE, checkpointToResume, loadCheckpoint, saveCheckpoint, type CheckpointPosition } from '../../../main/engine/checkpoint.js';
import { Optimizer } from '../../../main/engine/optim.js';
import { createParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { writeTensorFile } from '../../../main/engine/tensor-file.js';
import { InputError } from '../../../shared/errors.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { tempDirs, tinyConfig } from '../../helpers/store.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();
const temp = tempDirs('adjoin-checkpoint-');
const config = tinyConfig({ mode: 'standard' });
const graph = buildGraph(config.model);

const position: CheckpointPosition = {
  epoch: 1,
  step: 3,
  globalStep: 7,
  orderState: [1, 2, 3, 4],
  augmentState: [5, 6, 7, 8],
  totals: { loss: 2.5, steps: 3 },
  elapsedSeconds: 12.5,
};

/** A network with one optimizer step taken, so that its momentum buffers hold something. */
function trained(seed: number): { params: ReturnType<typeof createParams>; optimizer: Optimizer } {
  const params = createParams(graph, null, new Rng(seed));
  const optimizer = new Optimizer(config.optimizer);
  const grads = Object.fromEntries([...params.trainable].map(([name, v]) => [name, tf.onesLike(v)]));
  optimizer.apply(params.trainable, grads, { lr: 0.1, momentum: null });
  tf.dispose(Object.values(grads));
  return { params, optimizer };
}

describe('checkpoints', () => {
  it('bring back weights, running statistics, optimizer slots and step count, the position, the history and extra state', async () => {
    const dir = temp();
    const path = join(dir, CHECKPOINT_FILE);
    const a = trained(1);
    const eta = tf.tensor1d([0.5, -1, 2]);
    await saveCheckpoint(path, {
      config,
      params: a.params,
      optimizer: a.optimizer,
      position,
      history: [{ epoch: 1 }],
      extra: { noise: null },
      extraTensors: new Map([['eta/g', eta]]),
    });

    const b = trained(2);
    const loaded = loadCheckpoint(path);
    expect(loaded.config).toEqual(JSON.parse(JSON.stringify(config)));
    expect(loaded.position).toEqual(position);
    expect(loaded.history).toEqual([{ epoch: 1 }]);
    expect(loaded.extra).toEqual({ noise: null });
    expect(Array.from(loaded.extraTensors.get('eta/g')!.data)).toEqual([0.5, -1, 2]);
    loaded.restoreInto(b.params, b.optimizer);
    for (const [name, v] of a.params.all()) expect(b.params.all().get(name)!.dataSync()).toEqual(v.dataSync());
    expect(b.optimizer.stepCount).toBe(1);
    const slotsA = a.optimizer.state().slots;
    const slotsB = b.optimizer.state().slots;
    expect([...slotsB.keys()].sort()).toEqual([...slotsA.keys()].sort());
    for (const [name, v] of slotsA) expect(slotsB.get(name)!.dataSync()).toEqual(v.dataSync());
    for (const n of [a, b]) {
      n.params.dispose();
      n.optimizer.dispose();
    }
    eta.dispose();
  });

  it('fall back to the previous checkpoint when the newest is damaged', async () => {
    const dir = temp();
    const path = join(dir, CHECKPOINT_FILE);
    const a = trained(1);
    await saveCheckpoint(path, { config, params: a.params, optimizer: a.optimizer, position, history: [] });
    await saveCheckpoint(path, { config, params: a.params, optimizer: a.optimizer, position: { ...position, globalStep: 8 }, history: [] });
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length >> 1));
    const loaded = loadCheckpoint(path);
    expect(loaded.path).toBe(`${path}.prev`);
    expect(loaded.position.globalStep).toBe(7);
    a.params.dispose();
    a.optimizer.dispose();
  });

  it('refuse what is not a checkpoint, a newer one, and weights of another model, naming the file and the tensor', async () => {
    const dir = temp();
    const path = join(dir, CHECKPOINT_FILE);
    writeTensorFile(path, { kind: 'adjoin-network' }, new Map());
    expect(() => loadCheckpoint(path)).toThrow(/is not an Adjoin checkpoint \(checkpoint\.kind: expected one of adjoin-checkpoint/);
    writeTensorFile(path, { kind: 'adjoin-checkpoint', version: 1, config, position: { ...position, orderState: [1, 2] }, history: [] }, new Map());
    expect(() => loadCheckpoint(path)).toThrow(/checkpoint\.position\.orderState: expected four generator words/);
    writeTensorFile(path, { kind: 'adjoin-checkpoint', version: 99, config, position, history: [] }, new Map());
    expect(() => loadCheckpoint(path)).toThrow(/written by a newer Adjoin \(checkpoint version 99\)/);

    const a = trained(1);
    await saveCheckpoint(path, { config, params: a.params, optimizer: a.optimizer, position, history: [] });
    const other = createParams(buildGraph({ ...config.model, width: 0.25 }), null, new Rng(1));
    expect(() => loadCheckpoint(path).restoreInto(other, new Optimizer(config.optimizer))).toThrow(
      /checkpoint\.ckpt: stem\.conv\.weight has shape 3×3×1×8, the model expects 3×3×1×16/,
    );
    other.dispose();
    a.params.dispose();
    a.optimizer.dispose();
  });

  it('to resume, one must be there: otherwise an input error names the folder', () => {
    const dir = temp();
    expect(checkpointToResume(dir, false)).toBeNull();
    expect(() => checkpointToResume(dir, true)).toThrow(InputError);
    expect(() => checkpointToResume(dir, true)).toThrow(`there is no checkpoint to resume from in ${dir}`);
  });
});
