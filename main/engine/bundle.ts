import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import { NetworkParams, makeVar } from './params.js';
import { readTensorFile, writeTensorFile, type StoredTensor } from './tensor-file.js';

export const BUNDLE_FORMAT = 'adjoin-network';
export const BUNDLE_VERSION = 1;

export interface BundleMeta<Extra = unknown> {
  format: typeof BUNDLE_FORMAT;
  version: number;
  graph: ModelGraph;
  /** Names of the non-trainable tensors (batch-norm running statistics). */
  running: string[];
  extra: Extra;
}

/**
 * Named tensors' values, read together and asynchronously: a GPU backend
 * (webgpu) has no synchronous read.
 */
export async function toStored(named: Iterable<readonly [string, tf.Tensor]>): Promise<Map<string, StoredTensor>> {
  const entries = [...named];
  const data = await Promise.all(entries.map(([, t]) => t.data() as Promise<Float32Array>));
  return new Map(entries.map(([name, t], i) => [name, { shape: t.shape.slice(), data: data[i]! }]));
}

/** A network's graph and weights in one file; `extra` carries the caller's metadata. */
export async function saveNetwork<Extra>(path: string, graph: ModelGraph, params: NetworkParams, extra: Extra): Promise<void> {
  const tensors = await toStored(params.all());
  const meta: BundleMeta<Extra> = {
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    graph,
    running: [...params.running.keys()],
    extra,
  };
  writeTensorFile(path, meta, tensors);
}

export function loadNetwork<Extra = unknown>(path: string): { graph: ModelGraph; params: NetworkParams; extra: Extra } {
  const { meta, tensors } = readTensorFile(path);
  const m = meta as Partial<BundleMeta<Extra>>;
  if (m.format !== BUNDLE_FORMAT || m.graph === undefined || !Array.isArray(m.running)) {
    throw new Error(`${path} is not an Adjoin network bundle`);
  }
  if ((m.version ?? 0) > BUNDLE_VERSION) throw new Error(`${path} was written by a newer Adjoin (bundle version ${m.version})`);
  const running = new Set(m.running);
  const trainable = new Map<string, tf.Variable>();
  const runningVars = new Map<string, tf.Variable>();
  for (const [name, t] of tensors) {
    const isRunning = running.has(name);
    const v = makeVar(() => tf.tensor(t.data, t.shape, 'float32'), !isRunning);
    (isRunning ? runningVars : trainable).set(name, v);
  }
  return { graph: m.graph, params: new NetworkParams(trainable, runningVars), extra: m.extra as Extra };
}
