import * as tf from '@tensorflow/tfjs';
import { loadTfjsFiles, toTfjsFiles } from '../tfjs-model.js';
import { concat } from '../verify.js';
import { type Exporter, timingInput } from './exporter.js';

const CHUNK = 64;

/** TF.js layers model, checked and timed in the engine's own TF.js. */
export const tfjsExporter: Exporter = {
  format: 'tfjs',
  runtime: 'TF.js (the engine)',
  int8Activations: null,
  async build(subject, r) {
    if (r.precision === 'int8') throw new Error('TF.js exports are fp32 or fp16');
    return toTfjsFiles(subject.graph, subject.params, { float16: r.precision === 'fp16' });
  },
  async open(files, shape) {
    const model = await loadTfjsFiles(files);
    const { height, width, channels } = shape;
    const per = height * width * channels;
    const timing = timingInput(per);
    return {
      async logits(x, n) {
        const parts: Float32Array[] = [];
        for (let from = 0; from < n; from += CHUNK) {
          const m = Math.min(CHUNK, n - from);
          const logits = tf.tidy(() => model.predict(tf.tensor4d(x.subarray(from * per, (from + m) * per), [m, height, width, channels])) as tf.Tensor);
          try {
            parts.push((await logits.data()) as Float32Array);
          } finally {
            logits.dispose();
          }
        }
        return concat(parts);
      },
      async runOnce() {
        // Timed to the read-back, as a phone's app would wait for it.
        const logits = tf.tidy(() => model.predict(tf.tensor4d(timing, [1, height, width, channels])) as tf.Tensor);
        try {
          await logits.data();
        } finally {
          logits.dispose();
        }
      },
      async release() {
        model.dispose();
      },
    };
  },
  describe(shape, classes, o) {
    const { height: h, width: w, channels: c } = shape;
    const g = o.subject.graph;
    return {
      input: { name: 'input', layout: 'NHWC', shape: [null, h, w, c], dtype: 'float32' },
      outputs: [{ name: g.nodes[g.output]!.name, shape: [null, classes], meaning: 'logits (unnormalised class scores)' }],
    };
  },
};
