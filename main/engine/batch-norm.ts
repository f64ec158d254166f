import * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../shared/errors.js';
import { type Activation, RELU6_CAP } from './activation.js';
import { ioFor, passesFor, scratch } from './batch-norm-passes.js';
import { activeReplicaGroup } from './parallel/replica-group.js';

/**
 * Training-mode batch norm — optionally scaled by a per-channel soft mask
 * (the DAN super-network), then a residual add and a ReLU or ReLU6 — as one
 * kernel with a hand-written gradient: y = act(bn(x)·m + r).
 *
 * Composed from tfjs ops, a training batch norm costs ~15 full-tensor passes
 * forward and backward (moments, broadcasts, the Tile-heavy autodiff of
 * reductions), and the add and ReLU after it four more. These kernels make two
 * passes each way over NHWC memory, with per-channel sums in double
 * precision. They serve the wasm and cpu backends, whose tensors live in
 * memory JavaScript can read; on the native TensorFlow backends the composed
 * ops are fused by TensorFlow itself, and on webgpu they run as
 * tfjs-backend-webgpu's own kernels (a GPU's memory is not JavaScript's),
 * their gradients checked against these kernels on the cpu backend.
 */
export const BN_TRAIN = 'AdjoinBatchNormTrain';
/** The same with a mask input; its gradient also needs β and the mask. */
export const BN_TRAIN_MASKED = 'AdjoinBatchNormTrainMasked';
export const BN_TRAIN_GRAD = 'AdjoinBatchNormTrainGrad';
/** Inference on given (running) statistics. */
export const BN_INFER = 'AdjoinBatchNormInfer';

interface BnAttrs {
  epsilon: number;
  activation: Activation;
  /** Whether a residual input is added (the gradient then has a part for it). */
  residual: boolean;
}

function forwardKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { x, scale, offset, residual, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, activation } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    // Allocate first: growing wasm memory invalidates earlier heap views.
    const yInfo = io.alloc(x!.shape);
    const meanInfo = io.alloc([C]);
    const varInfo = io.alloc([C]);
    const passes = passesFor(io, C, total);
    try {
      const local = passes.sums(x!, total);
      // In a data-parallel step the statistics are the whole batch's, over every replica's shard.
      const { sum, sq, N } = acrossReplicas(local.sum, local.sq, total / C);
      const g = io.read(scale!);
      const b = io.read(offset!);
      const mk = mask === undefined ? null : io.read(mask);
      const mean = io.view(meanInfo);
      const variance = io.view(varInfo);
      for (let c = 0; c < C; c++) {
        const m = sum[c]! / N;
        mean[c] = m;
        variance[c] = Math.max(sq[c]! / N - m * m, 0);
      }
      const { mul, add } = affine(g, b, mean, variance, mk, epsilon);
      passes.normalize(x!, residual ?? null, yInfo, mul, add, activation, total);
    } finally {
      passes.release();
    }
    return [yInfo, meanInfo, varInfo];
  };
}

/** Per-channel y = x·mul + add of a batch norm with these statistics, scaled by the mask if any. */
function affine(
  g: Float32Array,
  b: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  mask: Float32Array | null,
  epsilon: number,
): { mul: Float64Array; add: Float64Array } {
  const C = g.length;
  // Slots 2 and 3: the sums (slots 0 and 1) are read before these are written.
  const mul = scratch(2, C);
  const add = scratch(3, C);
  for (let c = 0; c < C; c++) {
    const scaleBy = mask === null ? 1 : mask[c]!;
    const k = g[c]! / Math.sqrt(variance[c]! + epsilon);
    mul[c] = k * scaleBy;
    add[c] = (b[c]! - mean[c]! * k) * scaleBy;
  }
  return { mul, add };
}

/** Inference: act(bn(x)·m + r) on the running statistics, one pass. */
function inferenceKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { x, scale, offset, mean, variance, residual, mask } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, activation } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    const yInfo = io.alloc(x!.shape);
    const passes = passesFor(io, C, total);
    try {
      const read = (t: tf.TensorInfo | undefined): Float32Array => io.read(t!);
      const { mul, add } = affine(read(scale), read(offset), read(mean), read(variance), mask === undefined ? null : io.read(mask), epsilon);
      passes.normalize(x!, residual ?? null, yInfo, mul, add, activation, total);
    } finally {
      passes.release();
    }
    return yInfo;
  };
}

function gradKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const io = ioFor(backendName, backend as unknown as tf.KernelBackend);
    const { dy, y, x, scale, offset, mask, mean, variance } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { epsilon, activation, residual } = attrs as unknown as BnAttrs;
    const C = x!.shape[x!.shape.length - 1]!;
    const total = x!.shape.reduce((a, b) => a * b, 1);
    const dxInfo = io.alloc(x!.shape);
    const dgInfo = io.alloc([C]);
    const dbInfo = io.alloc([C]);
    const drInfo = residual ? io.alloc(x!.shape) : null;
    const dmInfo = mask === undefined ? null : io.alloc([C]);
    const passes = passesFor(io, C, total);
    try {
      const gate = activation === 'none' ? null : { y: y!, activation };
      // With y = act(bn(x)·m + r) and g = ∂L/∂(bn(x)·m + r): the activation passes
      // gradient where its output is in its linear range, the add passes g to r,
      // the mask gets Σ g·bn(x), and the batch norm receives g·m.
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
      const k = scratch(2, C);
      const a = scratch(3, C);
      const bb = scratch(4, C);
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

let registered = false;

function gradientFor(masked: boolean): tf.GradConfig {
  return {
    kernelName: masked ? BN_TRAIN_MASKED : BN_TRAIN,
    inputsToSave: masked ? ['x', 'scale', 'offset', 'mask'] : ['x', 'scale'],
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      // One kernel call yields every input's gradient. It runs here, in the
      // tape's backward scope, not in the first input's closure: each closure
      // runs in a tidy of its own, which would free the gradients it does not
      // return (they would have to be kept and handed over one by one). What
      // no closure collects is freed with the backward scope.
      const t = saved as tf.Tensor[];
      const [x, scale] = t;
      const [offset, mask] = masked ? [t[2]!, t[3]!] : [null, null];
      const [y, mean, variance] = t.slice(masked ? 4 : 2);
      const dy = (dys as tf.Tensor[])[0]!;
      const { epsilon, activation, residual: hasResidual } = attrs as unknown as BnAttrs;
      const inputs: tf.NamedTensorMap = { dy, y: y!, x: x!, scale: scale!, mean: mean!, variance: variance! };
      if (offset !== null && mask !== null) Object.assign(inputs, { offset, mask });
      const parts = tf.engine().runKernel(BN_TRAIN_GRAD, inputs, { epsilon, activation, residual: hasResidual }) as tf.Tensor[];
      const part = (i: number) => (): tf.Tensor => parts[i]!;
      const grads: Record<string, () => tf.Tensor> = { x: part(0), scale: part(1), offset: part(2) };
      let next = 3;
      if (hasResidual) grads['residual'] = part(next++);
      if (masked) grads['mask'] = part(next++);
      return grads;
    },
  };
}

/**
 * The inference kernel's gradient, from tfjs ops: inference rarely runs
 * under a gradient (a DAN architecture gradient through running statistics
 * does), so it needs to be right more than fast. With x̂ = (x − μ)·inv,
 * inv = 1/√(σ² + ε) and G the gradient after the ReLU gate:
 * dx = G·γ·inv·m, dr = G, dγ = Σ G·x̂·m, dβ = Σ G·m, dm = Σ G·(γ·x̂ + β),
 * dμ = −Σ G·γ·inv·m, dσ² = −½ Σ G·γ·x̂·m·inv².
 */
const inferenceGradient: tf.GradConfig = {
  kernelName: BN_INFER,
  inputsToSave: ['x', 'scale', 'offset', 'mean', 'variance', 'mask'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, scale, offset, mean, variance, mask, y] = saved as tf.Tensor[];
    const { epsilon, activation, residual } = attrs as unknown as BnAttrs;
    const axes = x!.shape.map((_, i) => i).slice(0, -1);
    const gate = (): tf.Tensor => {
      const g = dy as tf.Tensor;
      if (activation === 'none') return g;
      const above = tf.mul(g, tf.step(y!, 0));
      // ReLU6 passes strictly below its cap, as PyTorch's does.
      return activation === 'relu' ? above : tf.mul(above, tf.cast(tf.less(y!, RELU6_CAP), 'float32'));
    };
    const m = (): tf.Tensor => mask!;
    const inv = (): tf.Tensor => tf.rsqrt(tf.add(variance!, epsilon));
    const xHat = (): tf.Tensor => tf.mul(tf.sub(x!, mean!), inv());
    const grads: Record<string, () => tf.Tensor> = {
      x: () => tf.mul(gate(), tf.mul(tf.mul(scale!, inv()), m())),
      scale: () => tf.sum(tf.mul(tf.mul(gate(), xHat()), m()), axes),
      offset: () => tf.mul(tf.sum(gate(), axes), m()),
      mean: () => tf.neg(tf.mul(tf.sum(gate(), axes), tf.mul(tf.mul(scale!, inv()), m()))),
      variance: () => tf.mul(tf.sum(tf.mul(gate(), xHat()), axes), tf.mul(tf.mul(tf.mul(scale!, m()), tf.square(inv())), -0.5)),
    };
    if (residual) grads['residual'] = gate;
    grads['mask'] = () => tf.sum(tf.mul(gate(), tf.add(tf.mul(xHat(), scale!), offset!)), axes);
    return grads;
  },
};

