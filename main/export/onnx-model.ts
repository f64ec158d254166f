import type { Precision } from '../../shared/export.js';
import { ONNX_OPSET } from '../../shared/export.js';
import type { ModelGraph } from '../../shared/model/graph.js';
import type { NetworkParams } from '../engine/params.js';
import type { InferenceGraph, IrOp } from './ir/inference-graph.js';
import { depthwiseToOnnx, hwioToOihw } from './fold.js';
import { lowerForInference } from './ir/lower.js';
import { type Attribute, OnnxGraphBuilder } from './onnx-builder.js';
import type { QuantPlan } from './quant/plan.js';

export const ONNX_INPUT = 'input';
export const ONNX_LOGITS = 'logits';
export const ONNX_PROBABILITIES = 'probabilities';

export interface OnnxOptions {
  /** fp32 (default), fp16 (half-precision weights; float in and out) or int8 (QDQ, needs `quant`). */
  precision?: Precision;
  quant?: QuantPlan | null;
  /** int8: the type of activations between Q and DQ. */
  activationType?: 'int8' | 'uint8';
  /** int8: take uint8 input (quantized by the caller) instead of float32. */
  uint8Input?: boolean;
  /** Add a Softmax output `probabilities` next to `logits` (default true). */
  probabilities?: boolean;
  /** Written into the model's metadata_props. */
  metadata?: Record<string, string>;
  name?: string;
  docString?: string;
}

class OnnxEmitContext {
  /** The float value each IR tensor is read by (after Q→DQ in int8 models). */
  private readonly values = new Map<number, string>();
  private readonly written = new Map<string, [string, string]>();

  constructor(
    readonly b: OnnxGraphBuilder,
    readonly graph: InferenceGraph,
    readonly quant: QuantPlan | null,
    readonly activationType: 'int8' | 'uint8',
  ) {}

  value(t: number): string {
    const v = this.values.get(t);
    if (v === undefined) throw new Error(`ONNX export: ${this.graph.tensors[t]!.name} read before it was computed`);
    return v;
  }

  /** The name an op writes tensor `t` to: its final name, or a float temporary that Q→DQ then passes on. */
  target(t: number): string {
    const name = this.finalName(t);
    return this.quant === null ? name : `${name}.f`;
  }

  private finalName(t: number): string {
    return t === this.graph.output ? ONNX_LOGITS : this.graph.tensors[t]!.name;
  }

  /** The op has written `t` to `target(t)`: in int8 models it is quantized and dequantized with t's parameters. */
  produced(t: number): void {
    const name = this.finalName(t);
    if (this.quant !== null) this.b.node('DequantizeLinear', [this.quantize(`${name}.f`, t, name), ...this.params(t, name)], [name]);
    this.values.set(t, name);
  }

  /** Q(float value) with t's parameters; returns the quantized value's name. */
  quantize(from: string, t: number, name: string): string {
    this.b.node('QuantizeLinear', [from, ...this.params(t, name)], [`${name}.q`]);
    return `${name}.q`;
  }

  bindInput(t: number, name: string): void {
    this.values.set(t, name);
  }

  /** Scale and zero point initializers of tensor t, written once under `name` and shared by its Q and DQ. */
  params(t: number, name: string): [string, string] {
    let p = this.written.get(name);
    if (p === undefined) {
      const q = this.quant!.activations[t]!;
      const zp = this.activationType === 'int8' ? Int8Array.of(q.zeroPoint) : Uint8Array.of(q.zeroPoint + 128);
      p = [this.b.float32(`${name}.scale`, [], Float32Array.of(q.scale)), this.b.int8(`${name}.zero_point`, [], zp)];
      this.written.set(name, p);
    }
    return p;
  }

  /** Quantized weights and bias, each behind a DequantizeLinear, per channel when it has several scales. */
  quantizedWeights(index: number, name: string, dims: number[], values: Int8Array): { weight: string; bias: string } {
    const q = this.quant!.weights.get(index)!;
    const n = q.scales.length;
    const perAxis: Record<string, Attribute> = n > 1 ? { axis: 0 } : {};
    const shape = n > 1 ? [n] : [];
    const b = this.b;
    const weight = `${name}.weight`;
    b.node(
      'DequantizeLinear',
      [b.int8(`${weight}.q`, dims, values), b.float32(`${weight}.scale`, shape, q.scales), b.int8(`${weight}.zero_point`, shape, new Int8Array(n))],
      [weight],
      perAxis,
    );
    const bias = `${name}.bias`;
    b.node(
      'DequantizeLinear',
      [b.int32(`${bias}.q`, [q.bias.length], q.bias), b.float32(`${bias}.scale`, shape, q.biasScales), b.int32(`${bias}.zero_point`, shape, new Int32Array(n))],
      [bias],
      perAxis,
    );
    return { weight, bias };
  }
}

