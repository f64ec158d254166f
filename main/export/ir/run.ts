import * as tf from '@tensorflow/tfjs';
import { assertNever } from '../../../shared/errors.js';
import type { InferenceGraph, IrOp } from './inference-graph.js';

type Padding = [[number, number], [number, number], [number, number], [number, number]];

const spatialPad = (p: number): Padding => [
  [0, 0],
  [p, p],
  [p, p],
  [0, 0],
];

/**
 * Runs a lowered network in TF.js: how calibration sees every activation
 * tensor of the model that will be written (ranges are taken after fused
 * ReLUs, where the file's tensors are). Weight tensors are made once; call
 * `dispose` when done.
 */
export class InferenceRunner {
  private readonly weights = new Map<number, { w: tf.Tensor; b: tf.Tensor1D }>();

  constructor(readonly graph: InferenceGraph) {
    graph.ops.forEach((op, i) => {
      if (op.op === 'conv') {
        const c = graph.tensors[op.input]!.shape[2]!;
        const cout = graph.tensors[op.output]!.shape[2]!;
        const shape = op.depthwise ? [op.kernel, op.kernel, c, 1] : [op.kernel, op.kernel, c, cout];
        this.weights.set(i, { w: tf.tensor(op.weight, shape), b: tf.tensor1d(op.bias) });
      } else if (op.op === 'dense') {
        const cin = graph.tensors[op.input]!.shape[0]!;
        this.weights.set(i, { w: tf.tensor2d(op.weight, [cin, op.bias.length]), b: tf.tensor1d(op.bias) });
      }
    });
  }

  /**
   * Logits `[n, classes]` of an NHWC batch. `observe` sees every tensor as it
   * is computed (the input included), inside the same tidy scope.
   */
  run(x: tf.Tensor4D, observe?: (tensor: number, value: tf.Tensor) => void): tf.Tensor2D {
    return tf.tidy(() => {
      const values: Array<tf.Tensor | undefined> = [];
      values[this.graph.input] = x;
      observe?.(this.graph.input, x);
      const read = (t: number): tf.Tensor => {
        const v = values[t];
        if (v === undefined) throw new Error(`tensor ${this.graph.tensors[t]!.name} read before it was computed`);
        return v;
      };
      this.graph.ops.forEach((op, i) => {
        const y = this.apply(op, i, read);
        values[op.output] = y;
        observe?.(op.output, y);
      });
      return read(this.graph.output) as tf.Tensor2D;
    });
  }

  private apply(op: IrOp, index: number, read: (t: number) => tf.Tensor): tf.Tensor {
    switch (op.op) {
      case 'conv': {
        const { w, b } = this.weights.get(index)!;
        const x = read(op.input) as tf.Tensor4D;
        const pad = op.pad === 0 ? 'valid' : spatialPad(op.pad);
        const y = op.depthwise ? tf.depthwiseConv2d(x, w as tf.Tensor4D, op.stride, pad) : tf.conv2d(x, w as tf.Tensor4D, op.stride, pad);
        const z = tf.add(y, b);
        return op.relu ? tf.relu(z) : z;
      }
      case 'relu':
        return op.cap === null ? tf.relu(read(op.input)) : tf.clipByValue(read(op.input), 0, op.cap);
      case 'add': {
        const z = tf.add(read(op.inputs[0]), read(op.inputs[1]));
        return op.relu ? tf.relu(z) : z;
      }
      case 'concat':
        return tf.concat(
          op.inputs.map((t) => read(t)),
          3,
        );
      case 'maxpool': {
        const x = read(op.input) as tf.Tensor4D;
        return tf.maxPool(op.pad > 0 ? tf.pad(x, spatialPad(op.pad)) : x, op.kernel, op.stride, 'valid');
      }
      case 'avgpool':
        return tf.avgPool(read(op.input) as tf.Tensor4D, op.kernel, op.stride, 'valid');
      case 'mean':
        return tf.mean(read(op.input), [1, 2]);
      case 'dense': {
        const { w, b } = this.weights.get(index)!;
        return tf.add(tf.matMul(read(op.input) as tf.Tensor2D, w as tf.Tensor2D), b);
      }
      case 'slice': {
        const x = read(op.input);
        const c = this.graph.tensors[op.output]!.shape[2]!;
        return tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, c]);
      }
      default:
        return assertNever(op, 'inference op');
    }
  }

  dispose(): void {
    for (const { w, b } of this.weights.values()) {
      w.dispose();
      b.dispose();
    }
    this.weights.clear();
  }
}
