import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../../../shared/model/config.js';
import { costReport } from '../../../shared/model/cost.js';
import { buildGraph, type ModelGraph } from '../../../shared/model/graph.js';
import { planSmall, type SmallPlan } from '../../../shared/model/plan.js';
import { extractSmall } from '../../../main/engine/extract.js';
import { forward, updateRunningStats } from '../../../main/engine/forward.js';
import { adjoinedLoss } from '../../../main/engine/loss.js';
import { createParams, type NetworkParams } from '../../../main/engine/params.js';
import { Rng } from '../../../main/engine/rng.js';
import { toTfjsFiles } from '../../../main/export/tfjs-model.js';
import { tfjsExporter } from '../../../main/export/formats/tfjs.js';
import { batchFromArray, compareLogits, engineLogits } from '../../../main/export/verify.js';
import { runExported } from '../../helpers/networks.js';
import { maxAbsDiff, onBackend, seeded, useWasmBackend } from '../../helpers/tf.js';

useWasmBackend();

const model = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  arch: 'mobilenetv2',
  stem: 'cifar',
  inputSize: 16,
  channels: 3,
  classes: 5,
  width: 0.35,
  compressFirstStage: false,
  ...over,
});

function batchOf(config: ModelConfig, n: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(seeded(n * config.inputSize ** 2 * config.channels, seed), [n, config.inputSize, config.inputSize, config.channels]);
}

/** Moves the running statistics off their initial values, so inference batch norms are not identities. */
function settle(graph: ModelGraph, params: NetworkParams, x: tf.Tensor4D, plan: SmallPlan): void {
  tf.tidy(() => updateRunningStats(params, forward(graph, params, x, { training: true, small: { kind: 'sliced', plan } }).stats, 0.9));
}

