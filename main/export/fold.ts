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
 * bn(conv(x, W)) = conv(x, W·s) + (β − μ·s) with s = γ / √(σ² + ε), per
 * output channel. `w` is OIHW; the result is a new weight and a bias.
 * Computed in float64, rounded once.
 */
export function foldBatchNorm(w: Float32Array, cout: number, bn: BatchNormValues): { weight: Float32Array; bias: Float32Array } {
  const per = w.length / cout;
  if (!Number.isInteger(per) || bn.gamma.length !== cout) {
    throw new Error(`cannot fold a ${bn.gamma.length}-channel batch norm into a conv with ${cout} outputs`);
  }
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const s = bn.gamma[o]! / Math.sqrt(bn.variance[o]! + bn.epsilon);
    for (let k = 0; k < per; k++) weight[o * per + k] = w[o * per + k]! * s;
    bias[o] = bn.beta[o]! - bn.mean[o]! * s;
  }
  return { weight, bias };
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
