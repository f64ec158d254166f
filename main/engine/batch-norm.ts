import * as tf from '@tensorflow/tfjs';
import { ioFor, passesFor } from './batch-norm-passes.js';
import { activeReplicaGroup } from './parallel/replica-group.js';

/**
 * Training-mode batch norm — optionally scaled by a per-channel soft mask
 * (the DAN super-network), then a residual add and a ReLU — as one kernel
 * with a hand-written gradient: y = relu?(bn(x)·m + r).
 *
 * Composed from tfjs ops, a training batch norm costs ~15 full-tensor passes
 * forward and backward (moments, broadcasts, the Tile-heavy autodiff of
 * reductions), and the add and ReLU after it four more. These kernels make two
 * passes each way over NHWC memory, with per-channel sums in double
 * precision. They serve the wasm and cpu backends, whose tensors live in
 * memory JavaScript can read; on the native TensorFlow backends the composed
 * ops are fused by TensorFlow itself.
 */
export const BN_TRAIN = 'AdjoinBatchNormTrain';
/** The same with a mask input; its gradient also needs β and the mask. */
export const BN_TRAIN_MASKED = 'AdjoinBatchNormTrainMasked';
export const BN_TRAIN_GRAD = 'AdjoinBatchNormTrainGrad';

interface BnAttrs {
  epsilon: number;
  relu: boolean;
  /** Whether a residual input is added (the gradient then has a part for it). */
  residual: boolean;
}

function forwardKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { x, scale, offset, residual, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, relu } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    // Allocate first: growing wasm memory invalidates earlier heap views.
    const yInfo = io.alloc(x!.shape);
    const meanInfo = io.alloc([C]);
    const varInfo = io.alloc([C]);
    const passes = passesFor(io, C);
    try {
      const local = passes.sums(x!, total);
      // In a data-parallel step the statistics are the whole batch's, over every replica's shard.
      const { sum, sq, N } = acrossReplicas(local.sum, local.sq, total / C);
      const g = io.read(scale!);
      const b = io.read(offset!);
      const mk = mask === undefined ? null : io.read(mask);
      const mean = io.view(meanInfo);
      const variance = io.view(varInfo);
      const mul = new Float64Array(C);
      const add = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        const m = sum[c]! / N;
        const v = Math.max(sq[c]! / N - m * m, 0);
        mean[c] = m;
        variance[c] = v;
        const scaleBy = mk === null ? 1 : mk[c]!;
        const k = g[c]! / Math.sqrt(v + epsilon);
        mul[c] = k * scaleBy;
        add[c] = (b[c]! - m * k) * scaleBy;
      }
      passes.normalize(x!, residual ?? null, yInfo, mul, add, relu, total);
    } finally {
      passes.release();
    }
    return [yInfo, meanInfo, varInfo];
  };
}

function gradKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { dy, y, x, scale, offset, mask, mean, variance } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, relu, residual } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    const dxInfo = io.alloc(x!.shape);
    const dgInfo = io.alloc([C]);
    const dbInfo = io.alloc([C]);
    const drInfo = residual ? io.alloc(x!.shape) : null;
    const dmInfo = mask === undefined ? null : io.alloc([C]);
    const passes = passesFor(io, C);
    try {
      const gate = relu ? y! : null;
      // With y = relu?(bn(x)·m + r) and g = ∂L/∂(bn(x)·m + r): the ReLU passes
      // gradient where its output is positive, the add passes g to r, the mask
      // gets Σ g·bn(x), and the batch norm receives g·m.
      const local = passes.gradientSums(dy!, gate, x!, mean!, total);
      // γ, β and the mask get this shard's part of their gradient (the step adds
      // the replicas' parts with the other gradients); dx needs the whole batch's sums.
      const { sum: sg, sq: sgx, N } = acrossReplicas(local.sg, local.sgx, total / C);
      const g = io.read(scale!);
      const beta = offset === undefined ? null : io.read(offset);
      const mk = mask === undefined ? null : io.read(mask);
      const v = io.read(variance!);
      const dg = io.view(dgInfo);
      const db = io.view(dbInfo);
      const dm = dmInfo === null ? null : io.view(dmInfo);
      // dx = γ·inv·(g' − Σg'/N − x̂·Σ(g'·x̂)/N), with x̂ = (x − μ)·inv and g' = g·m.
      const k = new Float64Array(C);
      const a = new Float64Array(C);
      const bb = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        const i = 1 / Math.sqrt(v[c]! + epsilon);
        const s = mk === null ? 1 : mk[c]!;
        if (dm !== null) dm[c] = g[c]! * local.sgx[c]! * i + beta![c]! * local.sg[c]!;
        db[c] = s * local.sg[c]!;
        dg[c] = s * local.sgx[c]! * i;
        k[c] = s * g[c]! * i;
        a[c] = (sgx[c]! * i * i) / N;
        bb[c] = sg[c]! / N;
      }
      passes.inputGradient(dy!, gate, x!, mean!, { k, a, b: bb }, dxInfo, drInfo, total);
    } finally {
      passes.release();
    }
    const outs = [dxInfo, dgInfo, dbInfo];
    if (drInfo !== null) outs.push(drInfo);
    if (dmInfo !== null) outs.push(dmInfo);
    return outs;
  };
}

