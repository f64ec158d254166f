import type * as flatbuffers from 'flatbuffers';
import type { Precision } from '../../../shared/export.js';
import { toHalf } from '../../engine/layers-model.js';
import { hwioToOhwi, transpose } from '../fold.js';
import type { InferenceGraph, IrOp } from '../ir/inference-graph.js';
import type { QuantPlan } from '../quant/plan.js';
import { bytesOf, type ElementType, type Quantization, TfliteModelBuilder } from './builder.js';
import {
  ActivationFunctionType,
  AddOptions,
  BuiltinOperator,
  BuiltinOptions,
  ConcatenationOptions,
  Conv2DOptions,
  DepthwiseConv2DOptions,
  FullyConnectedOptions,
  FullyConnectedOptionsWeightsFormat,
  Padding,
  PadOptions,
  Pool2DOptions,
  ReducerOptions,
  SliceOptions,
  SoftmaxOptions,
  TensorType,
} from './generated/schema_generated.js';

export const TFLITE_INPUT = 'input';
export const TFLITE_LOGITS = 'logits';
export const TFLITE_PROBABILITIES = 'probabilities';

export interface TfliteOptions {
  precision: Precision;
  /** int8 only: the calibrated plan. */
  quant: QuantPlan | null;
  /** int8 only: take uint8 input (quantized by the caller) instead of float32. */
  uint8Input?: boolean;
  description?: string;
  /** Stored as a JSON metadata entry `adjoin_metadata` inside the model. */
  metadata?: Record<string, unknown>;
}

/** How a spatial op pads: as TFLite's SAME does, not at all, or with an explicit PAD before a VALID op. */
type SpatialPadding = 'same' | 'valid' | 'explicit';

/** TFLite's SAME padding along one axis: its output size and the cells it pads before. */
function samePadding(size: number, kernel: number, stride: number): { out: number; before: number } {
  const out = Math.ceil(size / stride);
  return { out, before: Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2) };
}

/**
 * SAME only where it reproduces the network's own symmetric padding (same
 * output size, same cells padded before): a stride-2 layer on an even size
 * pads one cell *after* under SAME where the network pads one before, so it
 * gets an explicit PAD instead.
 */
export function spatialPadding(size: number, kernel: number, stride: number, pad: number, out: number): SpatialPadding {
  if (pad === 0) return 'valid';
  const same = samePadding(size, kernel, stride);
  return same.out === out && same.before === pad ? 'same' : 'explicit';
}

/** The operator version the TFLite converter writes for int8 tensors of each op (float ones are version 1). */
const INT8_VERSIONS: Partial<Record<BuiltinOperator, number>> = {
  [BuiltinOperator.CONV_2D]: 3,
  [BuiltinOperator.DEPTHWISE_CONV_2D]: 3,
  [BuiltinOperator.FULLY_CONNECTED]: 4,
  [BuiltinOperator.ADD]: 2,
  [BuiltinOperator.CONCATENATION]: 2,
  [BuiltinOperator.MAX_POOL_2D]: 2,
  [BuiltinOperator.AVERAGE_POOL_2D]: 2,
  [BuiltinOperator.MEAN]: 2,
  [BuiltinOperator.PAD]: 2,
  [BuiltinOperator.SLICE]: 2,
  [BuiltinOperator.RELU]: 2,
  [BuiltinOperator.DEQUANTIZE]: 2,
};

class EmitContext {
  readonly b = new TfliteModelBuilder();
  private readonly tensors = new Map<number, number>();

  constructor(
    readonly graph: InferenceGraph,
    readonly precision: Precision,
    readonly quant: QuantPlan | null,
  ) {}

  get int8(): boolean {
    return this.quant !== null;
  }

  /** The TFLite tensor of an IR tensor: created the first time it is asked for. */
  tensor(id: number): number {
    let t = this.tensors.get(id);
    if (t === undefined) {
      const ir = this.graph.tensors[id]!;
      // Float models' logits are the dense layer's own output tensor.
      const name = id === this.graph.output && !this.int8 ? TFLITE_LOGITS : ir.name;
      t = this.b.activation(name, [1, ...ir.shape], this.int8 ? 'int8' : 'float32', this.activationQuant(id));
      this.tensors.set(id, t);
    }
    return t;
  }

  bind(id: number, tensor: number): void {
    this.tensors.set(id, tensor);
  }

