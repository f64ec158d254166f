import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilter } from './conv2d-backprop-filter.js';
import { conv2dBackpropInput } from './conv2d-backprop-input.js';
import { simdInferenceBatchNorm } from './batch-norm-inference.js';
import { simdConv2D } from './conv2d.js';
import { depthwiseBackpropFilter, depthwiseBackpropInput, wrapDepthwiseForward } from './depthwise.js';
import { sharedIdentity } from './identity.js';

let registered = false;

/**
 * Whether our depthwise forward pass replaces XNNPACK's: over MobileNetV2's
 * depthwise layers it is 1.1× faster in total, layer by layer 0.8–2.5×
 * (`npm run bench -- conv-kernels`, its `depthwise` part).
 */
const DEPTHWISE_FORWARD_OURS = true;

/**
 * Gives the wasm backend the training kernels it lacks (or has only in a slow
 * form), a faster forward convolution and inference batch norm for the
 * common cases, and an Identity that does not copy. Idempotent.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: conv2dBackpropFilter as unknown as tf.KernelFunc,
  });
  // Replaces the backend's own scalar-loop kernel.
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    kernelFunc: conv2dBackpropInput as unknown as tf.KernelFunc,
  });
  wrapWasmKernel('Conv2D', simdConv2D);
  // Depthwise convolutions (MobileNetV2): the backend has no gradients for them.
  for (const [kernelName, kernelFunc] of [
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter],
  ] as const) {
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: ((args: Parameters<typeof kernelFunc>[0]) => kernelFunc(args)) as unknown as tf.KernelFunc,
    });
  }
  wrapWasmKernel('DepthwiseConv2dNative', (original) => wrapDepthwiseForward(original, DEPTHWISE_FORWARD_OURS));
  wrapWasmKernel('FusedBatchNorm', simdInferenceBatchNorm);
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharedIdentity as unknown as tf.KernelFunc });
}

const replaced = new Map<string, tf.KernelFunc>();

/** The backend's own kernel that one of ours wraps (for benchmarks side by side), if any. */
export function backendKernel(name: string): tf.KernelFunc | null {
  return replaced.get(name) ?? null;
}

/** Puts `wrap(original)` in the place of a wasm kernel, the original staying the fallback. */
function wrapWasmKernel(name: string, wrap: (original: tf.KernelFunc) => tf.KernelFunc): void {
  const original = tf.getKernel(name, 'wasm');
  if (original === undefined) return;
  replaced.set(name, original.kernelFunc);
  tf.unregisterKernel(name, 'wasm');
  // Its setup must still run when the backend starts.
  tf.registerKernel({ ...original, kernelFunc: wrap(original.kernelFunc) });
}