type Emitters = { [K in IrOp['op']]: (op: Extract<IrOp, { op: K }>, ctx: OnnxEmitContext, index: number) => void };

/**
 * One ONNX lowering per operation of the inference graph. In int8 models
 * every tensor an op writes goes through QuantizeLinear → DequantizeLinear
 * after the op and its ReLU (a ReLU whose output starts at the zero point is
 * what lets onnxruntime drop it and fuse Conv into QLinearConv, Add into
 * QLinearAdd).
 */
const EMITTERS: Emitters = {
  conv(op, ctx, index) {
    const cin = ctx.graph.tensors[op.input]!.shape[2]!;
    const cout = op.bias.length;
    const k = op.kernel;
    const dims = op.depthwise ? [cout, 1, k, k] : [cout, cin, k, k];
    let weight: string;
    let bias: string;
    if (ctx.quant !== null) {
      const q = ctx.quant.weights.get(index)!;
      const values = op.depthwise
        ? depthwiseToOnnx(q.values, k, cout, new Int8Array(q.values.length))
        : hwioToOihw(q.values, k, cin, cout, new Int8Array(q.values.length));
      ({ weight, bias } = ctx.quantizedWeights(index, op.name, dims, values));
    } else {
      const values = op.depthwise
        ? depthwiseToOnnx(op.weight, k, cout, new Float32Array(op.weight.length))
        : hwioToOihw(op.weight, k, cin, cout, new Float32Array(op.weight.length));
      weight = ctx.b.weight(`${op.name}.weight`, dims, values);
      bias = ctx.b.weight(`${op.name}.bias`, [cout], op.bias);
    }
    const p = op.pad;
    const out = ctx.target(op.output);
    const convOut = op.relu ? `${op.name}.conv` : out;
    ctx.b.node('Conv', [ctx.value(op.input), weight, bias], [convOut], {
      kernel_shape: [k, k],
      strides: [op.stride, op.stride],
      pads: [p, p, p, p],
      dilations: [1, 1],
      group: op.depthwise ? cout : 1,
    });
    if (op.relu) ctx.b.node('Relu', [convOut], [out]);
    ctx.produced(op.output);
  },
  relu(op, ctx) {
    if (op.cap === null) {
      ctx.b.node('Relu', [ctx.value(op.input)], [ctx.target(op.output)]);
    } else {
      // Opset 13 Clip reads its bounds from (scalar) inputs.
      const min = ctx.b.float32(`${op.name}.min`, [], Float32Array.of(0));
      const max = ctx.b.float32(`${op.name}.max`, [], Float32Array.of(op.cap));
      ctx.b.node('Clip', [ctx.value(op.input), min, max], [ctx.target(op.output)]);
    }
    ctx.produced(op.output);
  },
  add(op, ctx) {
    const out = ctx.target(op.output);
    const sum = op.relu ? `${op.name}.sum` : out;
    ctx.b.node('Add', [ctx.value(op.inputs[0]), ctx.value(op.inputs[1])], [sum]);
    if (op.relu) ctx.b.node('Relu', [sum], [out]);
    ctx.produced(op.output);
  },
  concat(op, ctx) {
    ctx.b.node(
      'Concat',
      op.inputs.map((t) => ctx.value(t)),
      [ctx.target(op.output)],
      { axis: 1 },
    );
    ctx.produced(op.output);
  },
  maxpool(op, ctx) {
    // ONNX pads MaxPool with −∞, the engine with 0: equal, as lowering checked the input follows a ReLU.
    const p = op.pad;
    ctx.b.node('MaxPool', [ctx.value(op.input)], [ctx.target(op.output)], {
      kernel_shape: [op.kernel, op.kernel],
      strides: [op.stride, op.stride],
      pads: [p, p, p, p],
    });
    ctx.produced(op.output);
  },
  avgpool(op, ctx) {
    ctx.b.node('AveragePool', [ctx.value(op.input)], [ctx.target(op.output)], { kernel_shape: [op.kernel, op.kernel], strides: [op.stride, op.stride] });
    ctx.produced(op.output);
  },
  mean(op, ctx) {
    const name = ctx.graph.tensors[op.output]!.name;
    let pooled = `${name}.pooled`;
    ctx.b.node('GlobalAveragePool', [ctx.value(op.input)], [pooled]);
    if (ctx.quant !== null) {
      // Quantized right after the pooling (QLinearGlobalAveragePool); Flatten then only moves bytes.
      const q = ctx.quantize(pooled, op.output, pooled);
      ctx.b.node('DequantizeLinear', [q, ...ctx.params(op.output, pooled)], [`${pooled}.dq`]);
      pooled = `${pooled}.dq`;
    }
    ctx.b.node('Flatten', [pooled], [ctx.target(op.output)], { axis: 1 });
    ctx.produced(op.output);
  },
  dense(op, ctx, index) {
    const cin = ctx.graph.tensors[op.input]!.shape[0]!;
    const cout = op.bias.length;
    let weight: string;
    let bias: string;
    if (ctx.quant !== null) {
      // The engine's dense weight is [in, out]: Gemm's B as is (transB = 0).
      ({ weight, bias } = ctx.quantizedWeights(index, op.name, [cin, cout], ctx.quant.weights.get(index)!.values));
    } else {
      weight = ctx.b.weight(`${op.name}.weight`, [cin, cout], op.weight);
      bias = ctx.b.weight(`${op.name}.bias`, [cout], op.bias);
    }
    ctx.b.node('Gemm', [ctx.value(op.input), weight, bias], [ctx.target(op.output)]);
    ctx.produced(op.output);
  },
  slice(op, ctx) {
    // Opset 13 Slice reads starts, ends and axes from tensors: keep the leading channels.
    const c = ctx.graph.tensors[op.output]!.shape[2]!;
    const b = ctx.b;
    b.node(
      'Slice',
      [ctx.value(op.input), b.int64(`${op.name}.starts`, [0]), b.int64(`${op.name}.ends`, [c]), b.int64(`${op.name}.axes`, [1])],
      [ctx.target(op.output)],
    );
    ctx.produced(op.output);
  },
};

