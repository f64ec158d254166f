import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNever } from '../../shared/errors.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import { BN_EPSILON } from './forward.js';
import { type NetworkParams, paramName } from './params.js';

type SymbolicTensor = tf.SymbolicTensor;

/**
 * Builds a plain network (no adjoined layers) as a standard TF.js layers
 * model with only built-in layers, so any TF.js app can load it with
 * `tf.loadLayersModel`. Torchvision's symmetric padding becomes ZeroPadding2D
 * before a 'valid' layer; a channel slice is Permute → Cropping2D → Permute.
 */
export function toLayersModel(graph: ModelGraph, params: NetworkParams): tf.LayersModel {
  const out: SymbolicTensor[] = [];
  const weights: Array<{ layer: tf.layers.Layer; values: tf.Tensor[] }> = [];
  const pad = (name: string, x: SymbolicTensor, p: number): SymbolicTensor =>
    p > 0 ? (tf.layers.zeroPadding2d({ padding: p, name: `${name}.pad` }).apply(x) as SymbolicTensor) : x;
  for (const node of graph.nodes) {
    const inp = (i: number): SymbolicTensor => out[i]!;
    switch (node.op) {
      case 'input': {
        out.push(tf.input({ shape: [node.shape.h, node.shape.w, node.shape.c], name: 'input' }));
        break;
      }
      case 'conv': {
        if (node.adjoined) throw new Error(`toLayersModel needs a plain network; ${node.name} is adjoined (extract it first)`);
        const layer = tf.layers.conv2d({
          filters: node.shape.c,
          kernelSize: node.kernel,
          strides: node.stride,
          padding: 'valid',
          useBias: false,
          name: node.name,
        });
        out.push(layer.apply(pad(node.name, inp(node.input), node.pad)) as SymbolicTensor);
        weights.push({ layer, values: [params.get(paramName.weight(node.name))] });
        break;
      }
      case 'bn': {
        const layer = tf.layers.batchNormalization({ epsilon: BN_EPSILON, name: node.name });
        out.push(layer.apply(inp(node.input)) as SymbolicTensor);
        weights.push({
          layer,
          values: [
            params.get(paramName.gamma(node.name, 'full')),
            params.get(paramName.beta(node.name, 'full')),
            params.get(paramName.mean(node.name, 'full')),
            params.get(paramName.variance(node.name, 'full')),
          ],
        });
        break;
      }
      case 'relu':
        out.push(tf.layers.reLU({ name: node.name }).apply(inp(node.input)) as SymbolicTensor);
        break;
      case 'maxpool':
        // Inputs follow a ReLU, so zero padding equals −∞ padding here.
        out.push(
          tf.layers
            .maxPooling2d({ poolSize: node.kernel, strides: node.stride, padding: 'valid', name: node.name })
            .apply(pad(node.name, inp(node.input), node.pad)) as SymbolicTensor,
        );
        break;
      case 'avgpool':
        out.push(
          tf.layers
            .averagePooling2d({ poolSize: node.kernel, strides: node.stride, padding: 'valid', name: node.name })
            .apply(inp(node.input)) as SymbolicTensor,
        );
        break;
      case 'add':
        out.push(tf.layers.add({ name: node.name }).apply(node.inputs.map(inp)) as SymbolicTensor);
        break;
      case 'concat':
        out.push(tf.layers.concatenate({ axis: -1, name: node.name }).apply(node.inputs.map(inp)) as SymbolicTensor);
        break;
      case 'gap':
        out.push(tf.layers.globalAveragePooling2d({ name: node.name }).apply(inp(node.input)) as SymbolicTensor);
        break;
      case 'dense': {
        const layer = tf.layers.dense({ units: node.shape.c, name: node.name });
        out.push(layer.apply(inp(node.input)) as SymbolicTensor);
        weights.push({ layer, values: [params.get(paramName.weight(node.name)), params.get(paramName.bias(node.name))] });
        break;
      }
      case 'slice': {
        const src = graph.nodes[node.input]!.shape;
        // [h, w, c] → [c, w, h]; crop the leading axis; back to [h, w, c'].
        const t = tf.layers.permute({ dims: [3, 2, 1], name: `${node.name}.to_chw` }).apply(inp(node.input));
        const cropped = tf.layers
          .cropping2D({
            cropping: [
              [0, src.c - node.shape.c],
              [0, 0],
            ],
            name: `${node.name}.crop`,
          })
          .apply(t);
        out.push(tf.layers.permute({ dims: [3, 2, 1], name: node.name }).apply(cropped) as SymbolicTensor);
        break;
      }
      default:
        assertNever(node, 'graph node');
    }
  }
  const model = tf.model({ inputs: out[0]!, outputs: out[graph.output]!, name: 'adjoin' });
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