describe('adjoined MobileNetV2', () => {
  // Four plans give every width group every α of {1, 2, 4, 8}, each group beside neighbours of other α.
  const choices = [1, 2, 4, 8];
  it.each([0, 1, 2, 3])('extracts a small network whose logits equal the small path’s, with a different α in every width group (rotation %i)', (rotation) => {
    const config = model();
    const graph = buildGraph(config);
    const alphas = Object.fromEntries(graph.groups.map((g, i) => [g, choices[(i + rotation) % choices.length]!]));
    const plan = planSmall(graph, alphas);
    const params = createParams(graph, plan, new Rng(rotation));
    const x = batchOf(config, 3, 5);
    settle(graph, params, x, plan);
    const small = tf.tidy(() => forward(graph, params, x, { training: false, small: { kind: 'sliced', plan } }).small!.dataSync());
    const extracted = extractSmall(graph, plan, params);
    const got = tf.tidy(() => forward(extracted.graph, extracted.params, x, { training: false }).full!.dataSync());
    expect(maxAbsDiff(got, small)).toBeLessThanOrEqual(1e-4);
    expect(extracted.params.countTrainable()).toBe(costReport(graph, alphas).small!.params);
    expect(extracted.graph.nodes.filter((n) => n.op === 'dwconv')).toHaveLength(17);
    tf.dispose(x);
    extracted.params.dispose();
    params.dispose();
  });

  it.each([
    { stem: 'imagenet', inputSize: 32, compressFirstStage: true },
    { stem: 'cifar', inputSize: 12, compressFirstStage: true },
  ] as const)('extracts exactly with the $stem stem and a compressed first stage', (over) => {
    const config = model(over);
    const graph = buildGraph(config);
    const plan = planSmall(graph, 2);
    const params = createParams(graph, plan, new Rng(9));
    const x = batchOf(config, 2, 6);
    settle(graph, params, x, plan);
    const small = tf.tidy(() => forward(graph, params, x, { training: false, small: { kind: 'sliced', plan } }).small!.dataSync());
    const extracted = extractSmall(graph, plan, params);
    const got = tf.tidy(() => forward(extracted.graph, extracted.params, x, { training: false }).full!.dataSync());
    expect(maxAbsDiff(got, small)).toBeLessThanOrEqual(1e-4);
    tf.dispose(x);
    extracted.params.dispose();
    params.dispose();
  });

  it('exports its small network as TF.js files (DepthwiseConv2D, ReLU capped at 6) that load and agree with the engine', async () => {
    const config = model();
    const graph = buildGraph(config);
    const plan = planSmall(graph, 4);
    const params = createParams(graph, plan, new Rng(2));
    const x = batchOf(config, 4, 7);
    settle(graph, params, x, plan);
    const extracted = extractSmall(graph, plan, params);
    const files = await toTfjsFiles(extracted.graph, extracted.params, { float16: false });
    const json = JSON.parse(Buffer.from(files.find((f) => f.name === 'model.json')!.data).toString('utf8')) as {
      modelTopology: { config: { layers: Array<{ class_name: string; config: { max_value?: number } }> } };
    };
    const layers = json.modelTopology.config.layers;
    expect(layers.filter((l) => l.class_name === 'DepthwiseConv2D')).toHaveLength(17);
    expect(layers.filter((l) => l.class_name === 'ReLU').every((l) => l.config.max_value === 6)).toBe(true);
    const inputs = (await x.data()) as Float32Array;
    const batch = { ...batchFromArray(inputs, { n: 4, height: 16, width: 16, channels: 3 }), x: inputs };
    const cmp = compareLogits(await engineLogits(graph, params, batch, plan), await runExported(tfjsExporter, files, batch), batch.n);
    expect(cmp.top1Agreement).toBe(1);
    expect(cmp.maxAbsLogitDiff).toBeLessThanOrEqual(1e-4);
    tf.dispose(x);
    extracted.params.dispose();
    params.dispose();
  });

  it('computes the adjoined loss and every weight’s gradient on wasm as the cpu backend does', async () => {
    const config = model({ inputSize: 12, width: 0.35 });
    const graph = buildGraph(config);
    const plan = planSmall(graph, 4);
    const xv = seeded(6 * 12 * 12 * 3, 3);
    const labels = [0, 1, 2, 3, 4, 0];
    type Gradients = Map<string, Float32Array>;
    // Same seed, same weights on either backend; the loss is the paper's with β = 1.
    const run = (): { loss: number; training: Gradients; inference: Gradients } => {
      const params = createParams(graph, plan, new Rng(4));
      const x = tf.tensor4d(xv, [6, 12, 12, 3]);
      const y = tf.tensor1d(labels, 'int32');
      const lossAt = (training: boolean): tf.Scalar => {
        const out = forward(graph, params, x, { training, small: { kind: 'sliced', plan } });
        return adjoinedLoss(y, out.full!, out.small!, { lambda: 0.5, c: 1, beta: 1 }).total;
      };
      const gradients = (training: boolean): { loss: number; grads: Gradients } => {
        const { value, grads } = tf.variableGrads(() => lossAt(training), [...params.trainable.values()]);
        const byName = new Map([...params.trainable].map(([name, v]) => [name, grads[v.name]!.dataSync() as Float32Array]));
        const loss = value.dataSync()[0]!;
        tf.dispose([value, ...Object.values(grads)]);
        return { loss, grads: byName };
      };
      const training = gradients(true);
      settle(graph, params, x, plan);
      const inference = gradients(false);
      tf.dispose([x, y]);
      params.dispose();
      return { loss: training.loss, training: training.grads, inference: inference.grads };
    };
    /** ‖a − b‖ / ‖b‖ over the given tensors. */
    const relativeError = (a: Gradients, b: Gradients, names: Iterable<string>): number => {
      let d = 0;
      let n = 0;
      for (const name of names) {
        const [u, v] = [a.get(name)!, b.get(name)!];
        for (let i = 0; i < v.length; i++) {
          d += (u[i]! - v[i]!) ** 2;
          n += v[i]! ** 2;
        }
      }
      return Math.sqrt(d / n);
    };
    const ref = await onBackend('cpu', run);
    const got = run();
    expect(got.loss).toBeCloseTo(ref.loss, 4);
    expect([...got.inference.keys()]).toEqual([...ref.inference.keys()]);
    // On running statistics the gradient is a smooth function of the weights: every tensor agrees.
    for (const name of ref.inference.keys()) expect(relativeError(got.inference, ref.inference, [name]), name).toBeLessThan(1e-4);
    // With batch statistics it is not, at a batch this small: a depthwise channel that a ReLU6
    // leaves nearly dead has a tiny batch variance, which its batch norm divides by, and an input
    // perturbed by one part in 10⁶ moves the gradient by about 1 % on one backend alone
    // (measured). Only a gross error shows here; the kernels are checked exactly on their own.
    expect(relativeError(got.training, ref.training, ref.training.keys())).toBeLessThan(5e-2);
    // The depthwise filters and the ReLU6 batch norms do get gradient.
    expect(Math.max(...Array.from(got.training.get('s3.b2.dw.weight')!, Math.abs))).toBeGreaterThan(0);
    expect(Math.max(...Array.from(got.training.get('s3.b2.dw.bn.small.gamma')!, Math.abs))).toBeGreaterThan(0);
  });
});