/**
 * Writes a lowered network as an ONNX model (opset 13): input `input`, NCHW
 * `[N, C, H, W]` (N free), outputs `logits` [N, classes] and, by default,
 * `probabilities` (Softmax). fp16 stores the weights as float16, each
 * followed by a Cast; int8 is QDQ — QuantizeLinear/DequantizeLinear around
 * every op, int8 weights per output channel and int32 biases — which
 * onnxruntime runs as integer kernels (QLinearConv, QLinearAdd…), float in
 * and float out. The input normalisation is not part of the model (see
 * metadata).
 */
export function onnxFromInference(g: InferenceGraph, options: OnnxOptions = {}): Uint8Array {
  const precision = options.precision ?? 'fp32';
  const quant = options.quant ?? null;
  if ((precision === 'int8') !== (quant !== null)) throw new Error('an int8 ONNX model needs a quantization plan, and only it');
  const b = new OnnxGraphBuilder(precision === 'fp16');
  const ctx = new OnnxEmitContext(b, g, quant, options.activationType ?? 'int8');
  const [h, w, c] = g.tensors[g.input]!.shape as [number, number, number];
  const uint8 = quant !== null && options.uint8Input === true;
  b.input(ONNX_INPUT, ['N', c, h, w], uint8 ? 'uint8' : 'float32');
  if (quant === null) {
    ctx.bindInput(g.input, ONNX_INPUT);
  } else if (uint8) {
    const q = quant.activations[g.input]!;
    const scale = b.float32(`${ONNX_INPUT}.scale`, [], Float32Array.of(q.scale));
    b.node('DequantizeLinear', [ONNX_INPUT, scale, b.int8(`${ONNX_INPUT}.zero_point`, [], Uint8Array.of(q.zeroPoint + 128))], [`${ONNX_INPUT}.dq`]);
    ctx.bindInput(g.input, `${ONNX_INPUT}.dq`);
  } else {
    const q = ctx.quantize(ONNX_INPUT, g.input, ONNX_INPUT);
    b.node('DequantizeLinear', [q, ...ctx.params(g.input, ONNX_INPUT)], [`${ONNX_INPUT}.dq`]);
    ctx.bindInput(g.input, `${ONNX_INPUT}.dq`);
  }
  g.ops.forEach((op, i) => (EMITTERS[op.op] as (op: IrOp, ctx: OnnxEmitContext, index: number) => void)(op, ctx, i));
  const classes = g.tensors[g.output]!.shape[0]!;
  b.output(ONNX_LOGITS, ['N', classes]);
  if (options.probabilities !== false) {
    b.node('Softmax', [ONNX_LOGITS], [ONNX_PROBABILITIES], { axis: 1 });
    b.output(ONNX_PROBABILITIES, ['N', classes]);
  }
  return b.encode({
    name: options.name ?? 'adjoin',
    opset: ONNX_OPSET,
    docString: options.docString ?? `exported by Adjoin (${precision})`,
    metadata: options.metadata ?? {},
  });
}

/** A plain network (an extracted small one, or `plainFull`) as a float ONNX model. */
export async function toOnnx(graph: ModelGraph, params: NetworkParams, options: Omit<OnnxOptions, 'quant'> = {}): Promise<Uint8Array> {
  const { arch, stem, width } = graph.config;
  return onnxFromInference(await lowerForInference(graph, params), { docString: `${arch} (${stem} stem, width ${width}) exported by Adjoin`, ...options });
}
