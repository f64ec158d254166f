import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ModelGraph } from '../../shared/model/graph.js';
import { saveLayersModel, toLayersModel } from '../engine/layers-model.js';
import type { NetworkParams } from '../engine/params.js';
import type { ExportFile } from './files.js';

/**
 * A plain network as TF.js layers-model files (`model.json` + `weights.bin`,
 * optionally float16 weights), in memory: the engine's own writer saves them
 * to a private temporary folder, and they are read back from there.
 */
export async function toTfjsFiles(graph: ModelGraph, params: NetworkParams, options: { float16: boolean }): Promise<ExportFile[]> {
  const model = toLayersModel(graph, params);
  const dir = mkdtempSync(join(tmpdir(), 'adjoin-tfjs-'));
  try {
    await saveLayersModel(model, dir, { float16: options.float16 });
    return readdirSync(dir)
      .sort()
      .map((name) => ({ name, data: new Uint8Array(readFileSync(join(dir, name))) }));
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Loads TF.js layers-model files from memory, as an app would load them from disk. */
export async function loadTfjsFiles(files: readonly ExportFile[]): Promise<tf.LayersModel> {
  const file = (name: string): Uint8Array => {
    const f = files.find((x) => x.name === name);
    if (f === undefined) throw new Error(`the TF.js export has no ${name}`);
    return f.data;
  };
  const json = JSON.parse(Buffer.from(file('model.json')).toString('utf8')) as {
    modelTopology: object;
    weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const shards = json.weightsManifest.flatMap((g) => g.paths.map(file));
  const total = shards.reduce((n, s) => n + s.byteLength, 0);
  const weightData = new Uint8Array(total);
  let at = 0;
  for (const s of shards) {
    weightData.set(s, at);
    at += s.byteLength;
  }
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer }));
}
