import * as flatbuffers from 'flatbuffers';
import {
  Buffer as TflBuffer,
  BuiltinOperator,
  type BuiltinOptions,
  Metadata,
  Model,
  Operator,
  OperatorCode,
  QuantizationParameters,
  SignatureDef,
  SubGraph,
  Tensor,
  TensorMap,
  TensorType,
} from './generated/schema_generated.js';

/** TFLite's schema version: tensors' data live in the model's buffer list. */
export const TFLITE_SCHEMA_VERSION = 3;

/** Tensor element types the exporter writes. */
export type ElementType = 'float32' | 'float16' | 'int32' | 'int8' | 'uint8';

const TENSOR_TYPES: Record<ElementType, TensorType> = {
  float32: TensorType.FLOAT32,
  float16: TensorType.FLOAT16,
  int32: TensorType.INT32,
  int8: TensorType.INT8,
  uint8: TensorType.UINT8,
};

/** real = scale · (q − zeroPoint); one entry per tensor, or per slice along `dimension`. */
export interface Quantization {
  scale: readonly number[];
  zeroPoint: readonly number[];
  dimension?: number;
  min?: readonly number[];
  max?: readonly number[];
}

interface TensorEntry {
  name: string;
  shape: readonly number[];
  type: ElementType;
  buffer: number;
  quantization: Quantization | null;
}

interface OperatorEntry {
  code: BuiltinOperator;
  inputs: readonly number[];
  outputs: readonly number[];
  options: { type: BuiltinOptions; write: (b: flatbuffers.Builder) => flatbuffers.Offset } | null;
}

export interface FinishOptions {
  inputs: Record<string, number>;
  outputs: Record<string, number>;
  description: string;
  /** Named metadata entries (the model's `metadata` list), each stored in a buffer. */
  metadata: Record<string, Uint8Array>;
}

/**
 * Collects a single-subgraph TFLite model and serialises it with the
 * builder functions flatc generated from schema.fbs. Two habits of other
 * writers break runtimes, so this one avoids them: every activation points
 * at buffer 0, which is written without a data vector (an empty vector
 * there makes LiteRT reject the model), and operators carry no
 * custom_options at all.
 */
export class TfliteModelBuilder {
  private readonly buffers: Uint8Array[] = [new Uint8Array(0)];
  private readonly tensors: TensorEntry[] = [];
  private readonly operators: OperatorEntry[] = [];
  /** Operator code → the highest version any of its uses needs. */
  private readonly versions = new Map<BuiltinOperator, number>();

  /** An intermediate (or input/output) tensor: no data, buffer 0. */
  activation(name: string, shape: readonly number[], type: ElementType, quantization: Quantization | null = null): number {
    return this.push({ name, shape, type, buffer: 0, quantization });
  }

  /** A constant tensor with its little-endian bytes in a buffer of its own. */
  constant(name: string, shape: readonly number[], type: ElementType, data: Uint8Array, quantization: Quantization | null = null): number {
    const size = shape.reduce((a, b) => a * b, 1) * bytesPer(type);
    if (size !== data.byteLength) throw new Error(`TFLite constant ${name}: ${data.byteLength} bytes for shape ${shape.join('×')} of ${type}`);
    this.buffers.push(data);
    return this.push({ name, shape, type, buffer: this.buffers.length - 1, quantization });
  }

  shapeOf(tensor: number): readonly number[] {
    return this.tensors[tensor]!.shape;
  }

  typeOf(tensor: number): ElementType {
    return this.tensors[tensor]!.type;
  }

  quantizationOf(tensor: number): Quantization | null {
    return this.tensors[tensor]!.quantization;
  }

  /** `version`: the operator version the TFLite converter writes for these tensor types. */
  op(code: BuiltinOperator, inputs: readonly number[], outputs: readonly number[], options: OperatorEntry['options'] = null, version = 1): void {
    this.operators.push({ code, inputs, outputs, options });
    this.versions.set(code, Math.max(version, this.versions.get(code) ?? 1));
  }

  private push(t: TensorEntry): number {
    this.tensors.push(t);
    return this.tensors.length - 1;
  }

  /** Serialises the model: the buffers first (the bulk of the file), then the tables that point at them. */
  finish(o: FinishOptions): Uint8Array {
    const metadataBuffers = Object.entries(o.metadata).map(([name, data]) => {
      this.buffers.push(data);
      return { name, buffer: this.buffers.length - 1 };
    });
    const dataBytes = this.buffers.reduce((n, b) => n + b.byteLength + 16, 0);
    const b = new flatbuffers.Builder(dataBytes + 64 * 1024 + this.tensors.length * 256);
    const buffers = this.writeBuffers(b);
    const codes = [...this.versions.keys()];
    const tensors = this.writeTensors(b);
    const operators = this.writeOperators(b, codes);
    const subgraph = this.writeSubgraph(b, tensors, operators, o);
    const opcodes = this.writeOperatorCodes(b, codes);
    const signature = writeSignature(b, o);
    const metadataOffsets = metadataBuffers.map((m) => Metadata.createMetadata(b, b.createString(m.name), m.buffer));
    const description = b.createString(o.description);
    const opcodesVector = Model.createOperatorCodesVector(b, opcodes);
    const subgraphs = Model.createSubgraphsVector(b, [subgraph]);
    const buffersVector = Model.createBuffersVector(b, buffers);
    const metadata = Model.createMetadataVector(b, metadataOffsets);
    const signatures = Model.createSignatureDefsVector(b, [signature]);
    Model.startModel(b);
    Model.addVersion(b, TFLITE_SCHEMA_VERSION);
    Model.addOperatorCodes(b, opcodesVector);
    Model.addSubgraphs(b, subgraphs);
    Model.addDescription(b, description);
    Model.addBuffers(b, buffersVector);
    Model.addMetadata(b, metadata);
    Model.addSignatureDefs(b, signatures);
    b.finish(Model.endModel(b), 'TFL3');
    return b.asUint8Array().slice();
  }

