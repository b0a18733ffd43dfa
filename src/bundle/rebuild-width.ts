/**
 * Rebuild one width's ONNX graph in memory from the shared full-width graph: slice every listed
 * initializer to its prefix, swap in that width's switchable-BN tensors, and apply the attribute
 * changes (depthwise `group`). Nothing per width is stored on disk; see docs/bundle-format.md.
 */
import {
  ATTRIBUTE_INT,
  decodeModel,
  encodeModel,
  setTensorValues,
  tensorValues,
  toNumber,
  type ModelProto,
} from './onnx-model.js';
import type { RebuildRecipe } from './manifest.js';

/** BN tensors of one layer, stored back to back in switchable_bn.bin (ONNX BatchNormalization order). */
const BN_TENSORS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

/** Copy the leading block `shape` out of a row-major tensor of shape `full`. */
export function prefixSlice(values: Float32Array, full: number[], shape: number[]): Float32Array {
  if (full.length !== shape.length || shape.some((d, i) => d > full[i]! || d < 0)) {
    throw new Error(`cannot slice shape [${full.join(', ')}] to [${shape.join(', ')}]`);
  }
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const strides = full.map((_, i) => full.slice(i + 1).reduce((a, b) => a * b, 1));
  const inner = shape[shape.length - 1] ?? 1;
  const outer = out.length / Math.max(inner, 1);
  const index = new Array<number>(shape.length).fill(0);
  for (let row = 0; row < outer; row += 1) {
    let offset = 0;
    for (let d = 0; d < shape.length - 1; d += 1) offset += index[d]! * strides[d]!;
    out.set(values.subarray(offset, offset + inner), row * inner);
    for (let d = shape.length - 2; d >= 0; d -= 1) {
      index[d]! += 1;
      if (index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

export function rebuildWidth(shared: Uint8Array, recipe: RebuildRecipe, switchableBn: Buffer): Uint8Array {
  const model: ModelProto = decodeModel(shared);
  const bnTensors = new Map<string, Float32Array>();
  for (const [layer, entry] of Object.entries(recipe.switchable_bn)) {
    const bytes = 4 * 4 * entry.channels;
    if (entry.offset + bytes > switchableBn.length) {
      throw new Error(`switchable BN of ${layer} lies outside switchable_bn.bin`);
    }
    const block = new Float32Array(switchableBn.buffer.slice(switchableBn.byteOffset + entry.offset, switchableBn.byteOffset + entry.offset + bytes));
    BN_TENSORS.forEach((name, i) => bnTensors.set(`${layer}.${name}`, block.subarray(i * entry.channels, (i + 1) * entry.channels)));
  }
  const seen = new Set<string>();
  for (const tensor of model.graph.initializer) {
    const bn = bnTensors.get(tensor.name);
    const target = recipe.slice[tensor.name];
    if (bn) {
      setTensorValues(tensor, [bn.length], bn.slice());
    } else if (target) {
      const full = tensor.dims.map(toNumber);
      setTensorValues(tensor, target, prefixSlice(tensorValues(tensor), full, target));
    } else {
      continue;
    }
    seen.add(tensor.name);
  }
  const expected = [...bnTensors.keys(), ...Object.keys(recipe.slice)];
  const missing = expected.filter((name) => !seen.has(name));
  if (missing.length > 0) throw new Error(`recipe names initializers the graph lacks: ${missing.slice(0, 3).join(', ')}`);

  const nodes = new Map(model.graph.node.map((node) => [node.name, node]));
  for (const change of recipe.attributes) {
    const attribute = nodes.get(change.node)?.attribute.find((a) => a.name === change.name);
    if (!attribute || attribute.type !== ATTRIBUTE_INT) {
      throw new Error(`recipe changes ${change.node}.${change.name}, which is not an int attribute of the graph`);
    }
    attribute.i = change.value;
  }
  return encodeModel(model);
}
