import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arr, decodeJson, int, nullable, num, obj, str } from '../../shared/decode.js';
import type { ModelConfig } from '../../shared/model/config.js';

/** Debian's python3-torch is for the system Python, not another one on PATH. */
const PYTHON = '/usr/bin/python3';
const REFERENCE = fileURLToPath(new URL('../main/engine/torch/reference_run.py', import.meta.url));

/** Whether PyTorch can be imported by the system Python here. */
export const hasTorch: boolean = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

// CI installs the package and sets ADJOIN_REQUIRE_TORCH: there a missing PyTorch fails instead of skipping.
if (!hasTorch && process.env['ADJOIN_REQUIRE_TORCH'] === '1') {
  throw new Error('PyTorch is missing for /usr/bin/python3 (apt-get install python3-torch)');
}
if (!hasTorch) console.warn('PyTorch reference tests skipped: apt-get install python3-torch (CI installs it)');

/** A tensor of the network by Adjoin's name and layout (conv [kh, kw, in, out], dense [in, out]). */
export interface TensorEntry {
  name: string;
  shape: number[];
  /** A parameter the optimiser moves (false: a running statistic). */
  trainable: boolean;
}

/** The engine's state before one step: every tensor in the entries' order, and the momentum buffers of the trainable ones. */
export interface EngineState {
  values: Float32Array[];
  /** null before the first step, which starts the buffers. */
  buffers: Float32Array[] | null;
}

/** What the reference is given: the run's settings, the engine's state before each step and the very batches it trained on. */
export interface ReferenceRunInput {
  recipe: 'short';
  mode: 'standard' | 'an';
  alpha: number | null;
  model: ModelConfig;
  batchSize: number;
  /** The run's length as the schedule sees it. */
  totalSteps: number;
  tensors: readonly TensorEntry[];
  /** One per step, and the state after the last step. */
  states: readonly EngineState[];
  /** One per step: NHWC images, already normalised, and labels. */
  batches: ReadonlyArray<{ x: Float32Array; y: Int32Array }>;
}

/** A ReLU gate float32 set the other way: its site (`<layer>.<path>`), its NCHW index and its input in float64. */
export interface GateFlip {
  site: string;
  index: number[];
  z: number;
}

/** One step as PyTorch takes it from the engine's state, in float64. */
export interface ReferenceStep {
  loss: number;
  ce: number;
  kl: number | null;
  smallCe: number | null;
  lr: number;
  momentum: number;
  lambda: number | null;
  /** ReLU inputs within the script's band around zero: gates float32 may set the other way. */
  nearKinks: number;
  /** Those of them the engine's step is explained with, applied to `after` and `buffers`. */
  flips: GateFlip[];
  /** Every tensor after the step, in the entries' order. */
  after: Float64Array[];
  /** The trainable tensors' momentum buffers after the step. */
  buffers: Float64Array[];
}

export interface ReferenceRun {
  torchVersion: string;
  steps: ReferenceStep[];
}

const resultFile = obj({
  torch: str,
  steps: arr(
    obj({
      loss: num,
      ce: num,
      kl: nullable(num),
      smallCe: nullable(num),
      lr: num,
      momentum: num,
      lambda: nullable(num),
      nearKinks: int,
      flips: arr(obj({ site: str, index: arr(int), z: num })),
    }),
  ),
});

/** The arrays' bytes, one after another. */
function bytesOf(parts: ReadonlyArray<Float32Array | Int32Array>): Buffer {
  return Buffer.concat(parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength)));
}

/** Cuts a file of float64 values into pieces of the given sizes, refusing a file of another length. */
function readPieces(path: string, sizes: readonly number[]): Float64Array[] {
  const bytes = readFileSync(path);
  const flat = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (flat.length !== total) throw new Error(`${path} has ${flat.length} values, expected ${total}`);
  let at = 0;
  return sizes.map((n) => {
    at += n;
    return flat.subarray(at - n, at);
  });
}

/** Runs `test/main/engine/torch/reference_run.py` on the input, through files in a temporary folder. */
export function torchReferenceRun(input: ReferenceRunInput): ReferenceRun {
  const dir = mkdtempSync(join(tmpdir(), 'adjoin-torch-'));
  try {
    const { tensors, states, batches, ...settings } = input;
    if (states.length !== batches.length + 1) throw new Error(`${states.length} states for ${batches.length} steps (one more is the state after the last)`);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...settings, steps: batches.length, params: tensors }));
    writeFileSync(join(dir, 'images.bin'), bytesOf(batches.map((b) => b.x)));
    writeFileSync(join(dir, 'labels.bin'), bytesOf(batches.map((b) => b.y)));
    states.forEach((s, k) => writeFileSync(join(dir, `state-${k}.bin`), bytesOf([...s.values, ...(s.buffers ?? [])])));
    execFileSync(PYTHON, [REFERENCE, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const result = decodeJson(readFileSync(join(dir, 'result.json'), 'utf8'), resultFile, 'result.json');
    const sizes = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
    const trainableSizes = sizes.filter((_, i) => tensors[i]!.trainable);
    const steps = result.steps.map((s, k): ReferenceStep => {
      const after = readPieces(join(dir, `after-${k}.bin`), [...sizes, ...trainableSizes]);
      return { ...s, after: after.slice(0, sizes.length), buffers: after.slice(sizes.length) };
    });
    return { torchVersion: result.torch, steps };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