  /** The buffers first (the bulk of the file), each 16-byte aligned as schema.fbs asks of `data`; buffer 0 has no data vector. */
  private writeBuffers(b: flatbuffers.Builder): flatbuffers.Offset[] {
    return this.buffers.map((data) => {
      let vector = 0;
      if (data.byteLength > 0) {
        b.prep(16, data.byteLength);
        vector = b.createByteVector(data);
      }
      TflBuffer.startBuffer(b);
      if (vector !== 0) TflBuffer.addData(b, vector);
      return TflBuffer.endBuffer(b);
    });
  }

  private writeTensors(b: flatbuffers.Builder): flatbuffers.Offset[] {
    return this.tensors.map((t) => {
      const name = b.createString(t.name);
      const shape = Tensor.createShapeVector(b, Int32Array.from(t.shape));
      const quant = t.quantization === null ? 0 : quantizationTable(b, t.quantization);
      Tensor.startTensor(b);
      Tensor.addShape(b, shape);
      Tensor.addType(b, TENSOR_TYPES[t.type]);
      Tensor.addBuffer(b, t.buffer);
      Tensor.addName(b, name);
      if (quant !== 0) Tensor.addQuantization(b, quant);
      return Tensor.endTensor(b);
    });
  }

  /** The operators, each naming its code by its index in `codes`. */
  private writeOperators(b: flatbuffers.Builder, codes: BuiltinOperator[]): flatbuffers.Offset[] {
    const codeIndex = new Map(codes.map((c, i) => [c, i]));
    return this.operators.map((op) => {
      const inputs = Operator.createInputsVector(b, Int32Array.from(op.inputs));
      const outputs = Operator.createOutputsVector(b, Int32Array.from(op.outputs));
      const options = op.options === null ? 0 : op.options.write(b);
      Operator.startOperator(b);
      Operator.addOpcodeIndex(b, codeIndex.get(op.code)!);
      Operator.addInputs(b, inputs);
      Operator.addOutputs(b, outputs);
      if (op.options !== null) {
        Operator.addBuiltinOptionsType(b, op.options.type);
        Operator.addBuiltinOptions(b, options);
      }
      return Operator.endOperator(b);
    });
  }

  private writeSubgraph(b: flatbuffers.Builder, tensors: flatbuffers.Offset[], operators: flatbuffers.Offset[], o: FinishOptions): flatbuffers.Offset {
    return SubGraph.createSubGraph(
      b,
      SubGraph.createTensorsVector(b, tensors),
      SubGraph.createInputsVector(b, Int32Array.from(Object.values(o.inputs))),
      SubGraph.createOutputsVector(b, Int32Array.from(Object.values(o.outputs))),
      SubGraph.createOperatorsVector(b, operators),
      b.createString('main'),
      0,
    );
  }

  private writeOperatorCodes(b: flatbuffers.Builder, codes: BuiltinOperator[]): flatbuffers.Offset[] {
    return codes.map((code) =>
      // Codes above 127 live only in builtin_code; older readers look at the deprecated byte.
      OperatorCode.createOperatorCode(b, Math.min(code, BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES), 0, this.versions.get(code)!, code),
    );
  }
}

/** The `serving_default` signature: the model's inputs and outputs by name. */
function writeSignature(b: flatbuffers.Builder, o: FinishOptions): flatbuffers.Offset {
  const tensorMaps = (m: Record<string, number>): flatbuffers.Offset[] =>
    Object.entries(m).map(([name, index]) => TensorMap.createTensorMap(b, b.createString(name), index));
  return SignatureDef.createSignatureDef(
    b,
    SignatureDef.createInputsVector(b, tensorMaps(o.inputs)),
    SignatureDef.createOutputsVector(b, tensorMaps(o.outputs)),
    b.createString('serving_default'),
    0,
  );
}

function quantizationTable(b: flatbuffers.Builder, q: Quantization): flatbuffers.Offset {
  if (q.scale.length !== q.zeroPoint.length) throw new Error(`quantization: ${q.scale.length} scales but ${q.zeroPoint.length} zero points`);
  const scale = QuantizationParameters.createScaleVector(b, Float32Array.from(q.scale));
  const zero = QuantizationParameters.createZeroPointVector(
    b,
    q.zeroPoint.map((z) => BigInt(z)),
  );
  const min = q.min === undefined ? 0 : QuantizationParameters.createMinVector(b, Float32Array.from(q.min));
  const max = q.max === undefined ? 0 : QuantizationParameters.createMaxVector(b, Float32Array.from(q.max));
  QuantizationParameters.startQuantizationParameters(b);
  if (min !== 0) QuantizationParameters.addMin(b, min);
  if (max !== 0) QuantizationParameters.addMax(b, max);
  QuantizationParameters.addScale(b, scale);
  QuantizationParameters.addZeroPoint(b, zero);
  QuantizationParameters.addQuantizedDimension(b, q.dimension ?? 0);
  return QuantizationParameters.endQuantizationParameters(b);
}

const BYTES: Record<ElementType, number> = { float32: 4, int32: 4, float16: 2, int8: 1, uint8: 1 };

export function bytesPer(type: ElementType): number {
  return BYTES[type];
}

/** The little-endian bytes of a typed array (every platform Node ships for is little-endian). */
export function bytesOf(a: Float32Array | Int32Array | Int8Array | Uint8Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}
