import * as tf from '@tensorflow/tfjs';
import { count, type Selection } from '../../shared/model/selection.js';
import { ioFor, type Io } from './batch-norm-passes.js';
import { sliceWeight } from './slicing.js';
import { copyChannels } from './wasm-kernels/channel-rows.js';
import { addRows } from './wasm-kernels/row-sums.js';

/**
 * Both paths' views of the adjoined weights, for the whole network in one
 * op: each weight as the full path reads it (the weight itself, no copy)
 * and the slice the small path reads (sliced AN training).
 *
 * Sliced one at a time, every adjoined weight cost the small path a Slice,
 * and its gradient a PadV2 back to the weight's shape and an Add to the
 * full path's gradient: three kernel calls and three tape nodes per weight,
 * 150 for MobileNetV2, most of them tiny. Here the forward pass is one
 * kernel call and the gradient one more, which adds each weight's two
 * gradients where they overlap: dW = dW_full + dW_small over the slice,
 * dW_full + 0 elsewhere — the Add of the zero-padded slice gradient, bit for
 * bit. On the wasm and cpu backends (whose memory JavaScript can reach);
 * elsewhere the slices are tfjs ops, as before.
 */
export const ADJOIN_WEIGHTS = 'AdjoinWeights';
export const ADJOIN_WEIGHTS_GRAD = 'AdjoinWeightsGrad';

/** The small path's slice of a [..., cin, cout] weight: the rows of the input channels it reads (a selection of cin), and the first `cols` columns. */
export interface WeightSlice {
  rows: Selection;
  cols: number;
}

/** The full path's weights and the small path's slices, in the order given. */
export interface AdjoinedWeights {
  full: tf.Tensor[];
  small: tf.Tensor[];
}

export function adjoinWeights(weights: readonly tf.Tensor[], slices: readonly WeightSlice[]): AdjoinedWeights {
  if (weights.length !== slices.length) throw new Error(`adjoinWeights: ${weights.length} weights but ${slices.length} slices`);
  weights.forEach((w, i) => checkSlice(w.shape, slices[i]!, i));
  const backend = tf.getBackend();
  if (weights.length === 0 || (backend !== 'wasm' && backend !== 'cpu')) {
    return { full: [...weights], small: weights.map((w, i) => sliceWeight(w, slices[i]!.rows, slices[i]!.cols)) };
  }
  registerAdjoinedWeights();
  const out = tf.engine().runKernel(ADJOIN_WEIGHTS, weights as unknown as tf.NamedTensorMap, { slices } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  const n = weights.length;
  return { full: out.slice(0, n), small: out.slice(n) };
}

function checkSlice(shape: readonly number[], s: WeightSlice, i: number): void {
  const r = shape.length;
  const [cin, cout] = [shape[r - 2], shape[r - 1]];
  const last = s.rows[s.rows.length - 1];
  if (r < 2 || cin === undefined || cout === undefined || (last !== undefined && last[1] > cin) || s.cols > cout || s.cols < 1) {
    throw new Error(`adjoinWeights: weight ${i} of shape [${shape.join(', ')}] has no slice of rows ${JSON.stringify(s.rows)} and ${s.cols} columns`);
  }
}

/** A weight's layout: `taps` leading positions (kh·kw, or 1), each `cin` rows of `cout` floats. */
interface Layout {
  taps: number;
  cin: number;
  cout: number;
}

function layoutOf(shape: readonly number[]): Layout {
  const r = shape.length;
  return { taps: shape.slice(0, r - 2).reduce((a, b) => a * b, 1), cin: shape[r - 2]!, cout: shape[r - 1]! };
}

/** The slice's shape: the rows it keeps and its columns. */
function sliceShape(shape: readonly number[], s: WeightSlice): number[] {
  return [...shape.slice(0, -2), count(s.rows), s.cols];
}

/**
 * Visits every run of consecutive rows the slice keeps: `run(fromRow, toRow,
 * rows)`, rows counted in the full weight and in the slice.
 */
function eachRun(l: Layout, s: WeightSlice, run: (fromRow: number, toRow: number, rows: number) => void): void {
  const n = count(s.rows);
  for (let t = 0; t < l.taps; t++) {
    let at = t * n;
    for (const [a, b] of s.rows) {
      run(t * l.cin + a, at, b - a);
      at += b - a;
    }
  }
}

function forwardKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const weights = inputs as unknown as tf.TensorInfo[];
    const { slices } = attrs as unknown as { slices: WeightSlice[] };
    const small = weights.map((w, i) => io.alloc(sliceShape(w.shape, slices[i]!)));
    weights.forEach((w, i) => {
      const s = slices[i]!;
      const l = layoutOf(w.shape);
      const [from, to] = [io.read(w), io.view(small[i]!)];
      eachRun(l, s, (fromRow, toRow, rows) =>
        copyChannels(io.memory, from.subarray(fromRow * l.cout), to.subarray(toRow * s.cols), rows, s.cols, l.cout, s.cols),
      );
    });
    // The full path's view shares the weight's memory, counted by reference (weights are never written in place).
    const full = weights.map((w) => {
      (backend as tf.KernelBackend & { incRef(id: tf.DataId): void }).incRef(w.dataId);
      return { dataId: w.dataId, shape: w.shape, dtype: w.dtype };
    });
    return [...full, ...small];
  };
}

/** dW_i = dFull_i + dSmall_i over the slice, dFull_i + 0 elsewhere. */
function gradKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io: Io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const grads = inputs as unknown as tf.TensorInfo[];
    const { slices } = attrs as unknown as { slices: WeightSlice[] };
    const n = slices.length;
    const outs = grads.slice(0, n).map((g) => io.alloc(g.shape));
    for (let i = 0; i < n; i++) {
      const s = slices[i]!;
      const l = layoutOf(grads[i]!.shape);
      const [dFull, dSmall, dw] = [io.read(grads[i]!), io.read(grads[n + i]!), io.view(outs[i]!)];
      addRows(io.memory, dFull, null, dw, { rows: 1, n: dFull.length, aWidth: 0, bWidth: 0, dstWidth: 0 });
      eachRun(l, s, (fromRow, toRow, rows) =>
        addRows(io.memory, dFull.subarray(fromRow * l.cout), dSmall.subarray(toRow * s.cols), dw.subarray(fromRow * l.cout), {
          rows,
          n: s.cols,
          aWidth: l.cout,
          bWidth: s.cols,
          dstWidth: l.cout,
        }),
      );
    }
    return outs;
  };
}

const gradient: tf.GradConfig = {
  kernelName: ADJOIN_WEIGHTS,
  gradFunc: (dys, _saved, attrs) => {
    // Every weight's gradient from one kernel call, made here in the tape's
    // backward scope (as the batch norm's gradient is, batch-norm.ts): each
    // input's closure runs in a tidy of its own and only hands its part over.
    const { slices } = attrs as unknown as { slices: WeightSlice[] };
    const parts = tf.engine().runKernel(ADJOIN_WEIGHTS_GRAD, dys as unknown as tf.NamedTensorMap, { slices } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return Object.fromEntries(parts.map((p, i) => [String(i), () => p]));
  },
};

let registered = false;

/** Registers the op's kernels for the wasm and cpu backends and its gradient. Idempotent. */
export function registerAdjoinedWeights(): void {
  if (registered) return;
  registered = true;
  for (const backendName of ['wasm', 'cpu']) {
    tf.registerKernel({ kernelName: ADJOIN_WEIGHTS, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: ADJOIN_WEIGHTS_GRAD, backendName, kernelFunc: gradKernel(backendName) });
  }
  tf.registerGradient(gradient);
}
