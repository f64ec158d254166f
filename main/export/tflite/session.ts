import type { CompiledModel, Tensor } from '@litertjs/core';
import { quantizeInput } from '../formats/exporter.js';
import { concat } from '../verify.js';
import { liteRtLog, loadLiteRt } from './litert.js';
import { TFLITE_INPUT, TFLITE_LOGITS } from './model.js';

export interface TfliteSessionOptions {
  height: number;
  width: number;
  channels: number;
  /** CPU threads LiteRT may use (1 for latency, as a phone app would run it). */
  threads: number;
  /** A uint8-input model's input parameters: float inputs are quantized with them first. */
  uint8Input: { scale: number; zeroPoint: number } | null;
}

/**
 * A TFLite model compiled by LiteRT.js on its WebAssembly CPU backend. The
 * model has a fixed batch of 1, so a batch of images runs one at a time.
 */
export class TfliteSession {
  private constructor(
    private readonly model: CompiledModel,
    private readonly lrt: Awaited<ReturnType<typeof loadLiteRt>>,
    private readonly o: TfliteSessionOptions,
  ) {}

  static async open(bytes: Uint8Array, o: TfliteSessionOptions): Promise<TfliteSession> {
    const lrt = await loadLiteRt();
    const seen = liteRtLog().length;
    try {
      const model = await lrt.loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads: o.threads } });
      return new TfliteSession(model, lrt, o);
    } catch (e) {
      // LiteRT explains a refusal in its log, not in the exception.
      const said = liteRtLog()
        .slice(seen)
        .filter((line) => /error|fail|invalid|unsupported/i.test(line));
      throw new Error(`LiteRT.js refused the TFLite model: ${(e as Error).message}${said.length > 0 ? ` (${said.slice(-3).join('; ')})` : ''}`);
    }
  }

  private inputTensor(image: Float32Array): Tensor {
    const shape = [1, this.o.height, this.o.width, this.o.channels];
    const q = this.o.uint8Input;
    return new this.lrt.Tensor(q === null ? image.slice() : quantizeInput(image, q), shape);
  }

  /** The logits of one normalised NHWC image. */
  async run(image: Float32Array): Promise<Float32Array> {
    const input = this.inputTensor(image);
    try {
      const outputs = await this.model.run({ [TFLITE_INPUT]: input });
      try {
        const logits = outputs[TFLITE_LOGITS];
        if (logits === undefined) throw new Error(`the TFLite model has no output '${TFLITE_LOGITS}'`);
        const data = logits.toTypedArray();
        if (!(data instanceof Float32Array)) throw new Error(`the TFLite model's '${TFLITE_LOGITS}' is not float32`);
        return data.slice();
      } finally {
        for (const t of Object.values(outputs)) t.delete();
      }
    } finally {
      input.delete();
    }
  }

  /** Logits `[n, classes]` of n images, in order. */
  async logits(x: Float32Array, n: number): Promise<Float32Array> {
    const per = this.o.height * this.o.width * this.o.channels;
    const parts: Float32Array[] = [];
    for (let i = 0; i < n; i++) parts.push(await this.run(x.subarray(i * per, (i + 1) * per)));
    return concat(parts);
  }

  release(): void {
    this.model.delete();
  }
}
