import { preprocessing } from '../metadata.js';
import { TFLITE_INPUT, TFLITE_LOGITS, TFLITE_PROBABILITIES, toTflite } from '../tflite/model.js';
import { LITERT_RUNTIME } from '../tflite/litert.js';
import { TfliteSession } from '../tflite/session.js';
import { type Exporter, fileNamed, type ModelSession, timingInput } from './exporter.js';

/** TFLite (schema 3), checked and timed in LiteRT.js's WebAssembly CPU runtime. */
export const tfliteExporter: Exporter = {
  format: 'tflite',
  runtime: LITERT_RUNTIME,
  int8Activations: 'int8',
  async build(subject, r) {
    const { facts } = r;
    const model = toTflite(subject.lowered, {
      precision: r.precision,
      quant: r.quant,
      uint8Input: r.uint8Input,
      description: `${subject.name}, exported by Adjoin`,
      metadata: {
        class_names: facts.classes,
        channel_order: facts.channels === 3 ? 'RGB' : 'L',
        mean: facts.mean,
        std: facts.std,
        normalization: 'not folded into the model: apply it to the input',
        preprocessing: preprocessing('NHWC', facts.channels),
        source_run_id: facts.runId,
      },
    });
    return [{ name: 'model.tflite', data: model }];
  },
  async open(files, shape, o) {
    const session = await TfliteSession.open(fileNamed(files, 'model.tflite'), { ...shape, threads: o.threads, uint8Input: o.uint8Input });
    const timing = timingInput(shape.height * shape.width * shape.channels);
    const wrapped: ModelSession = {
      logits: (x, n) => session.logits(x, n),
      runOnce: async () => void (await session.run(timing)),
      release: async () => session.release(),
    };
    return wrapped;
  },
  describe(shape, classes, o) {
    const { height: h, width: w, channels: c } = shape;
    const q = o.uint8Input;
    return {
      // LiteRT's JavaScript API refuses dynamic shapes: the batch is fixed at 1.
      input:
        q === null
          ? { name: TFLITE_INPUT, layout: 'NHWC', shape: [1, h, w, c], dtype: 'float32' }
          : { name: TFLITE_INPUT, layout: 'NHWC', shape: [1, h, w, c], dtype: 'uint8', quantization: { scale: q.scale, zeroPoint: q.zeroPoint + 128 } },
      outputs: [
        { name: TFLITE_LOGITS, shape: [1, classes], meaning: 'logits (unnormalised class scores)' },
        { name: TFLITE_PROBABILITIES, shape: [1, classes], meaning: 'softmax of the logits' },
      ],
    };
  },
};