/** Registers the kernels for the wasm and cpu backends and the forward kernels' gradients. Idempotent. */
export function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of ['wasm', 'cpu']) {
    tf.registerKernel({ kernelName: BN_TRAIN, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: BN_TRAIN_MASKED, backendName, kernelFunc: forwardKernel(backendName) });
    tf.registerKernel({ kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: gradKernel(backendName) });
    tf.registerKernel({ kernelName: BN_INFER, backendName, kernelFunc: inferenceKernel(backendName) });
  }
  tf.registerGradient(gradientFor(false));
  tf.registerGradient(gradientFor(true));
  tf.registerGradient(inferenceGradient);
}

export interface BatchNormTrainOptions {
  epsilon: number;
  /** Multiplies the normalised output channel by channel (a DAN soft mask). */
  mask?: tf.Tensor1D | null;
  /** Added after normalisation (a residual shortcut), before the activation. */
  residual?: tf.Tensor | null;
  activation?: Activation;
}

/**
 * act(batchNorm(x)·mask? + residual?) with batch statistics over all axes
 * but the last. Returns the output and the batch mean and (biased) variance.
 */
export function batchNormTrain(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  options: BatchNormTrainOptions,
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const { epsilon } = options;
  const activation = options.activation ?? 'none';
  const residual = options.residual ?? null;
  const mask = options.mask ?? null;
  const backend = tf.getBackend();
  if (backend === 'wasm' || backend === 'cpu') {
    registerBatchNormKernels();
    const inputs: tf.NamedTensorMap = { x, scale, offset };
    if (residual !== null) inputs['residual'] = residual;
    if (mask !== null) inputs['mask'] = mask;
    const attrs = { epsilon, activation, residual: residual !== null };
    const kernel = mask === null ? BN_TRAIN : BN_TRAIN_MASKED;
    const [y, mean, variance] = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor[];
    return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  const axes = x.shape.map((_, i) => i).slice(0, -1);
  const { mean, variance } = tf.moments(x, axes);
  const y = maskAddActivate(tf.batchNorm(x, mean as tf.Tensor1D, variance as tf.Tensor1D, offset, scale, epsilon), mask, residual, activation);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * act(batchNorm(x)·mask? + residual?) on given (running) statistics: one
 * pass on the wasm and cpu backends, composed ops elsewhere.
 */
export function batchNormInference(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  stats: { mean: tf.Tensor1D; variance: tf.Tensor1D },
  options: BatchNormTrainOptions,
): tf.Tensor {
  const activation = options.activation ?? 'none';
  const residual = options.residual ?? null;
  const mask = options.mask ?? null;
  const backend = tf.getBackend();
  if (backend === 'wasm' || backend === 'cpu') {
    registerBatchNormKernels();
    // Always a mask (ones without one): the gradient's saved inputs are then always the same.
    return tf.tidy(() => {
      const inputs: tf.NamedTensorMap = { x, scale, offset, mean: stats.mean, variance: stats.variance, mask: mask ?? tf.onesLike(scale) };
      if (residual !== null) inputs['residual'] = residual;
      return tf.engine().runKernel(BN_INFER, inputs, { epsilon: options.epsilon, activation, residual: residual !== null }) as tf.Tensor;
    });
  }
  return maskAddActivate(tf.batchNorm(x, stats.mean, stats.variance, offset, scale, options.epsilon), mask, residual, activation);
}

/** The composed tail of a fused batch norm: act(y·mask? + residual?). */
function maskAddActivate(y: tf.Tensor, mask: tf.Tensor1D | null, residual: tf.Tensor | null, activation: Activation): tf.Tensor {
  let out = mask === null ? y : tf.mul(y, mask);
  if (residual !== null) out = tf.add(out, residual);
  return activate(out, activation);
}

/** An activation as plain tfjs ops. */
export function activate(x: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case 'none':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    default:
      return assertNever(activation, 'activation');
  }
}
