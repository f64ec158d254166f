import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { synthesize } from '../../../main/engine/data/synthetic.js';
import { paramName } from '../../../main/engine/params.js';
import { search } from '../../../main/engine/dan/search.js';
import { train } from '../../../main/engine/train.js';
import { beginRun } from '../../../main/jobs/host/begin-run.js';
import { HistoryWriter } from '../../../main/jobs/host/history-writer.js';
import { describeDataset } from '../../../main/jobs/worker/dataset-row.js';
import { recordRun } from '../../../main/jobs/host/record-run.js';
import { openStore } from '../../../main/store/open.js';
import type { Store } from '../../../main/store/store.js';
import { foundNetworkConfig, superNetworkConfig } from '../../../shared/dan.js';
import { InputError } from '../../../shared/errors.js';
import { useWasmBackend } from '../../helpers/tf.js';
import { SYNTHETIC, tempDirs, tinyConfig, trainedRun } from '../../helpers/store.js';
import { paperSearchConfig } from '../../helpers/configs.js';

useWasmBackend();
const temp = tempDirs('adjoin-record-');
const data = synthesize({ classes: 3, size: 12, channels: 1, train: 48, val: 24, seed: 2 });
const dataset = describeDataset(SYNTHETIC, data, { limitTrain: null, limitVal: null });

function fresh(): { store: Store; runsDir: string } {
  const dir = temp();
  return { store: openStore(join(dir, 'adjoin.db')), runsDir: join(dir, 'runs') };
}

