import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SearchConfig } from '../../../shared/dan.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { ModelConfig } from '../../../shared/model/config.js';
import { buildGraph } from '../../../shared/model/graph.js';
import { planSmall } from '../../../shared/model/plan.js';
import { DEFAULT_KD, DEFAULT_LOSS, recipe } from '../../../shared/train-config.js';
import { activeBackend } from '../../../main/engine/backend.js';
import { batchNormInference, batchNormTrain } from '../../../main/engine/batch-norm.js';
import { prepareSearch, search, searchStep } from '../../../main/engine/dan/search.js';
import { synthesize } from '../../../main/engine/data/synthetic.js';
import { extractSmall } from '../../../main/engine/extract.js';
import { forward } from '../../../main/engine/forward.js';
import { adjoinedLoss } from '../../../main/engine/loss.js';
import { createParams, type NetworkParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { prepareTraining, train, trainStep } from '../../../main/engine/train.js';
import { plainFull } from '../../../main/export/networks.js';
import { toOnnx } from '../../../main/export/onnx-model.js';
import { toTfjsFiles } from '../../../main/export/tfjs-model.js';
import { onnxExporter } from '../../../main/export/formats/onnx.js';
import { tfjsExporter } from '../../../main/export/formats/tfjs.js';
import { batchFromArray, compareLogits, engineLogits } from '../../../main/export/verify.js';
import { tinyConfig } from '../../helpers/configs.js';
import { runExported } from '../../helpers/networks.js';
import { seeded } from '../../helpers/tf.js';
import { useWebgpuBackend, WEBGPU_SKIP } from '../../helpers/webgpu.js';

useWebgpuBackend();

/*
 * SwiftShader compiles every shader on the CPU, so these tests keep to tiny
 * networks (a few channels, 8×8 inputs) and a handful of steps, and reuse one
 * configuration so that its compiled pipelines serve several tests.
 */
const MODEL: ModelConfig = { arch: 'resnet18', stem: 'cifar', inputSize: 8, channels: 1, classes: 3, width: 0.125, compressFirstStage: false };
const BATCH = 8;
const data = synthesize({ classes: 3, size: 8, channels: 1, train: 16, val: 8, seed: 4 });

/** Runs `fn` on the cpu backend (the reference), then returns to webgpu. */
async function onCpu<T>(fn: () => Promise<T>): Promise<T> {
  await tf.setBackend('cpu');
  try {
    return await fn();
  } finally {
    await tf.setBackend('webgpu');
  }
}

/** Largest difference relative to the reference's largest magnitude (float32 sums run in another order on a GPU). */
function relativeDiff(got: ArrayLike<number>, reference: ArrayLike<number>): number {
  expect(got.length).toBe(reference.length);
  let scale = 1e-6;
  let diff = 0;
  for (let i = 0; i < reference.length; i++) {
    scale = Math.max(scale, Math.abs(reference[i]!));
    diff = Math.max(diff, Math.abs(got[i]! - reference[i]!));
  }
  return diff / scale;
}

async function values(ts: tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(ts.map(async (t) => (await t.data()) as Float32Array));
}

async function paramValues(params: NetworkParams): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of params.all()) out.set(name, (await v.data()) as Float32Array);
  return out;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.skipIf(WEBGPU_SKIP !== null)('the webgpu backend, forced onto SwiftShader', () => {
  it('says what it runs on: a software adapter, labelled CPU and never GPU', () => {
    const info = activeBackend()!;
    expect(tf.getBackend()).toBe('webgpu');
    expect(info.kind).toBe('webgpu');
    expect(info.label).toBe('CPU');
    expect(info.device).toMatch(/SwiftShader/);
    expect(info.device).toMatch(/software WebGPU adapter/);
    expect(info.skipped).toEqual([{ kind: 'gpu', reason: 'not tried: ADJOIN_BACKEND=webgpu forces webgpu' }]);
  });

  it.each([
    [3, 1, 'same'],
    [3, 2, 'same'],
    [1, 2, 'valid'],
    [7, 2, 'same'],
  ] as const)('conv2d k=%i stride %i (%s): output, input gradient and filter gradient match the cpu backend', async (k, stride, pad) => {
    const xs = seeded(2 * 8 * 8 * 3, k + stride);
    const ws = seeded(k * k * 3 * 4, 10 + k);
    const run = async (): Promise<Float32Array[]> => {
      const x = tf.tensor4d(xs, [2, 8, 8, 3]);
      const w = tf.tensor4d(ws, [k, k, 3, 4]);
      const f = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => {
        const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
        return tf.sum(tf.mul(y, tf.tensor(seeded(y.size, 99), y.shape)));
      };
      const y = tf.conv2d(x, w, stride, pad);
      const [dx, dw] = tf.grads(f)([x, w]);
      const out = await values([y, dx!, dw!]);
      tf.dispose([x, w, y, dx!, dw!]);
      return out;
    };
    const reference = await onCpu(run);
    const got = await run();
    got.forEach((g, i) => expect(relativeDiff(g, reference[i]!), ['output', 'input gradient', 'filter gradient'][i]).toBeLessThan(1e-5));
  });

  it.each([
    [false, false, false],
    [true, true, false],
    [true, true, true],
  ])(
    'the training batch norm (residual=%s, relu=%s, mask=%s) and every gradient match the cpu backend’s fused kernels',
    async (withResidual, relu, withMask) => {
      const shape: [number, number, number, number] = [2, 4, 4, 6];
      const n = shape.reduce((a, b) => a * b);
      const run = async (): Promise<Float32Array[]> => {
        const inputs = [
          tf.tensor(seeded(n, 1), shape),
          tf.tensor1d(seeded(6, 2)),
          tf.tensor1d(seeded(6, 3)),
          tf.tensor1d([1, 0.75, 0.5, 0.25, 0.5, 0]),
          tf.tensor(seeded(n, 4), shape),
        ];
        const up = tf.tensor(seeded(n, 5), shape);
        const f = (...a: tf.Tensor[]): tf.Scalar => {
          const { y } = batchNormTrain(a[0]!, a[1] as tf.Tensor1D, a[2] as tf.Tensor1D, {
            epsilon: 1e-5,
            activation: relu ? 'relu' : 'none',
            mask: withMask ? (a[3] as tf.Tensor1D) : null,
            residual: withResidual ? a[4]! : null,
          });
          return tf.sum(tf.mul(y, up));
        };
        const used = inputs.filter((_, i) => (i !== 3 || withMask) && (i !== 4 || withResidual));
        const grads = tf.grads((...a: tf.Tensor[]) => {
          const all = inputs.map((t) => a[used.indexOf(t)] ?? t);
          return f(...all);
        })(used);
        const stats = batchNormTrain(inputs[0]!, inputs[1] as tf.Tensor1D, inputs[2] as tf.Tensor1D, { epsilon: 1e-5 });
        const inference = batchNormInference(inputs[0]!, inputs[1] as tf.Tensor1D, inputs[2] as tf.Tensor1D, stats, {
          epsilon: 1e-5,
          activation: relu ? 'relu' : 'none',
        });
        const out = await values([f(...inputs), stats.mean, stats.variance, inference, ...grads]);
        tf.dispose([...inputs, up, ...grads, stats.y, stats.mean, stats.variance, inference]);
        return out;
      };
      const reference = await onCpu(run);
      const got = await run();
      expect(got).toHaveLength(reference.length);
      got.forEach((g, i) => expect(relativeDiff(g, reference[i]!), `output ${i}`).toBeLessThan(1e-5));
    },
  );

  it.each([
    { ...MODEL },
    { ...MODEL, stem: 'imagenet', inputSize: 16, compressFirstStage: true },
    { ...MODEL, arch: 'densenet121', width: 0.0625 },
  ] as ModelConfig[])('$arch ($stem stem): the adjoined loss and its gradient for every weight match the cpu backend', async (model) => {
    const graph = buildGraph(model);
    const plan = planSmall(graph, 2);
    const size = model.inputSize;
    const xs = seeded(4 * size * size, 7);
    const labels = [0, 1, 2, 1];
    const run = async (): Promise<{ loss: number; grads: Map<string, Float32Array> }> => {
      const params = createParams(graph, plan, new Rng(3));
      const x = tf.tensor4d(xs, [4, size, size, 1]);
      const y = tf.tensor1d(labels, 'int32');
      const { value, grads } = tf.variableGrads(() => {
        const out = forward(graph, params, x, { training: true, small: { kind: 'sliced', plan } });
        return adjoinedLoss(y, out.full!, out.small!, { lambda: 1, c: 1, beta: 1 }).total;
      }, [...params.trainable.values()]);
      // variableGrads keys gradients by the variables' global names; ours are the parameter names.
      const names = [...params.trainable].map(([name, v]) => [name, v.name] as const);
      const read = await values([value, ...names.map(([, id]) => grads[id]!)]);
      tf.dispose([x, y, value, ...Object.values(grads)]);
      params.dispose();
      return { loss: read[0]![0]!, grads: new Map(names.map(([name], i) => [name, read[i + 1]!])) };
    };
    const reference = await onCpu(run);
    const got = await run();
    expect(got.loss).toBeCloseTo(reference.loss, 5);
    expect([...got.grads.keys()].sort()).toEqual([...reference.grads.keys()].sort());
    // Over the whole network: a single weight's gradient can be a sum that cancels (a
    // DenseNet stem's γ differs by 1% between the cpu and wasm backends too), so the
    // measure is the gradient vector's, not the worst entry's.
    let diff = 0;
    let norm = 0;
    let largest = 0;
    let worst = 0;
    for (const [name, g] of got.grads) {
      const ref = reference.grads.get(name)!;
      for (let i = 0; i < g.length; i++) {
        diff += (g[i]! - ref[i]!) ** 2;
        norm += ref[i]! ** 2;
        largest = Math.max(largest, Math.abs(ref[i]!));
        worst = Math.max(worst, Math.abs(g[i]! - ref[i]!));
      }
    }
    expect(Math.sqrt(diff / norm), 'relative L2 difference of all gradients').toBeLessThan(2e-3);
    expect(worst / largest, 'largest difference over the largest gradient').toBeLessThan(2e-3);
  });

  /** Two AN steps and two DAN search steps, from the same weights, on either backend. */
  const steps = async (): Promise<{ an: number[]; dan: number[]; weights: Map<string, Float32Array>; eta: Float32Array[] }> => {
    const setup = prepareTraining(tinyConfig({ batchSize: BATCH }, MODEL), data, new Rng(1));
    const searchSetup = prepareSearch(
      {
        model: MODEL,
        space: [1, 2, 4],
        gamma: 1,
        epochs: 1,
        batchSize: BATCH,
        ...recipe('cifar'),
        archLr: 0.05,
        loss: DEFAULT_LOSS,
        tau: { initial: 5, decay: 0.045 },
        noise: 'fixed',
        seed: 0,
        checkpointEvery: 1,
      } satisfies SearchConfig,
      data,
      new Rng(2),
    );
    const noise = searchSetup.space.drawNoise(new Rng(3));
    const an: number[] = [];
    const dan: number[] = [];
    for (let s = 0; s < 2; s++) {
      const b = setup.batches.build(
        data.train,
        Int32Array.from({ length: BATCH }, (_, i) => s * BATCH + i),
        false,
        null,
      );
      const x = tf.tensor4d(b.x, [BATCH, 8, 8, 1]);
      const y = tf.tensor1d(b.y, 'int32');
      an.push((await trainStep(setup, x, y, 0.5, { lr: 0.05, momentum: null })).loss);
      dan.push((await searchStep(searchSetup, x, y, 0.5, { lr: 0.05, momentum: null }, 5, noise)).loss);
      tf.dispose([x, y]);
    }
    const weights = await paramValues(setup.params);
    const eta = await values([...searchSetup.space.etaVariables().values()]);
    for (const s of [setup, searchSetup]) {
      s.params.dispose();
      s.optimizer.dispose();
    }
    searchSetup.archOptimizer.dispose();
    searchSetup.space.dispose();
    return { an, dan, weights, eta };
  };

  it('a few AN steps and DAN search steps land on the cpu backend’s losses, weights and η', async () => {
    const reference = await onCpu(steps);
    const got = await steps();
    got.an.forEach((l, i) => expect(l).toBeCloseTo(reference.an[i]!, 4));
    got.dan.forEach((l, i) => expect(l).toBeCloseTo(reference.dan[i]!, 4));
    for (const [name, w] of got.weights) expect(relativeDiff(w, reference.weights.get(name)!), name).toBeLessThan(1e-4);
    got.eta.forEach((e, i) => expect(relativeDiff(e, reference.eta[i]!)).toBeLessThan(1e-4));
  });

  it('extracts the small network, and its ONNX and TF.js exports agree with the engine', async () => {
    const graph = buildGraph(MODEL);
    const plan = planSmall(graph, 2);
    const params = createParams(graph, plan, new Rng(5));
    // Running statistics off their initial values, so inference batch norms are not identities.
    const x = tf.tensor4d(seeded(BATCH * 64, 6), [BATCH, 8, 8, 1]);
    tf.tidy(() => void forward(graph, params, x, { training: true, small: { kind: 'sliced', plan } }));
    const small = extractSmall(graph, plan, params);
    const inputs = seeded(BATCH * 64, 8);
    const batch = { ...batchFromArray(inputs, { n: BATCH, height: 8, width: 8, channels: 1 }), x: inputs };
    const path = await engineLogits(graph, params, batch, plan);
    const extracted = await engineLogits(small.graph, small.params, batch, null);
    expect(compareLogits(path, extracted, BATCH).maxAbsLogitDiff).toBeLessThan(1e-4);
    const onnx = compareLogits(path, await runExported(onnxExporter, [{ name: 'model.onnx', data: await toOnnx(small.graph, small.params) }], batch), BATCH);
    expect(onnx.top1Agreement).toBe(1);
    expect(onnx.maxAbsLogitDiff).toBeLessThan(1e-3);
    const tfjs = compareLogits(
      path,
      await runExported(tfjsExporter, await toTfjsFiles(plainFull(small.graph), small.params, { float16: false }), batch),
      BATCH,
    );
    expect(tfjs.top1Agreement).toBe(1);
    expect(tfjs.maxAbsLogitDiff).toBeLessThan(1e-3);
    tf.dispose(x);
    small.params.dispose();
    params.dispose();
  });

  it('trains whole runs — a standard one, then the small architecture distilled from it (kd) — and a whole search', async () => {
    const out = mkdtempSync(join(tmpdir(), 'adjoin-webgpu-'));
    dirs.push(out);
    const events: EngineEvent[] = [];
    const teacherDir = join(out, 'teacher');
    const standard = await train({
      config: tinyConfig({ mode: 'standard', alpha: null, batchSize: BATCH, epochs: 1 }, MODEL),
      data,
      outDir: teacherDir,
      emit: (e) => events.push(e),
    });
    expect(standard.status).toBe('finished');
    const started = events.find((e) => e.type === 'started');
    expect(started?.type === 'started' && started.backend.kind).toBe('webgpu');
    expect(events.filter((e) => e.type === 'checkpoint').length).toBeGreaterThan(0);
    expect(readdirSync(teacherDir).sort()).toEqual(expect.arrayContaining(['checkpoint.ckpt', 'network.adjoin', 'run.json']));
    const kd = await train({
      config: tinyConfig(
        { mode: 'kd', alpha: 2, batchSize: BATCH, epochs: 1, kd: { teacher: join(teacherDir, 'network.adjoin'), teacherRun: null, ...DEFAULT_KD } },
        MODEL,
      ),
      data,
      outDir: join(out, 'student'),
      emit: () => undefined,
    });
    expect(kd.status).toBe('finished');
    expect(readdirSync(join(out, 'student')).sort()).toEqual(expect.arrayContaining(['network.adjoin', 'small-tfjs']));

    const found = await search({
      config: {
        model: MODEL,
        space: [1, 2, 4],
        gamma: 1,
        epochs: 1,
        batchSize: BATCH,
        ...recipe('cifar'),
        archLr: 0.05,
        loss: DEFAULT_LOSS,
        tau: { initial: 5, decay: 0.045 },
        noise: 'fresh',
        seed: 0,
        checkpointEvery: 1,
      },
      data,
      emit: () => undefined,
    });
    expect(found.status).toBe('finished');
  });
});
