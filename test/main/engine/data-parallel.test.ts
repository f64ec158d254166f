import { tinyConfig } from '../../helpers/configs.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { budgetedSearch, type SearchConfig } from '../../../shared/dan.js';
import type { EngineEvent } from '../../../shared/events.js';
import { recipe, type TrainConfig } from '../../../shared/train-config.js';
import * as tf from '@tensorflow/tfjs';
import { prepareSearch, search, searchStep } from '../../../main/engine/dan/search.js';
import { synthesize } from '../../../main/engine/data/synthetic.js';
import { createGroupBuffer, ReplicaAborted, ReplicaGroup, type GroupLayout } from '../../../main/engine/parallel/replica-group.js';
import { Replicas, shardedStep } from '../../../main/engine/parallel/replicas.js';
import { Rng } from '../../../main/engine/rng.js';
import { evaluate } from '../../../main/engine/evaluate.js';
import { prepareTraining, train, trainStep } from '../../../main/engine/train.js';
import { tempDirs } from '../../helpers/store.js';
import { useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();
const temp = tempDirs('adjoin-data-parallel-');

const GROUP_MODULE = fileURLToPath(new URL('../../../build/main/engine/parallel/replica-group.js', import.meta.url));

/** Replica 1 of a group in a worker thread, running `body` (JavaScript, with `group` in scope); resolves with what it posts. */
function otherReplica(buffer: SharedArrayBuffer, layout: GroupLayout, body: string): Promise<unknown> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(${JSON.stringify(GROUP_MODULE)}).then(({ ReplicaGroup }) => {
      const group = new ReplicaGroup(workerData.buffer, workerData.layout, 1);
      try { parentPort.postMessage(${body}); } catch (e) { parentPort.postMessage({ error: e.name + ': ' + e.message }); }
    });`;
  const w = new Worker(code, { eval: true, workerData: { buffer, layout } });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

describe('the replica group', () => {
  const layout: GroupLayout = { count: 2, smallCapacity: 8, largeCapacity: 16 };

  it('adds every replica’s vectors, in the same order on each, through many exchanges in a row', async () => {
    const buffer = createGroupBuffer(layout);
    const group = new ReplicaGroup(buffer, layout, 0);
    const other = otherReplica(
      buffer,
      layout,
      `(() => { const out = []; for (let k = 0; k < 50; k++) out.push(Array.from(group.allReduce([k, 0.5]))); out.push(Array.from(group.allReduceLarge(new Float32Array([1, 2, 3])))); return out; })()`,
    );
    const mine: number[][] = [];
    for (let k = 0; k < 50; k++) mine.push(Array.from(group.allReduce([10 * k, 0.25])));
    mine.push(Array.from(group.allReduceLarge(new Float32Array([10, 20, 30]))));
    const theirs = (await other) as number[][];
    // Exchange k: (10k + k, 0.25 + 0.5) on both replicas; two slots alternate, so none is overwritten early.
    expect(mine.slice(0, 50)).toEqual(Array.from({ length: 50 }, (_, k) => [11 * k, 0.75]));
    expect(theirs).toEqual(mine);
    expect(mine[50]).toEqual([11, 22, 33]);
  });

  it('wakes a waiting replica with the reason when another gives up', async () => {
    const buffer = createGroupBuffer(layout);
    const group = new ReplicaGroup(buffer, layout, 0);
    const waiting = otherReplica(buffer, layout, `(() => { group.allReduce([1]); return 'not reached'; })()`);
    await group.arrivals(1);
    group.abort('training replica 0 failed: out of memory');
    expect(await waiting).toEqual({ error: 'ReplicaAborted: training replica 0 failed: out of memory' });
    expect(() => group.barrier()).toThrow(ReplicaAborted);
  });

  it('refuses vectors longer than its capacity', () => {
    const group = new ReplicaGroup(createGroupBuffer(layout), layout, 0);
    expect(() => group.allReduce(new Float64Array(9))).toThrow(/exceeds the group's 8/);
  });
});

const trainConfig = (over: Partial<TrainConfig> = {}): TrainConfig => tinyConfig({ seed: 0, ...over });

interface Recorded {
  losses: number[];
  events: EngineEvent[];
}

async function trainRecorded(
  config: TrainConfig,
  workers: number,
  trainCount = 48,
  outDir: string | null = null,
): Promise<Recorded & { outcome: Awaited<ReturnType<typeof train>> }> {
  const data = synthesize({ classes: 3, size: 12, channels: 1, train: trainCount, val: 24, seed: 2 });
  const events: EngineEvent[] = [];
  const outcome = await train({ config, data, workers, outDir, stepEventInterval: 0, emit: (e) => events.push(e) });
  return { outcome, events, losses: events.flatMap((e) => (e.type === 'step' ? [e.loss] : [])) };
}

/** Relative difference, for losses of order 1. */
const close = (a: number[], b: number[], tol: number): void => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]!) / Math.max(Math.abs(v), 1e-3), `step ${i + 1}: ${v} vs ${b[i]}`).toBeLessThan(tol));
};

describe('data-parallel training', () => {
  it.each([
    ['an, even shards (8 + 8)', trainConfig()],
    ['an, uneven shards (8 + 7)', trainConfig({ batchSize: 15 })],
    ['standard', trainConfig({ mode: 'standard', alpha: null })],
    ['an, the short recipe (the replica takes the cycled momentum too)', trainConfig(recipe('short', 16))],
  ])('follows the single-engine loss curve step by step: %s', async (_name, config) => {
    const one = await trainRecorded(config, 1, 45);
    const two = await trainRecorded(config, 2, 45);
    expect(two.events[0]).toMatchObject({ type: 'started', backend: { device: expect.stringMatching(/2 engines in parallel$/) } });
    // Synchronised batch norm and summed gradients: the same training, up to float rounding.
    close(one.losses, two.losses, 2e-4);
    const val = (r: Recorded): number[] => {
      const end = r.events.find((e) => e.type === 'finished');
      return end?.type === 'finished' ? [end.val.full?.loss ?? 0, end.val.small?.loss ?? 0] : [];
    };
    close(val(one), val(two), 2e-3);
  });

  it('distils on two engines as on one (the replica loads the teacher itself)', async () => {
    const dir = temp();
    const teacher = await trainRecorded(trainConfig({ mode: 'standard', alpha: null, epochs: 1 }), 1, 48, dir);
    expect(teacher.outcome.status).toBe('finished');
    const network = join(dir, 'network.adjoin');
    const kd = trainConfig({ mode: 'kd', kd: { teacher: network, teacherRun: null, temperature: 4, weight: 0.9 } });
    close((await trainRecorded(kd, 1)).losses, (await trainRecorded(kd, 2)).losses, 2e-4);
  });

  it('takes the same DAN search steps on two engines as on one: weights and η agree after each, and validation is shared', async () => {
    const config: SearchConfig = { ...trainConfig(), space: [1, 2, 4], gamma: 1, archLr: 0.01, tau: { initial: 15, decay: 0.045 }, noise: 'fresh' };
    const data = synthesize({ classes: 3, size: 12, channels: 1, train: 48, val: 24, seed: 2 });
    const one = prepareSearch(config, data, new Rng(1));
    const two = prepareSearch(config, data, new Rng(1));
    const replicas = await Replicas.start({
      count: 2,
      backend: 'wasm',
      task: { kind: 'search', config },
      variables: new Map([...two.params.all(), ...two.space.etaVariables()]),
      optimizers: [two.optimizer, two.archOptimizer],
      imageSize: 144,
    });
    const maxDiff = (a: ReadonlyMap<string, tf.Variable>, b: ReadonlyMap<string, tf.Variable>): number =>
      Math.max(...[...a].map(([name, v]) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, b.get(name)!))).dataSync()[0]!)));
    try {
      for (let step = 0; step < 3; step++) {
        const batch = one.batches.build(
          one.train,
          Array.from({ length: 16 }, (_, i) => i + 16 * step),
          false,
          null,
        );
        const noise = one.space.drawNoise(new Rng(step));
        const x = tf.tensor4d(batch.x, [16, 12, 12, 1]);
        const y = tf.tensor1d(batch.y, 'int32');
        const a = await searchStep(one, x, y, 0.5, { lr: 0.01, momentum: null }, 10, noise);
        tf.dispose([x, y]);
        const b = await shardedStep(
          replicas,
          batch,
          16,
          [12, 12, 1],
          { progress: 0.5, rates: { lr: 0.01, momentum: null }, tau: 10, noise: [...noise] },
          (xs, ys, shard) => searchStep(two, xs, ys, 0.5, { lr: 0.01, momentum: null }, 10, noise, shard),
        );
        expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-6);
        expect(b.flops).toBeCloseTo(a.flops, 7);
        // (Whole searches drift further apart than this: Adam moves an η by about its
        // learning rate however small its gradient, so rounding in a near-zero gradient grows.)
        expect(maxDiff(one.space.etaVariables(), two.space.etaVariables())).toBeLessThan(1e-6);
        expect(maxDiff(one.params.trainable, two.params.trainable)).toBeLessThan(1e-6);
      }
      // The search's validation (the small path under the soft masks at τ) is shared too:
      // each engine builds the masks from its own η.
      const soft = new Map<string, tf.Tensor1D>();
      tf.tidy(() => {
        for (const [group, m] of two.space.softMasks(10, null).masks) soft.set(group, tf.keep(m));
      });
      const target = { graph: two.graph, params: two.params, plan: null, batches: two.batches, config };
      const small = { kind: 'masked' as const, plan: two.space.plan, masks: soft };
      const alone = await evaluate(target, two.val, { confusion: false, small });
      const sharding = replicas.evaluation()!;
      let dispatched = 0;
      const counted: typeof sharding = {
        dispatch: (b, n, paths) => {
          const own = sharding.dispatch(b, n, paths);
          dispatched += own?.count ?? 0;
          return own;
        },
        sum: (values) => sharding.sum(values),
      };
      const together = await evaluate(target, two.val, { confusion: false, small, softTau: 10, sharding: counted });
      tf.dispose([...soft.values()]);
      expect(dispatched).toBe(12);
      for (const path of ['full', 'small'] as const) {
        expect(together[path]!.accuracy).toBe(alone[path]!.accuracy);
        expect(together[path]!.loss).toBeCloseTo(alone[path]!.loss, 5);
      }
    } finally {
      await replicas.stop();
    }
    const events: EngineEvent[] = [];
    const outcome = await search({ config, data, workers: 2, stepEventInterval: 0, emit: (e) => events.push(e) });
    expect(outcome.status).toBe('finished');
    expect(events[0]).toMatchObject({ type: 'search-started', backend: { device: expect.stringMatching(/2 engines in parallel$/) } });
  });

  it('takes the same alternating budgeted-search steps on two engines as on one: a weight step, then an η step on a held-out batch', async () => {
    const config: SearchConfig = {
      ...trainConfig(),
      space: [1, 2, 4],
      gamma: 1,
      archLr: 0.01,
      tau: { initial: 15, decay: 0.045 },
      noise: 'fresh',
      ...budgetedSearch(40_000),
    };
    const data = synthesize({ classes: 3, size: 12, channels: 1, train: 60, val: 24, seed: 2 });
    const one = prepareSearch(config, data, new Rng(1), new Rng(5));
    const two = prepareSearch(config, data, new Rng(1), new Rng(5));
    const replicas = await Replicas.start({
      count: 2,
      backend: 'wasm',
      task: { kind: 'search', config },
      variables: new Map([...two.params.all(), ...two.space.etaVariables()]),
      optimizers: [two.optimizer, two.archOptimizer],
      imageSize: 144,
    });
    const maxDiff = (a: ReadonlyMap<string, tf.Variable>, b: ReadonlyMap<string, tf.Variable>): number =>
      Math.max(...[...a].map(([name, v]) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, b.get(name)!))).dataSync()[0]!)));
    const running = (s: typeof one): Map<string, tf.Variable> => new Map(s.params.running);
    try {
      for (let step = 0; step < 2; step++) {
        const noise = one.space.drawNoise(new Rng(step));
        const rates = { lr: 0.01, momentum: null };
        const etaRates = { lr: 0.05, momentum: null };
        for (const [phase, split, r] of [
          ['weights', one.train, rates],
          ['eta', one.heldOut!, etaRates],
        ] as const) {
          const batch = one.batches.build(
            split,
            Array.from({ length: 12 }, (_, i) => i),
            false,
            null,
          );
          const before = phase === 'eta' ? running(two) : null;
          const beforeValues = before === null ? null : new Map([...before].map(([k, v]) => [k, v.dataSync().slice()]));
          const x = tf.tensor4d(batch.x, [12, 12, 12, 1]);
          const y = tf.tensor1d(batch.y, 'int32');
          const snapshot = (m: ReadonlyMap<string, tf.Variable>): number[] => [...m.values()].flatMap((v) => [...v.dataSync()]);
          const [eta0, w0] = [snapshot(one.space.etaVariables()), snapshot(one.params.trainable)];
          const a = await searchStep(one, x, y, 0.5, r, 2, noise, null, { phase, etaLr: 0.05 });
          // The weight step moves the weights and not η; the η step moves η and not the weights.
          const moved = (before: number[], after: number[]): boolean => before.some((v, i) => v !== after[i]);
          expect(moved(eta0, snapshot(one.space.etaVariables())), `${phase} moves η`).toBe(phase === 'eta');
          expect(moved(w0, snapshot(one.params.trainable)), `${phase} moves the weights`).toBe(phase === 'weights');
          tf.dispose([x, y]);
          const b = await shardedStep(
            replicas,
            batch,
            12,
            [12, 12, 1],
            { progress: 0.5, rates: r, tau: 2, noise: [...noise], phase, etaLr: 0.05 },
            (xs, ys, shard) => searchStep(two, xs, ys, 0.5, r, 2, noise, shard, { phase, etaLr: 0.05 }),
          );
          expect(Math.abs(a.loss - b.loss), phase).toBeLessThan(1e-5);
          expect(b.penalty).toBeCloseTo(a.penalty, 6);
          expect(maxDiff(one.space.etaVariables(), two.space.etaVariables()), phase).toBeLessThan(1e-6);
          expect(maxDiff(one.params.trainable, two.params.trainable), phase).toBeLessThan(1e-6);
          // The η step leaves the batch-norm running statistics as they were: held-out images do not leak into them.
          if (beforeValues !== null) for (const [k, v] of running(two)) expect([...v.dataSync()], k).toEqual([...beforeValues.get(k)!]);
        }
      }
    } finally {
      await replicas.stop();
    }
  });

  it('takes a batch smaller than the engines on the leader alone and keeps the others in step', async () => {
    // 49 images in batches of 16: each epoch ends with a batch of one image.
    const config = trainConfig({ epochs: 2 });
    const one = await trainRecorded(config, 1, 49);
    const two = await trainRecorded(config, 2, 49);
    expect(two.outcome.status).toBe('finished');
    // Up to the one-image batch the curves agree; after it, the replica has the leader's weights again
    // (a replica out of step would make the next steps' losses disagree far beyond rounding).
    close(one.losses.slice(0, 4), two.losses.slice(0, 4), 2e-4);
    close(one.losses.slice(4, 6), two.losses.slice(4, 6), 2e-2);
  });

  it.each([
    ['an', trainConfig()],
    ['standard', trainConfig({ mode: 'standard', alpha: null })],
    ['small', trainConfig({ mode: 'small' })],
  ])('evaluates on two engines as on one, odd shards and confusion matrix included: %s', async (_name, config) => {
    // 25 validation images: shards of 13 and 12.
    const data = synthesize({ classes: 3, size: 12, channels: 1, train: 48, val: 25, seed: 2 });
    const setup = prepareTraining(config, data, new Rng(1));
    const replicas = await Replicas.start({
      count: 2,
      backend: 'wasm',
      task: { kind: 'train', config },
      variables: setup.params.all(),
      optimizers: [setup.optimizer],
      imageSize: 144,
    });
    try {
      // Some training first, so that running statistics and weights are not at their initial values.
      for (let k = 0; k < 3; k++) {
        const indices = Int32Array.from({ length: 16 }, (_, i) => (16 * k + i) % 48);
        const batch = setup.batches.build(setup.train, indices, false, null);
        await shardedStep(replicas, batch, 16, [12, 12, 1], { progress: k / 10, rates: { lr: 0.05, momentum: null }, tau: null, noise: null }, (x, y, shard) =>
          trainStep(setup, x, y, k / 10, { lr: 0.05, momentum: null }, shard),
        );
      }
      const alone = await evaluate(setup, setup.val, { confusion: false });
      const sharding = replicas.evaluation()!;
      let dispatched = 0;
      const counted: typeof sharding = {
        dispatch: (batch, n, paths) => {
          const own = sharding.dispatch(batch, n, paths);
          if (own !== null) dispatched += own.count;
          return own;
        },
        sum: (values) => sharding.sum(values),
      };
      const together = await evaluate(setup, setup.val, { confusion: false, sharding: counted });
      expect(dispatched).toBe(13);
      for (const path of ['full', 'small'] as const) {
        if (alone[path] === null) {
          expect(together[path]).toBeNull();
          continue;
        }
        expect(together[path]!.accuracy).toBe(alone[path]!.accuracy);
        expect(together[path]!.loss).toBeCloseTo(alone[path]!.loss, 5);
      }
      expect(alone.full ?? alone.small).not.toBeNull();
      // The final evaluation, confusion matrix included, is shared the same way.
      const finalAlone = await evaluate(setup, setup.val, { confusion: true });
      dispatched = 0;
      const finalTogether = await evaluate(setup, setup.val, { confusion: true, sharding: counted });
      expect(dispatched).toBe(13);
      expect(finalTogether.confusion).toEqual(finalAlone.confusion);
      expect(finalTogether.confusion!.flat().reduce((a, b) => a + b, 0)).toBe(25);
    } finally {
      await replicas.stop();
      setup.params.dispose();
      setup.optimizer.dispose();
    }
  });

  it('fails the step, with the replica’s reason, when a replica cannot do its part', async () => {
    const config = trainConfig();
    const data = synthesize({ classes: 3, size: 12, channels: 1, train: 48, val: 24, seed: 2 });
    const setup = prepareTraining(config, data, new Rng(1));
    const replicas = await Replicas.start({
      count: 2,
      backend: 'wasm',
      task: { kind: 'train', config },
      variables: setup.params.all(),
      optimizers: [setup.optimizer],
      imageSize: 144,
    });
    try {
      // A shard whose images do not fill its shape: the replica's step throws.
      const worker = (replicas as unknown as { workers: Worker[] }).workers[0]!;
      worker.postMessage({ type: 'step', x: new Float32Array(5), y: new Int32Array(8), count: 8, share: 0.5, progress: 0, lr: 0.01, tau: null, noise: null });
      expect(() => replicas.group.barrier()).toThrow(/training replica 1 failed: .*/);
    } finally {
      await replicas.stop();
      setup.params.dispose();
      setup.optimizer.dispose();
    }
  });
});
