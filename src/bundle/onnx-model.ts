/**
 * Decode and encode ONNX models with protobufjs (a well-kept protobuf runtime) and the schema subset
 * in onnx-schema.ts. Only the parts the width rebuild touches are typed.
 */
import protobuf from 'protobufjs';
import { ONNX_SCHEMA } from './onnx-schema.js';

const root = protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root;
const ModelProto = root.lookupType('onnx.ModelProto');

/** int64 fields decode to Long objects (when `long` is installed) or numbers. */
export type Int64 = number | { toNumber(): number };

export interface TensorProto {
  name: string;
  dims: Int64[];
  data_type: number;
  raw_data?: Uint8Array;
  float_data?: number[];
}

export interface AttributeProto {
  name: string;
  type: number;
  i?: Int64;
}

export interface NodeProto {
  name: string;
  op_type: string;
  attribute: AttributeProto[];
}

export interface GraphProto {
  node: NodeProto[];
  initializer: TensorProto[];
}

export interface ModelProto {
  graph: GraphProto;
}

export const FLOAT = 1; // TensorProto.DataType.FLOAT
export const ATTRIBUTE_INT = 2; // AttributeProto.AttributeType.INT

export function toNumber(value: Int64): number {
  return typeof value === 'number' ? value : value.toNumber();
}

export function decodeModel(bytes: Uint8Array): ModelProto {
  const message = ModelProto.decode(bytes) as unknown as Partial<ModelProto>;
  if (!message.graph || !Array.isArray(message.graph.initializer)) {
    throw new Error('not an ONNX model: no graph');
  }
  return message as ModelProto;
}

export function encodeModel(model: ModelProto): Uint8Array {
  return ModelProto.encode(model as unknown as protobuf.Message).finish();
}

/** A float32 initializer's values, copied out of raw_data or float_data. */
export function tensorValues(tensor: TensorProto): Float32Array {
  if (tensor.data_type !== FLOAT) {
    throw new Error(`initializer ${tensor.name} is not float32 (data_type ${tensor.data_type})`);
  }
  if (tensor.raw_data && tensor.raw_data.length > 0) {
    const raw = tensor.raw_data;
    // Copy: raw_data may sit at an offset that is not a multiple of 4 inside the decode buffer.
    return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  }
  return Float32Array.from(tensor.float_data ?? []);
}

export function setTensorValues(tensor: TensorProto, dims: number[], values: Float32Array): void {
  tensor.dims = dims;
  tensor.raw_data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  tensor.float_data = [];
}
