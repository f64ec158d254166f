import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelGraph } from '../../shared/model/graph.js';
import { engineOp, type LayersArgs } from './ops.js';
import type { NetworkParams } from './params.js';

/**
 * Builds a plain network (no adjoined layers) as a standard TF.js layers
 * model with only built-in layers, so any TF.js app can load it with
 * `tf.loadLayersModel`. Torchvision's symmetric padding becomes ZeroPadding2D
 * before a 'valid' layer; a channel slice is Permute → Cropping2D → Permute.
 */
export function toLayersModel(graph: ModelGraph, params: NetworkParams): tf.LayersModel {
  const out: tf.SymbolicTensor[] = [];
  const weights: LayersArgs['weights'] = [];
  const value = (i: number): tf.SymbolicTensor => {
    const v = out[i];
    if (v === undefined) throw new Error(`toLayersModel: node ${i} is not built yet`);
    return v;
  };
  for (const node of graph.nodes) out.push(engineOp(node).layers(node, { graph, value, params, weights }));
  const model = tf.model({ inputs: value(0), outputs: value(graph.output), name: 'adjoin' });
  for (const { layer, values } of weights) layer.setWeights(values);
  return model;
}

/** Trainable scalars of a layers model (its batch norms' running statistics excluded). */
export function countTrainable(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

/**
 * Writes `model.json` and one weight shard, as `tf.loadLayersModel` expects,
 * optionally with float16 weights.
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string, options: { float16?: boolean } = {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      let data = artifacts.weightData as ArrayBuffer;
      let specs = artifacts.weightSpecs ?? [];
      if (options.float16 === true) {
        const f32 = new Float32Array(data);
        const f16 = new Uint16Array(f32.length);
        for (let i = 0; i < f32.length; i++) f16[i] = toHalf(f32[i]!);
        data = f16.buffer;
        specs = specs.map((s) => ({ ...s, dtype: 'float32', quantization: { dtype: 'float16' } }));
      }
      const shard = 'weights.bin';
      writeFileSync(join(dir, shard), Buffer.from(data));
      const json = {
        format: 'layers-model',
        generatedBy: 'Adjoin',
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [shard], weights: specs }],
      };
      writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/** IEEE 754 binary16 from binary32, round to nearest even. */
export function toHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1) === 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half += 1;
  e = 0;
  return sign | half;
}
