import onnxProto, { type onnx } from 'onnx-proto';
import { endianness } from 'node:os';
import { toHalf } from '../engine/layers-model.js';

/**
 * Builds an ONNX ModelProto with the protobuf classes generated from the
 * ONNX schema (the `onnx-proto` package): no hand-packed bytes.
 */
const proto = onnxProto.onnx;
const { DataType } = proto.TensorProto;
const { AttributeType } = proto.AttributeProto;

export type Attribute = number | number[] | { float: number };

function bytesOf(a: Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array): Uint8Array {
  // ONNX raw_data is little-endian; so are typed arrays on every platform Node ships for.
  if (endianness() !== 'LE') throw new Error('ONNX export needs a little-endian machine');
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

function attribute(name: string, v: Attribute): onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  return { name, type: AttributeType.FLOAT, f: v.float };
}

function valueInfo(name: string, dims: Array<number | string>, elemType: number = DataType.FLOAT): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export class OnnxGraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];

  /**
   * @param float16 store float weights as IEEE half floats, each followed by a
   * Cast to float32: the file is half the size, the model still computes and
   * exchanges float32, and runtimes fold the casts away when they load it.
   */
  constructor(private readonly float16: boolean) {}

  /** A float weight; returns the name to read it by. */
  weight(name: string, dims: number[], values: Float32Array): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== values.length) throw new Error(`${name}: ${values.length} values for shape ${dims.join('×')}`);
    if (!this.float16) {
      this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: bytesOf(values) });
      return name;
    }
    const half = new Uint16Array(values.length);
    for (let i = 0; i < values.length; i++) half[i] = toHalf(values[i]!);
    const stored = `${name}.fp16`;
    this.initializers.push({ name: stored, dims, dataType: DataType.FLOAT16, rawData: bytesOf(half) });
    this.node('Cast', [stored], [name], { to: DataType.FLOAT }, `${name}.cast`);
    return name;
  }

  /** A float32 constant kept in float32 whatever the weights' precision (quantization scales). */
  float32(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push({ name, dims, dataType: DataType.FLOAT, rawData: bytesOf(values) });
    return name;
  }

  /** An 8-bit integer constant: quantized weights and zero points. */
  int8(name: string, dims: number[], values: Int8Array | Uint8Array): string {
    this.initializers.push({ name, dims, dataType: values instanceof Int8Array ? DataType.INT8 : DataType.UINT8, rawData: bytesOf(values) });
    return name;
  }

  /** An int32 constant: quantized biases and their zero points. */
  int32(name: string, dims: number[], values: Int32Array): string {
    this.initializers.push({ name, dims, dataType: DataType.INT32, rawData: bytesOf(values) });
    return name;
  }

  /** An int64 constant (Slice's starts, ends and axes). */
  int64(name: string, values: number[]): string {
    this.initializers.push({ name, dims: [values.length], dataType: DataType.INT64, rawData: bytesOf(BigInt64Array.from(values.map(BigInt))) });
    return name;
  }

  node(opType: string, input: string[], output: string[], attrs: Record<string, Attribute> = {}, name = output[0]!): void {
    this.nodes.push({ opType, input, output, name, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
  }

  input(name: string, dims: Array<number | string>, elemType: 'float32' | 'uint8' = 'float32'): void {
    this.inputs.push(valueInfo(name, dims, elemType === 'float32' ? DataType.FLOAT : DataType.UINT8));
  }

  output(name: string, dims: Array<number | string>): void {
    this.outputs.push(valueInfo(name, dims));
  }

  /** Serialises the model (IR version 7, the one that goes with opset 13). */
  encode(o: { name: string; opset: number; docString: string; metadata: Record<string, string> }): Uint8Array {
    const model = proto.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: o.opset }],
      producerName: 'Adjoin',
      producerVersion: '1',
      docString: o.docString,
      graph: {
        name: o.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadataProps: Object.entries(o.metadata).map(([key, value]) => ({ key, value })),
    });
    const err = proto.ModelProto.verify(model);
    if (err !== null) throw new Error(`invalid ONNX model: ${err}`);
    return proto.ModelProto.encode(model).finish();
  }
}

/** Reads back what `encode` wrote (tests and inspection). */
export function decodeOnnx(bytes: Uint8Array): onnx.ModelProto {
  return proto.ModelProto.decode(bytes);
}