  activationQuant(id: number): Quantization | null {
    const q = this.quant?.activations[id];
    return q === undefined ? null : { scale: [q.scale], zeroPoint: [q.zeroPoint], min: [q.min], max: [q.max] };
  }

  op(
    code: BuiltinOperator,
    inputs: number[],
    outputs: number[],
    options: { type: BuiltinOptions; write: (b: flatbuffers.Builder) => flatbuffers.Offset } | null,
  ): void {
    this.b.op(code, inputs, outputs, options, this.int8 ? (INT8_VERSIONS[code] ?? 1) : 1);
  }

  /**
   * A float constant: float32 as is; in fp16 models stored as float16 and
   * turned back into float32 by a DEQUANTIZE op (TFLite's float16 scheme,
   * which runtimes fold away at load time).
   */
  floatConstant(name: string, shape: number[], values: Float32Array): number {
    if (this.precision !== 'fp16') return this.b.constant(name, shape, 'float32', bytesOf(values));
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = toHalf(values[i]!);
    const stored = this.b.constant(`${name}.fp16`, shape, 'float16', bytesOf(half));
    const float = this.b.activation(name, shape, 'float32');
    this.b.op(BuiltinOperator.DEQUANTIZE, [stored], [float], null, 3);
    return float;
  }

  int32Constant(name: string, values: number[]): number {
    return this.b.constant(name, [values.length], 'int32', bytesOf(Int32Array.from(values)));
  }

  /** An explicit zero PAD of the spatial axes (int8: the input's zero point, which is real 0). */
  padded(input: number, pad: number, name: string): number {
    const shape = this.b.shapeOf(input);
    const out = this.b.activation(
      `${name}.pad`,
      [shape[0]!, shape[1]! + 2 * pad, shape[2]! + 2 * pad, shape[3]!],
      this.b.typeOf(input),
      this.b.quantizationOf(input),
    );
    const pads = this.b.constant(`${name}.paddings`, [4, 2], 'int32', bytesOf(Int32Array.from([0, 0, pad, pad, pad, pad, 0, 0])));
    this.op(BuiltinOperator.PAD, [input, pads], [out], {
      type: BuiltinOptions.PadOptions,
      write: (b) => (PadOptions.startPadOptions(b), PadOptions.endPadOptions(b)),
    });
    return out;
  }

  /** The input of a padded spatial op and the padding it runs with. */
  spatialInput(op: { input: number; kernel: number; stride: number; pad: number; output: number; name: string }): { input: number; padding: Padding } {
    const size = this.graph.tensors[op.input]!.shape[0]!;
    const out = this.graph.tensors[op.output]!.shape[0]!;
    const mode = spatialPadding(size, op.kernel, op.stride, op.pad, out);
    const input = this.tensor(op.input);
    if (mode === 'explicit') return { input: this.padded(input, op.pad, op.name), padding: Padding.VALID };
    return { input, padding: mode === 'same' ? Padding.SAME : Padding.VALID };
  }
}

const act = (relu: boolean): ActivationFunctionType => (relu ? ActivationFunctionType.RELU : ActivationFunctionType.NONE);

type Emitters = { [K in IrOp['op']]: (op: Extract<IrOp, { op: K }>, ctx: EmitContext, index: number) => void };

/**
 * One TFLite lowering per operation of the inference graph. A new graph
 * operation (a depthwise convolution of its own, say) lowers to one of these
 * or adds an entry; the compiler insists every op has one.
 */
