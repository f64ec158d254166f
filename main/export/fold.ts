/**
 * Weight arithmetic of the exporters, on plain arrays so it is checked on its
 * own: layout changes from the engine's NHWC world to ONNX's NCHW and
 * TFLite's OHWI ones, and batch norms as a scale and shift per channel.
 */

type Weights = Float32Array | Int8Array;

/** [k, k, cin, cout] (the engine's) → [cout, cin, k, k] (ONNX's OIHW), float or int8. */
export function hwioToOihw<T extends Weights>(w: T, k: number, cin: number, cout: number, into: T): T {
  if (w.length !== k * k * cin * cout) throw new Error(`conv weight has ${w.length} values, expected ${k}×${k}×${cin}×${cout}`);
  for (let s = 0; s < k * k; s++) {
    for (let i = 0; i < cin; i++) {
      const src = (s * cin + i) * cout;
      for (let o = 0; o < cout; o++) into[(o * cin + i) * k * k + s] = w[src + o]!;
    }
  }
  return into;
}

/** [k, k, cin, cout] → TFLite's [cout, k, k, cin] (OHWI). */
export function hwioToOhwi<T extends Weights>(w: T, k: number, cin: number, cout: number, into: T): T {
  if (w.length !== k * k * cin * cout) throw new Error(`conv weight has ${w.length} values, expected ${k}×${k}×${cin}×${cout}`);
  for (let s = 0; s < k * k; s++) {
    for (let i = 0; i < cin; i++) {
      for (let o = 0; o < cout; o++) into[(o * k * k + s) * cin + i] = w[(s * cin + i) * cout + o]!;
    }
  }
  return into;
}

/** Depthwise [k, k, c] → ONNX grouped-conv [c, 1, k, k]. (TFLite's [1, k, k, c] is the same memory as the input.) */
export function depthwiseToOnnx<T extends Weights>(w: T, k: number, c: number, into: T): T {
  for (let s = 0; s < k * k; s++) for (let ch = 0; ch < c; ch++) into[ch * k * k + s] = w[s * c + ch]!;
  return into;
}

/** [rows, cols] → [cols, rows]: the engine's dense [in, out] as TFLite's fully-connected [out, in]. */
export function transpose<T extends Weights>(w: T, rows: number, cols: number, into: T): T {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) into[c * rows + r] = w[r * cols + c]!;
  return into;
}

export interface BatchNormValues {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * A batch norm in inference mode as one scale and shift per channel:
 * bn(x) = x·s + (β − μ·s) with s = γ / √(σ² + ε). Computed in float64;
 * callers round once, where the value is stored.
 */
export function batchNormAffine(bn: BatchNormValues): { scale: Float64Array; shift: Float64Array } {
  const c = bn.gamma.length;
  if (bn.beta.length !== c || bn.mean.length !== c || bn.variance.length !== c) {
    throw new Error(`batch norm vectors differ in length: γ ${c}, β ${bn.beta.length}, μ ${bn.mean.length}, σ² ${bn.variance.length}`);
  }
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let o = 0; o < c; o++) {
    scale[o] = bn.gamma[o]! / Math.sqrt(bn.variance[o]! + bn.epsilon);
    shift[o] = bn.beta[o]! - bn.mean[o]! * scale[o]!;
  }
  return { scale, shift };
}

/** NHWC → NCHW for a batch of images. */
export function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        const src = ((b * h + y) * w + xx) * c;
        for (let k = 0; k < c; k++) out[((b * c + k) * h + y) * w + xx] = x[src + k]!;
      }
    }
  }
  return out;
}
