import * as tf from '@tensorflow/tfjs';
import { conv2dBackpropFilter } from './conv2d-backprop-filter.js';
import { conv2dBackpropInput } from './conv2d-backprop-input.js';
import { simdConv2D } from './conv2d.js';
import { sharedIdentity } from './identity.js';

let registered = false;

/**
 * Gives the wasm backend the training kernels it lacks (or has only in a slow
 * form), a faster forward convolution for the common case, and an Identity
 * that does not copy. Idempotent.
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
  const conv = tf.getKernel('Conv2D', 'wasm');
  if (conv !== undefined) {
    tf.unregisterKernel('Conv2D', 'wasm');
    // The backend's kernel stays the fallback; its setup must still run when the backend starts.
    tf.registerKernel({ ...conv, kernelFunc: simdConv2D(conv.kernelFunc) });
  }
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharedIdentity as unknown as tf.KernelFunc });
}