describe('recording a run from its engine events', () => {
  it('a finished run: status, timings, backend, costs, every epoch, sampled steps, checkpoint, outputs, dataset', async () => {
    const { store, runsDir } = fresh();
    const id = await trainedRun(store, runsDir);
    const run = store.runs.require(id);
    expect(run).toMatchObject({ status: 'finished', backend: 'wasm', epochsDone: 2, totalSteps: 6, failureReason: null, error: null });
    // The whole backend report, with why each faster backend was not used, round-trips through SQLite.
    expect(run.backendInfo).toEqual({
      kind: 'wasm',
      name: 'wasm',
      label: 'WASM',
      device: run.device,
      skipped: (['gpu', 'webgpu', 'node'] as const).map((kind) => ({ kind, reason: 'not tried: ADJOIN_BACKEND=wasm forces wasm' })),
    });
    expect(run.outDir).toBe(join(runsDir, String(id)));
    expect(run.checkpointPath).toBe(join(runsDir, String(id), 'checkpoint.ckpt'));
    expect(run.outputs!.network).toBe(join(runsDir, String(id), 'network.adjoin'));
    expect(run.val.small!.accuracy).toBeGreaterThanOrEqual(0);
    expect(run.cost!.small!.macs).toBeLessThan(run.cost!.full.macs);
    expect(run.data!.classes).toHaveLength(3);
    expect(run.startedAt! <= run.finishedAt!).toBe(true);
    expect(run.trainSeconds!).toBeGreaterThan(0);
    expect(run.owner).toMatchObject({ pid: null, host: null });
    expect(run.confusion!.flat().reduce((a, b) => a + b, 0)).toBe(24);
    expect(store.metrics.epochs(id).map((e) => e.epoch)).toEqual([1, 2]);
    // Sampling every 0 ms keeps every step event.
    expect(store.metrics.steps(id).map((s) => s.globalStep)).toEqual([1, 2, 3, 4, 5, 6]);
    const ds = store.datasets.get(run.datasetId!);
    expect(ds).toMatchObject({ path: SYNTHETIC, name: data.name, contentKey: dataset.contentKey });
    store.close();
  });

  it('samples step metrics: with a long interval only the first and each epoch’s last step are kept', async () => {
    const { store, runsDir } = fresh();
    const run = beginRun(store, { config: tinyConfig(), dataset, outDir: null, runsDir, resume: false }, { stepSampleMs: 3_600_000 });
    await train({ config: tinyConfig(), data, outDir: run.outDir, emit: run.recorder.emit, stepEventInterval: 0 });
    run.recorder.close();
    expect(store.metrics.steps(run.runId).map((s) => [s.epoch, s.step])).toEqual([
      [1, 1],
      [1, 3],
      [2, 3],
    ]);
    store.close();
  });

  it('a NaN loss: failed, reason nan_loss, the message, the last good checkpoint', async () => {
    const { store, runsDir } = fresh();
    const run = beginRun(store, { config: tinyConfig(), dataset, outDir: null, runsDir, resume: false }, { stepSampleMs: 0 });
    await train({
      config: tinyConfig(),
      data,
      outDir: run.outDir,
      emit: run.recorder.emit,
      beforeStep: (globalStep, setup) => {
        if (globalStep === 4) {
          const w = setup.params.get(paramName.weight('fc'));
          w.assign(tf.fill(w.shape, Number.NaN));
        }
      },
    });
    run.recorder.close();
    const r = store.runs.require(run.runId);
    expect(r).toMatchObject({ status: 'failed', failureReason: 'nan_loss', epochsDone: 1 });
    expect(r.error).toMatch(/loss became NaN.*epoch 2, step 2/);
    expect(r.checkpointPath).toBe(join(run.outDir, 'checkpoint.ckpt'));
    store.close();
  });

  it('cancelled, then resumed into the same run: the epochs after the checkpoint are recorded once', async () => {
    const { store, runsDir } = fresh();
    const outDir = join(runsDir, 'mine');
    const first = beginRun(store, { config: tinyConfig(), dataset, outDir, runsDir, resume: false }, { stepSampleMs: 0 });
    let steps = 0;
    await train({
      config: tinyConfig(),
      data,
      outDir,
      emit: first.recorder.emit,
      stepEventInterval: 0,
      beforeStep: () => void (steps += 1),
      stopRequested: () => (steps >= 4 ? 'cancel' : null),
    });
    first.recorder.close();
    expect(store.runs.require(first.runId)).toMatchObject({ status: 'cancelled', epochsDone: 1, checkpointPath: join(outDir, 'checkpoint.ckpt') });

    const second = beginRun(store, { config: tinyConfig(), dataset, outDir, runsDir, resume: true }, { stepSampleMs: 0 });
    expect(second.runId).toBe(first.runId);
    expect(store.runs.require(first.runId).status).toBe('queued');
    await train({ config: tinyConfig(), data, outDir, resume: true, emit: second.recorder.emit, stepEventInterval: 0 });
    second.recorder.close();
    expect(store.runs.require(first.runId).status).toBe('finished');
    expect(store.metrics.epochs(first.runId).map((e) => e.epoch)).toEqual([1, 2]);
    expect(store.metrics.steps(first.runId).map((s) => s.globalStep)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(store.runs.list()).toHaveLength(1);
    store.close();
  });

  it('a write the database refuses is kept, training goes on, and everything lands in order once it takes writes again', async () => {
    const { store, runsDir } = fresh();
    const states: string[] = [];
    const writer = new HistoryWriter(store, { retryDelay: () => 1, onChange: (s) => states.push(s.state === 'ok' ? 'ok' : `${s.state}:${s.problem}`) });
    const run = beginRun(store, { config: tinyConfig(), dataset, outDir: null, runsDir, resume: false }, { writer, stepSampleMs: 0 });
    // The disk is full for the first epoch's write and the next retry, then space is freed.
    const putEpoch = store.metrics.putEpoch.bind(store.metrics);
    let refusals = 2;
    store.metrics.putEpoch = (...args) => {
      if (refusals-- > 0) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      putEpoch(...args);
    };
    const outcome = await train({ config: tinyConfig(), data, outDir: run.outDir, emit: run.recorder.emit });
    run.recorder.close();
    expect(outcome.status).toBe('finished');
    expect(await writer.settle(60_000)).toBe(true);
    expect(states[0]).toBe('failing:full');
    expect(states.at(-1)).toBe('ok');
    expect(store.runs.require(run.runId)).toMatchObject({ status: 'finished', epochsDone: 2 });
    expect(store.metrics.epochs(run.runId).map((e) => e.epoch)).toEqual([1, 2]);
    store.close();
  });

  it('bad input before the engine starts leaves no run behind; a job that dies otherwise is marked failed', () => {
    const { store, runsDir } = fresh();
    const a = beginRun(store, { config: tinyConfig(), dataset, outDir: null, runsDir, resume: false });
    a.recorder.close(new InputError('there is no checkpoint to resume from', 'resume'));
    expect(store.runs.get(a.runId)).toBeNull();
    const b = beginRun(store, { config: tinyConfig(), dataset, outDir: null, runsDir, resume: false });
    b.recorder.close(new Error('worker died'));
    expect(store.runs.require(b.runId)).toMatchObject({ status: 'failed', failureReason: 'error', error: 'worker died' });
    store.close();
  });

  it('records a DAN search’s choices per epoch', () => {
    const { store } = fresh();
    const id = store.runs.create({ config: tinyConfig(), datasetId: null, outDir: null, owner: null }, 1);
    const recorder = recordRun(store, id);
    recorder.emit({
      type: 'search-epoch',
      time: 5,
      epoch: 1,
      epochs: 3,
      tau: 15,
      expectedMacs: 0.4,
      target: null,
      penalty: 0,
      entropies: { 's2.out': 0.61 },
      argmax: { params: 10, macs: 100 },
      groups: [{ group: 's2.out', channels: 16, probabilities: [0.3, 0.7], eta: [0.1, 0.4], alpha: 2 }],
      trainLoss: 1,
      val: { full: { accuracy: 0.5, loss: 1 }, small: { accuracy: 0.4, loss: 1.2 } },
      seconds: 1,
    });
    recorder.close();
    expect(store.danChoices.list(id)).toEqual([{ epoch: 1, tau: 15, choices: [{ group: 's2.out', alpha: 2, logits: [0.1, 0.4], probabilities: [0.3, 0.7] }] }]);
    store.close();
  });

  it.each([null, 1])('records a DAN search run (then training for %s epochs): kind, search config, result, choices, final status', async (thenTrain) => {
    const { store, runsDir } = fresh();
    const searchConfig = paperSearchConfig(tinyConfig().model, { space: [1, 2, 4], epochs: 1, archLr: 0.01 });
    const run = beginRun(store, {
      config: superNetworkConfig(searchConfig),
      search: { config: searchConfig, thenTrain, result: null },
      dataset,
      outDir: null,
      runsDir,
      resume: false,
    });
    const found = await search({ config: searchConfig, data, emit: run.recorder.emit, outDir: join(run.outDir, 'search') });
    if (found.status !== 'finished') throw new Error('search did not finish');
    if (thenTrain !== null) {
      await train({ config: foundNetworkConfig(searchConfig, found.alphas, thenTrain), data, emit: run.recorder.emit, outDir: join(run.outDir, 'train') });
    }
    run.recorder.close();
    const record = store.runs.require(run.runId);
    expect(record).toMatchObject({ kind: 'search', status: 'finished', backend: 'wasm' });
    // The paper's mode: the argmax is the answer, with no projection; the epoch's E[MACs] is kept without a target.
    expect(record.search).toEqual({
      config: searchConfig,
      thenTrain,
      result: {
        alphas: found.alphas,
        cost: found.cost,
        argmax: { alphas: found.alphas, cost: found.cost.small },
        projection: null,
        warnings: expect.any(Array),
      },
      epochs: [{ epoch: 1, tau: 15, expectedMacs: expect.any(Number), target: null, penalty: 0 }],
    });
    expect(record.cost!.small).toEqual(found.cost.small);
    expect(store.danChoices.list(run.runId)).toHaveLength(1);
    if (thenTrain === null) {
      // The searched network, on the validation split, ends a search alone.
      expect(record.val.small).not.toBeNull();
      expect(record.outputs).toBeNull();
    } else {
      expect(record.config.alpha).toEqual(found.alphas);
      expect(record.outputs!.small).not.toBeNull();
      expect(store.metrics.epochs(run.runId)).toHaveLength(1);
    }
    store.close();
  });
});
