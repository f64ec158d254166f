import ort from 'onnxruntime-node';
import { nhwcToNchw } from '../fold.js';
import { onnxMetadataProps } from '../metadata.js';
import { ONNX_INPUT, ONNX_LOGITS, ONNX_PROBABILITIES, onnxFromInference } from '../onnx-model.js';
import { concat } from '../verify.js';
import { type Exporter, fileNamed, type InputShape, type ModelSession, quantizeInput, type SessionOptions, timingInput } from './exporter.js';

const CHUNK = 16;

class OnnxSession implements ModelSession {
  private readonly timing: Record<string, ort.Tensor>;

  constructor(
    private readonly session: ort.InferenceSession,
    private readonly shape: InputShape,
    private readonly o: SessionOptions,
  ) {
    this.timing = { [ONNX_INPUT]: this.tensor(timingInput(shape.height * shape.width * shape.channels), 1) };
  }

  /** NCHW, and quantized for a uint8-input model. */
  private tensor(nchw: Float32Array, n: number): ort.Tensor {
    const { height, width, channels } = this.shape;
    const dims = [n, channels, height, width];
    return this.o.uint8Input === null ? new ort.Tensor('float32', nchw, dims) : new ort.Tensor('uint8', quantizeInput(nchw, this.o.uint8Input), dims);
  }

  async logits(x: Float32Array, n: number): Promise<Float32Array> {
    const { height, width, channels } = this.shape;
    const per = height * width * channels;
    const nchw = nhwcToNchw(x, n, height, width, channels);
    const parts: Float32Array[] = [];
    // The first chunk is a single image: batch 1 and batch N are both exercised.
    for (let from = 0, m = Math.min(1, n); from < n; from += m, m = Math.min(CHUNK, n - from)) {
      const out = await this.session.run({ [ONNX_INPUT]: this.tensor(nchw.slice(from * per, (from + m) * per), m) });
      const logits = out[ONNX_LOGITS];
      if (logits === undefined || logits.type !== 'float32') throw new Error(`the ONNX model has no float32 output '${ONNX_LOGITS}'`);
      parts.push(logits.data as Float32Array);
    }
    return concat(parts);
  }

  async runOnce(): Promise<void> {
    await this.session.run(this.timing);
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** ONNX (opset 13), checked and timed in onnxruntime-node on the CPU. */
export const onnxExporter: Exporter = {
  format: 'onnx',
  runtime: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
  int8Activations: 'uint8',
  async build(subject, r) {
    const model = onnxFromInference(subject.lowered, {
      precision: r.precision,
      quant: r.quant,
      // u8 activations × s8 weights: the form onnxruntime fuses completely on x86 (with s8 activations 1.30 leaves Conv→ReLU in float).
      activationType: 'uint8',
      uint8Input: r.uint8Input,
      metadata: onnxMetadataProps(r.facts),
      name: subject.name,
    });
    return [{ name: 'model.onnx', data: model }];
  },
  async open(files, shape, o) {
    const session = await ort.InferenceSession.create(fileNamed(files, 'model.onnx'), {
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return new OnnxSession(session, shape, o);
  },
  describe(shape, classes, o) {
    const { height: h, width: w, channels: c } = shape;
    const q = o.uint8Input;
    return {
      input:
        q === null
          ? { name: ONNX_INPUT, layout: 'NCHW', shape: [null, c, h, w], dtype: 'float32' }
          : { name: ONNX_INPUT, layout: 'NCHW', shape: [null, c, h, w], dtype: 'uint8', quantization: { scale: q.scale, zeroPoint: q.zeroPoint + 128 } },
      outputs: [
        { name: ONNX_LOGITS, shape: [null, classes], meaning: 'logits (unnormalised class scores)' },
        { name: ONNX_PROBABILITIES, shape: [null, classes], meaning: 'softmax of the logits' },
      ],
    };
  },
};