/**
 * Per-channel sums over the whole batch: this shard's alone, or in a
 * data-parallel step every replica's added up (with the image count N).
 */
function acrossReplicas(a: Float64Array, b: Float64Array, n: number): { sum: Float64Array; sq: Float64Array; N: number } {
  const group = activeReplicaGroup();
  if (group === null) return { sum: a, sq: b, N: n };
  const C = a.length;
  const packed = new Float64Array(2 * C + 1);
  packed.set(a, 0);
  packed.set(b, C);
  packed[2 * C] = n;
  const all = group.allReduce(packed);
  return { sum: all.subarray(0, C), sq: all.subarray(C, 2 * C), N: all[2 * C]! };
}

const orphans = new Set<tf.Tensor>();

function releaseOrphans(): void {
  for (const t of orphans) t.dispose();
  orphans.clear();
}

let registered = false;

function gradientFor(masked: boolean): tf.GradConfig {
  return {
    kernelName: masked ? BN_TRAIN_MASKED : BN_TRAIN,
    inputsToSave: masked ? ['x', 'scale', 'offset', 'mask'] : ['x', 'scale'],
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      // The tape calls each input's closure inside its own tidy, so the one
      // kernel call that yields every gradient keeps those it does not return
      // yet; whatever a closure never collects is freed at the next batch norm.
      releaseOrphans();
      const t = saved as tf.Tensor[];
      const [x, scale] = t;
      const [offset, mask] = masked ? [t[2]!, t[3]!] : [null, null];
      const [y, mean, variance] = t.slice(masked ? 4 : 2);
      const dy = (dys as tf.Tensor[])[0]!;
      const { epsilon, relu, residual: hasResidual } = attrs as unknown as BnAttrs;
      const ahead: Array<tf.Tensor | undefined> = [];
      let computed = false;
      const take = (i: number): tf.Tensor => {
        if (!computed) {
          computed = true;
          const inputs: tf.NamedTensorMap = { dy, y: y!, x: x!, scale: scale!, mean: mean!, variance: variance! };
          if (offset !== null && mask !== null) Object.assign(inputs, { offset, mask });
          const parts = tf.engine().runKernel(BN_TRAIN_GRAD, inputs, { epsilon, relu, residual: hasResidual }) as tf.Tensor[];
          parts.forEach((p, j) => {
            if (j !== i) orphans.add((ahead[j] = tf.keep(p)));
          });
          return parts[i]!;
        }
        const kept = ahead[i];
        if (kept === undefined) throw new Error('batch-norm gradient requested twice');
        // A fresh tensor owned by this closure's tidy, sharing the kept one's
        // memory (a reshape, where a clone would copy it); the kept one is released.
        const out = tf.reshape(kept, kept.shape);
        kept.dispose();
        orphans.delete(kept);
        ahead[i] = undefined;
        return out;
      };
      const grads: Record<string, () => tf.Tensor> = { x: () => take(0), scale: () => take(1), offset: () => take(2) };
      let next = 3;
      if (hasResidual) {
        const at = next++;
        grads['residual'] = () => take(at);
      }
      if (masked) {
        const at = next++;
        grads['mask'] = () => take(at);
      }
      return grads;
    },
  };
}

/** Registers the kernels for the wasm and cpu backends and the forward kernels' gradients. Idempotent. */
export function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of ['wasm', 'cpu']) {
    tf.registerKernel({ kernelName: BN_TRAIN, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: BN_TRAIN_MASKED, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: gradKernel(backendName) });
  }
  tf.registerGradient(gradientFor(false));
  tf.registerGradient(gradientFor(true));
}

export interface BatchNormTrainOptions {
  epsilon: number;
  /** Multiplies the normalised output channel by channel (a DAN soft mask). */
  mask?: tf.Tensor1D | null;
  /** Added after normalisation (a residual shortcut), before the ReLU. */
  residual?: tf.Tensor | null;
  relu?: boolean;
}

/**
 * relu?(batchNorm(x)·mask? + residual?) with batch statistics over all axes
 * but the last. Returns the output and the batch mean and (biased) variance.
 */
export function batchNormTrain(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  options: BatchNormTrainOptions,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const { epsilon } = options;
  const relu = options.relu ?? false;
  const residual = options.residual ?? null;
  const mask = options.mask ?? null;
  const backend = tf.getBackend();
  if (backend === 'wasm' || backend === 'cpu') {
    registerBatchNormKernels();
    releaseOrphans();
    const inputs: tf.NamedTensorMap = { x, scale, offset };
    if (residual !== null) inputs['residual'] = residual;
    if (mask !== null) inputs['mask'] = mask;
    const attrs = { epsilon, relu, residual: residual !== null };
    const kernel = mask === null ? BN_TRAIN : BN_TRAIN_MASKED;
    const [y, mean, variance] = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor[];
    return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const { mean, variance } = tf.moments(x, axes);
  let y = tf.batchNorm(x, mean as tf.Tensor1D, variance as tf.Tensor1D, offset, scale, epsilon);
  if (mask !== null) y = tf.mul(y, mask);
  if (residual !== null) y = tf.add(y, residual);
  if (relu) y = tf.relu(y);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}