const EMITTERS: Emitters = {
  conv(op, ctx, index) {
    const cin = ctx.graph.tensors[op.input]!.shape[2]!;
    const cout = op.bias.length;
    const k = op.kernel;
    const { input, padding } = ctx.spatialInput(op);
    // Depthwise filters are [1, kh, kw, c]: the same memory as the graph's [kh, kw, c].
    const shape = op.depthwise ? [1, k, k, cout] : [cout, k, k, cin];
    let weight: number;
    let bias: number;
    if (ctx.quant !== null) {
      const q = ctx.quant.weights.get(index)!;
      const values = op.depthwise ? q.values : hwioToOhwi(q.values, k, cin, cout, new Int8Array(q.values.length));
      const zeros = Array.from(q.scales, () => 0);
      weight = ctx.b.constant(`${op.name}.weight`, shape, 'int8', bytesOf(values), { scale: [...q.scales], zeroPoint: zeros, dimension: op.depthwise ? 3 : 0 });
      bias = ctx.b.constant(`${op.name}.bias`, [cout], 'int32', bytesOf(q.bias), { scale: [...q.biasScales], zeroPoint: zeros, dimension: 0 });
    } else {
      const values = op.depthwise ? op.weight : hwioToOhwi(op.weight, k, cin, cout, new Float32Array(op.weight.length));
      weight = ctx.floatConstant(`${op.name}.weight`, shape, values);
      bias = ctx.floatConstant(`${op.name}.bias`, [cout], op.bias);
    }
    const output = ctx.tensor(op.output);
    if (op.depthwise) {
      ctx.op(BuiltinOperator.DEPTHWISE_CONV_2D, [input, weight, bias], [output], {
        type: BuiltinOptions.DepthwiseConv2DOptions,
        write: (b) => DepthwiseConv2DOptions.createDepthwiseConv2DOptions(b, padding, op.stride, op.stride, 1, act(op.relu), 1, 1),
      });
    } else {
      ctx.op(BuiltinOperator.CONV_2D, [input, weight, bias], [output], {
        type: BuiltinOptions.Conv2DOptions,
        write: (b) => Conv2DOptions.createConv2DOptions(b, padding, op.stride, op.stride, act(op.relu), 1, 1, TensorType.FLOAT32),
      });
    }
  },
  relu(op, ctx) {
    if (op.cap !== null && op.cap !== 6) throw new Error(`${op.name}: TFLite has ReLU capped at 6, not at ${op.cap}`);
    ctx.op(op.cap === null ? BuiltinOperator.RELU : BuiltinOperator.RELU6, [ctx.tensor(op.input)], [ctx.tensor(op.output)], null);
  },
  add(op, ctx) {
    ctx.op(BuiltinOperator.ADD, [ctx.tensor(op.inputs[0]), ctx.tensor(op.inputs[1])], [ctx.tensor(op.output)], {
      type: BuiltinOptions.AddOptions,
      write: (b) => AddOptions.createAddOptions(b, act(op.relu), false),
    });
  },
  concat(op, ctx) {
    ctx.op(
      BuiltinOperator.CONCATENATION,
      op.inputs.map((t) => ctx.tensor(t)),
      [ctx.tensor(op.output)],
      { type: BuiltinOptions.ConcatenationOptions, write: (b) => ConcatenationOptions.createConcatenationOptions(b, 3, ActivationFunctionType.NONE) },
    );
  },
  maxpool(op, ctx) {
    // SAME padding ignores the padded cells (−∞); the engine pads with 0 — equal, as lowering checked the input follows a ReLU.
    const { input, padding } = ctx.spatialInput(op);
    ctx.op(BuiltinOperator.MAX_POOL_2D, [input], [ctx.tensor(op.output)], {
      type: BuiltinOptions.Pool2DOptions,
      write: (b) => Pool2DOptions.createPool2DOptions(b, padding, op.stride, op.stride, op.kernel, op.kernel, ActivationFunctionType.NONE),
    });
  },
  avgpool(op, ctx) {
    ctx.op(BuiltinOperator.AVERAGE_POOL_2D, [ctx.tensor(op.input)], [ctx.tensor(op.output)], {
      type: BuiltinOptions.Pool2DOptions,
      write: (b) => Pool2DOptions.createPool2DOptions(b, Padding.VALID, op.stride, op.stride, op.kernel, op.kernel, ActivationFunctionType.NONE),
    });
  },
  mean(op, ctx) {
    const axes = ctx.int32Constant(`${op.name}.axes`, [1, 2]);
    ctx.op(BuiltinOperator.MEAN, [ctx.tensor(op.input), axes], [ctx.tensor(op.output)], {
      type: BuiltinOptions.ReducerOptions,
      write: (b) => ReducerOptions.createReducerOptions(b, false),
    });
  },
  dense(op, ctx, index) {
    const cin = ctx.graph.tensors[op.input]!.shape[0]!;
    const cout = op.bias.length;
    let weight: number;
    let bias: number;
    if (ctx.quant !== null) {
      const q = ctx.quant.weights.get(index)!;
      const values = transpose(q.values, cin, cout, new Int8Array(q.values.length));
      weight = ctx.b.constant(`${op.name}.weight`, [cout, cin], 'int8', bytesOf(values), { scale: [...q.scales], zeroPoint: [0] });
      bias = ctx.b.constant(`${op.name}.bias`, [cout], 'int32', bytesOf(q.bias), { scale: [...q.biasScales], zeroPoint: [0] });
    } else {
      const values = transpose(op.weight, cin, cout, new Float32Array(op.weight.length));
      weight = ctx.floatConstant(`${op.name}.weight`, [cout, cin], values);
      bias = ctx.floatConstant(`${op.name}.bias`, [cout], op.bias);
    }
    ctx.op(BuiltinOperator.FULLY_CONNECTED, [ctx.tensor(op.input), weight, bias], [ctx.tensor(op.output)], {
      type: BuiltinOptions.FullyConnectedOptions,
      write: (b) =>
        FullyConnectedOptions.createFullyConnectedOptions(
          b,
          ActivationFunctionType.NONE,
          FullyConnectedOptionsWeightsFormat.DEFAULT,
          false,
          false,
          TensorType.FLOAT32,
        ),
    });
  },
  slice(op, ctx) {
    const [h, w, c] = ctx.graph.tensors[op.output]!.shape as [number, number, number];
    const begin = ctx.int32Constant(`${op.name}.begin`, [0, 0, 0, 0]);
    const size = ctx.int32Constant(`${op.name}.size`, [1, h, w, c]);
    ctx.op(BuiltinOperator.SLICE, [ctx.tensor(op.input), begin, size], [ctx.tensor(op.output)], {
      type: BuiltinOptions.SliceOptions,
      write: (b) => (SliceOptions.startSliceOptions(b), SliceOptions.endSliceOptions(b)),
    });
  },
};

