import { tinyConfig } from '../../helpers/configs.js';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TrainEvent } from '../../../shared/events.js';
import { ratesAt } from '../../../shared/schedules.js';
import { recipe, type TrainConfig } from '../../../shared/train-config.js';
import { loadNetwork } from '../../../main/engine/bundle.js';
import { synthesize } from '../../../main/engine/data/synthetic.js';
import { forward } from '../../../main/engine/forward.js';
import { crossEntropy } from '../../../main/engine/loss.js';
import { paramName } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { prepareTraining, train, trainStep } from '../../../main/engine/train.js';
import { maxAbsDiff, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const data = synthesize({ classes: 4, size: 12, channels: 1, train: 96, val: 32, seed: 1 });
const config: TrainConfig = tinyConfig({ seed: 3 }, { classes: 4 });
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'adjoin-train-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('training', () => {
  it('a few steps lower the loss of both paths on the wasm backend', async () => {
    const setup = prepareTraining({ ...config, optimizer: { ...config.optimizer, lr: 0.05 } }, data, new Rng(1));
    const x = tf.tensor4d(
      setup.batches.build(
        data.train,
        Array.from({ length: 32 }, (_, i) => i),
        false,
        null,
      ).x,
      [32, 12, 12, 1],
    );
    const y = tf.tensor1d(Array.from(data.train.labels.subarray(0, 32)), 'int32');
    const losses = (): [number, number] =>
      tf.tidy(() => {
        const out = forward(setup.graph, setup.params, x, { training: true, small: { kind: 'sliced', plan: setup.plan! } });
        return [crossEntropy(y, out.full!).dataSync()[0]!, crossEntropy(y, out.small!).dataSync()[0]!];
      });
    const [full0, small0] = losses();
    // Late in training (λ = 1) the small path learns through the KL term alone (β = 0).
    for (let i = 0; i < 12; i++) await trainStep(setup, x, y, 0.9, { lr: 0.05, momentum: null });
    const [full1, small1] = losses();
    expect(full1).toBeLessThan(full0 * 0.8);
    expect(small1).toBeLessThan(small0 * 0.9);
    setup.params.dispose();
    setup.optimizer.dispose();
  });

  it('emits started, steps with λ and lr, epochs with both accuracies, checkpoints, then finished; frees its tensors', async () => {
    const before = tf.memory().numTensors;
    const events: TrainEvent[] = [];
    const outcome = await train({ config, data, emit: (e) => events.push(e), outDir: tempDir(), stepEventInterval: 0 });
    expect(outcome.status).toBe('finished');
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('started');
    expect(types.at(-1)).toBe('finished');
    expect(types.filter((t) => t === 'epoch')).toHaveLength(2);
    expect(types.filter((t) => t === 'checkpoint')).toHaveLength(2);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(12);
    // λ(t) = min(4t², 1) from step-level progress.
    for (const s of steps) expect(s.lambda).toBeCloseTo(Math.min(4 * ((s.globalStep - 1) / 12) ** 2, 1), 9);
    const epoch = events.find((e) => e.type === 'epoch')!;
    expect(epoch.val.small).not.toBeNull();
    const finished = events.at(-1)!;
    if (finished.type !== 'finished') throw new Error('not finished');
    expect(finished.confusion.flat().reduce((a, b) => a + b, 0)).toBe(32);
    // The final figures are the last epoch's validation (one pass, not two), and its confusion matrix agrees with them.
    const lastEpoch = events.filter((e) => e.type === 'epoch').at(-1)!;
    expect(finished.val).toEqual(lastEpoch.val);
    const correct = finished.confusion.reduce((sum, row, t) => sum + row[t]!, 0);
    expect(correct / 32).toBeCloseTo(finished.val.small!.accuracy, 9);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a cancelled run stops within one step, and a resumed run continues from its checkpoint to the same weights', async () => {
    const straightDir = tempDir();
    await train({ config, data, emit: () => undefined, outDir: straightDir });

    const dir = tempDir();
    let steps = 0;
    let requestedAt: number | null = null;
    const events: TrainEvent[] = [];
    const first = await train({
      config,
      data,
      outDir: dir,
      emit: (e) => events.push(e),
      beforeStep: () => {
        steps += 1;
      },
      stopRequested: () => {
        // Ask to stop during epoch 1, after its 4th step.
        if (steps >= 4 && requestedAt === null) requestedAt = steps;
        return requestedAt === null ? null : 'cancel';
      },
    });
    expect(first.status).toBe('cancelled');
    expect(steps - requestedAt!).toBeLessThanOrEqual(1);
    const cancelled = events.find((e) => e.type === 'cancelled');
    expect(cancelled).toMatchObject({ type: 'cancelled', epoch: 1, step: 4 });

    const resumedEvents: TrainEvent[] = [];
    const second = await train({ config, data, outDir: dir, resume: true, emit: (e) => resumedEvents.push(e) });
    expect(second.status).toBe('finished');
    expect(resumedEvents[0]).toMatchObject({ type: 'started', resumedFrom: { epoch: 0, step: 4 } });
    expect(resumedEvents.filter((e) => e.type === 'step').length).toBeLessThanOrEqual(8);

    const a = loadNetwork(join(straightDir, 'network.adjoin'));
    const b = loadNetwork(join(dir, 'network.adjoin'));
    for (const name of [paramName.weight('s4.b2.conv2'), paramName.weight('fc'), paramName.gamma('s2.b1.bn1', 'small')]) {
      expect(maxAbsDiff(a.params.get(name).dataSync(), b.params.get(name).dataSync())).toBeLessThan(1e-5);
    }
    a.params.dispose();
    b.params.dispose();
  });

  it('the short recipe, cancelled mid-warm-up and resumed, continues the same one cycle: lr at every step, cycled momentum, weights', async () => {
    const short = { ...config, ...recipe('short', config.batchSize) };
    const stepLrs = (events: TrainEvent[]): Array<[number, number]> =>
      events.flatMap((e) => (e.type === 'step' ? [[e.globalStep, e.lr] as [number, number]] : []));
    const straightEvents: TrainEvent[] = [];
    const straightDir = tempDir();
    await train({ config: short, data, emit: (e) => straightEvents.push(e), outDir: straightDir, stepEventInterval: 0 });
    // 2 epochs of 6 steps: OneCycleLR over 12 steps, the peak at step 0.3·12 − 1 = 2.6 (between steps 2 and 3).
    const straightLrs = stepLrs(straightEvents);
    expect(straightLrs).toHaveLength(12);
    for (const [globalStep, lr] of straightLrs) expect(lr).toBeCloseTo(ratesAt(short.schedule, 0.0125, globalStep - 1, 12).lr, 12);
    expect(straightLrs[0]![1]).toBeCloseTo(0.0125 / 25, 12);
    expect(straightLrs[11]![1]).toBeCloseTo(0.0125 / 25 / 1e4, 15);

    // Stopped after 2 steps, where the momentum is still falling from 0.95: the resumed run must pick the cycle up at step 3.
    const dir = tempDir();
    let steps = 0;
    const first = await train({
      config: short,
      data,
      outDir: dir,
      emit: () => undefined,
      beforeStep: () => {
        steps += 1;
      },
      stopRequested: () => (steps >= 2 ? 'checkpoint-and-stop' : null),
    });
    expect(first.status).toBe('cancelled');
    const resumedEvents: TrainEvent[] = [];
    const second = await train({ config: short, data, outDir: dir, resume: true, emit: (e) => resumedEvents.push(e), stepEventInterval: 0 });
    expect(second.status).toBe('finished');
    expect(resumedEvents[0]).toMatchObject({ type: 'started', resumedFrom: { epoch: 0, step: 2 }, config: { schedule: { kind: 'onecycle' } } });
    expect(stepLrs(resumedEvents)).toEqual(straightLrs.slice(2));

    const a = loadNetwork(join(straightDir, 'network.adjoin'));
    const b = loadNetwork(join(dir, 'network.adjoin'));
    for (const name of [paramName.weight('s1.b1.conv1'), paramName.weight('s4.b2.conv2'), paramName.weight('fc'), paramName.gamma('s2.b1.bn1', 'small')]) {
      expect(maxAbsDiff(a.params.get(name).dataSync(), b.params.get(name).dataSync()), name).toBeLessThan(1e-6);
    }
    a.params.dispose();
    b.params.dispose();
  });

  it('a NaN loss stops the run in the same step as failed:nan_loss and keeps the last good checkpoint', async () => {
    const dir = tempDir();
    let goodCheckpoint: string | null = null;
    const events: TrainEvent[] = [];
    let stepsRun = 0;
    const outcome = await train({
      config,
      data,
      outDir: dir,
      emit: (e) => {
        events.push(e);
        if (e.type === 'checkpoint') goodCheckpoint = createHash('sha256').update(readFileSync(e.path)).digest('hex');
      },
      beforeStep: (globalStep, setup) => {
        stepsRun += 1;
        // Epoch 2, second step: a poisoned weight makes the loss NaN.
        if (globalStep === 7) {
          const w = setup.params.get(paramName.weight('fc'));
          w.assign(tf.fill(w.shape, Number.NaN));
        }
      },
    });
    expect(outcome).toMatchObject({ status: 'failed', reason: 'nan_loss' });
    expect(stepsRun).toBe(8);
    const failed = events.at(-1)!;
    expect(failed).toMatchObject({ type: 'failed', reason: 'nan_loss' });
    if (failed.type !== 'failed') throw new Error('not failed');
    expect(failed.error.message).toMatch(/loss became NaN.*epoch 2, step 2/);
    expect(failed.checkpoint).toBe(join(dir, 'checkpoint.ckpt'));
    expect(
      createHash('sha256')
        .update(readFileSync(join(dir, 'checkpoint.ckpt')))
        .digest('hex'),
    ).toBe(goodCheckpoint);
  });
});
