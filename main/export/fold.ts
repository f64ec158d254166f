/**
 * Weight arithmetic of the exporters, on plain arrays so it is checked on its
 * own: layout changes from the engine's NHWC world to ONNX's NCHW one, and
 * batch norms folded into the convolution before them.
 */

/** [kh, kw, cin, cout] (TF.js) → [cout, cin, kh, kw] (ONNX OIHW). */
export function hwioToOihw(w: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  if (w.length !== kh * kw * cin * cout) throw new Error(`conv weight has ${w.length} values, expected ${kh}×${kw}×${cin}×${cout}`);
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const src = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + y) * kw + x] = w[src + o]!;
      }
    }
  }
  return out;
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
