"""The rebuild recipe: how to turn the shared full-width graph into one width's graph.

A recipe has three parts, all derived by comparing the width's own exported graph with the shared one:
  * ``slice``: initializer -> target shape; the width uses the leading prefix along every axis;
  * ``switchable_bn``: initializers replaced by that width's own BN tensors (from switchable_bn.bin);
  * ``attributes``: node attributes whose value changes with width (depthwise Conv ``group``).
:func:`apply_recipe` is the reference of what the server does in memory; :func:`derive_recipe` fails
loudly when two widths differ in any way the recipe cannot express.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper


class RecipeError(ValueError):
    pass


@dataclass
class AttributeChange:
    node: str
    name: str
    value: int


@dataclass
class Recipe:
    slice: dict[str, list[int]] = field(default_factory=dict)
    switchable_bn: dict[str, np.ndarray] = field(default_factory=dict)
    attributes: list[AttributeChange] = field(default_factory=list)


def _int_attributes(node: onnx.NodeProto) -> dict[str, onnx.AttributeProto]:
    return {a.name: a for a in node.attribute}


def derive_recipe(shared: onnx.ModelProto, width_graph: onnx.ModelProto, bn_names: set[str]) -> Recipe:
    """Compare a width's exported graph with the shared graph; the result rebuilds the former."""
    recipe = Recipe()
    a, b = shared.graph, width_graph.graph
    if len(a.node) != len(b.node):
        raise RecipeError(f"graphs differ in node count ({len(a.node)} vs {len(b.node)})")
    for na, nb in zip(a.node, b.node):
        if (na.name, na.op_type, list(na.input), list(na.output)) != (nb.name, nb.op_type, list(nb.input), list(nb.output)):
            raise RecipeError(f"node {na.name!r} ({na.op_type}) differs from {nb.name!r} ({nb.op_type})")
        attrs_a, attrs_b = _int_attributes(na), _int_attributes(nb)
        if set(attrs_a) != set(attrs_b):
            raise RecipeError(f"node {na.name!r}: attribute names differ")
        for name, attr in attrs_b.items():
            if attr == attrs_a[name]:
                continue
            if attr.type != onnx.AttributeProto.INT:
                raise RecipeError(f"node {na.name!r}: attribute {name!r} changes with width and is not an int")
            recipe.attributes.append(AttributeChange(na.name, name, int(attr.i)))
    shared_tensors = {t.name: t for t in a.initializer}
    width_tensors = {t.name: t for t in b.initializer}
    if set(shared_tensors) != set(width_tensors):
        raise RecipeError(f"initializer names differ: {sorted(set(shared_tensors) ^ set(width_tensors))[:5]}")
    for name, tensor in width_tensors.items():
        if name in bn_names:
            recipe.switchable_bn[name] = numpy_helper.to_array(tensor)
            continue
        full, dims = list(shared_tensors[name].dims), list(tensor.dims)
        if len(full) != len(dims) or any(d > f for d, f in zip(dims, full)):
            raise RecipeError(f"initializer {name!r}: shape {dims} is not a prefix slice of {full}")
        if dims != full:
            recipe.slice[name] = dims
    return recipe


def prefix_slice(array: np.ndarray, shape: list[int]) -> np.ndarray:
    return array[tuple(slice(0, d) for d in shape)]


def apply_recipe(shared: onnx.ModelProto, recipe: Recipe) -> onnx.ModelProto:
    """Rebuild one width from the shared graph (what the server does, in TypeScript)."""
    model = onnx.ModelProto()
    model.CopyFrom(shared)
    for i, tensor in enumerate(model.graph.initializer):
        if tensor.name in recipe.switchable_bn:
            replacement = recipe.switchable_bn[tensor.name]
        elif tensor.name in recipe.slice:
            replacement = np.ascontiguousarray(prefix_slice(numpy_helper.to_array(tensor), recipe.slice[tensor.name]))
        else:
            continue
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(replacement, tensor.name))
    nodes = {node.name: node for node in model.graph.node}
    for change in recipe.attributes:
        node = nodes[change.node]
        for j, attr in enumerate(node.attribute):
            if attr.name == change.name:
                node.attribute[j].CopyFrom(helper.make_attribute(change.name, change.value))
    return model


def prove_sharing(shared: onnx.ModelProto, width_graph: onnx.ModelProto, recipe: Recipe) -> dict[str, int]:
    """Check that every non-BN weight of the width's own export IS the prefix slice of the shared
    tensor (bit for bit), and that the recipe rebuilds the width's graph exactly."""
    shared_arrays = {t.name: numpy_helper.to_array(t) for t in shared.graph.initializer}
    checked = 0
    for tensor in width_graph.graph.initializer:
        if tensor.name in recipe.switchable_bn:
            continue
        own = numpy_helper.to_array(tensor)
        if not np.array_equal(own, prefix_slice(shared_arrays[tensor.name], list(own.shape))):
            raise RecipeError(f"{tensor.name!r} of this width is not the prefix slice of the shared tensor")
        checked += 1
    rebuilt = apply_recipe(shared, recipe)
    rebuilt_arrays = {t.name: numpy_helper.to_array(t) for t in rebuilt.graph.initializer}
    for tensor in width_graph.graph.initializer:
        own = numpy_helper.to_array(tensor)
        if own.shape != rebuilt_arrays[tensor.name].shape or not np.array_equal(own, rebuilt_arrays[tensor.name]):
            raise RecipeError(f"rebuilding {tensor.name!r} from the shared graph does not give the exported tensor")
    if [n.SerializeToString() for n in rebuilt.graph.node] != [n.SerializeToString() for n in width_graph.graph.node]:
        raise RecipeError("rebuilt nodes differ from the exported width's nodes")
    return {"shared_tensors_checked": checked, "switchable_bn_tensors": len(recipe.switchable_bn)}