/**
 * A lowered network as a TFLite flatbuffer (schema version 3, one
 * subgraph, signature `serving_default`): NHWC float32 input `[1, H, W, C]`
 * — a fixed batch of 1, as LiteRT's JS API refuses dynamic shapes — and two
 * float32 outputs, `logits` and `probabilities` (SOFTMAX). fp16 stores every
 * weight as float16; int8 is full integer: QUANTIZE after the input, int8
 * everywhere inside, DEQUANTIZE before the outputs.
 */
export function toTflite(g: InferenceGraph, o: TfliteOptions): Uint8Array {
  if ((o.precision === 'int8') !== (o.quant !== null)) throw new Error('an int8 TFLite model needs a quantization plan, and only it');
  const ctx = new EmitContext(g, o.precision, o.quant);
  const b = ctx.b;
  const inputShape = [1, ...g.tensors[g.input]!.shape];
  let input: number;
  if (o.quant === null) {
    input = ctx.tensor(g.input);
  } else {
    const q = o.quant.activations[g.input]!;
    const uint8 = o.uint8Input === true;
    // uint8 holds the same levels 128 higher: one requantization, exact.
    const type: ElementType = uint8 ? 'uint8' : 'float32';
    input = b.activation(TFLITE_INPUT, inputShape, type, uint8 ? { scale: [q.scale], zeroPoint: [q.zeroPoint + 128] } : null);
    ctx.op(BuiltinOperator.QUANTIZE, [input], [ctx.tensor(g.input)], null);
  }
  if (o.quant === null) ctx.bind(g.input, input);
  g.ops.forEach((op, i) => (EMITTERS[op.op] as (op: IrOp, ctx: EmitContext, index: number) => void)(op, ctx, i));

  const classes = g.tensors[g.output]!.shape[0]!;
  let logits = ctx.tensor(g.output);
  if (o.quant !== null) {
    const float = b.activation(TFLITE_LOGITS, [1, classes], 'float32');
    ctx.op(BuiltinOperator.DEQUANTIZE, [logits], [float], null);
    logits = float;
  }
  const probabilities = b.activation(TFLITE_PROBABILITIES, [1, classes], 'float32');
  b.op(BuiltinOperator.SOFTMAX, [logits], [probabilities], { type: BuiltinOptions.SoftmaxOptions, write: (fb) => SoftmaxOptions.createSoftmaxOptions(fb, 1) });
  const metadata: Record<string, Uint8Array> = {};
  if (o.metadata !== undefined) metadata['adjoin_metadata'] = new Uint8Array(Buffer.from(JSON.stringify(o.metadata), 'utf8'));
  return b.finish({
    inputs: { [TFLITE_INPUT]: input },
    outputs: { [TFLITE_LOGITS]: logits, [TFLITE_PROBABILITIES]: probabilities },
    description: o.description ?? 'Adjoin export',
    metadata,
  });
}
