"""Helpers of the tests that write bundles and rebuild their widths (library and research tests)."""
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from slimmable.export.bundle import BundleSpec, write_bundle
from slimmable.export.onnx_graph import export_width
from slimmable.export.plain import plain_copy

FASHION_PREPROCESS = {"resize": "contain", "background": [0], "colorspace": "grayscale", "scale": 1 / 255, "mean": [0.286], "std": [0.353]}


def randomise_bn(model: torch.nn.Module) -> None:
    """Fresh BNs are all ones/zeros; give every width distinct statistics so mix-ups show."""
    generator = torch.Generator().manual_seed(1)
    for name, buffer in list(model.named_buffers()) + list(model.named_parameters()):
        if ".bn." in name and buffer.dtype.is_floating_point:
            buffer.data = torch.rand(buffer.shape, generator=generator) + 0.5


def rebuild_from_files(bundle: Path, manifest: dict, width: float) -> onnx.ModelProto:
    """Rebuild a width from the files alone, following docs/bundle-format.md (as the server does)."""
    model = onnx.load(str(bundle / manifest["graph"]))
    entry = next(e for e in manifest["widths"] if e["width"] == width)
    blob = (bundle / manifest["switchable_bn"]["file"]).read_bytes()
    replacements: dict[str, np.ndarray] = {}
    for layer, bn in entry["rebuild"]["switchable_bn"].items():
        flat = np.frombuffer(blob, "<f4", 4 * bn["channels"], bn["offset"]).reshape(4, bn["channels"])
        for i, tensor in enumerate(("weight", "bias", "running_mean", "running_var")):
            replacements[f"{layer}.{tensor}"] = flat[i]
    for i, tensor in enumerate(model.graph.initializer):
        array = numpy_helper.to_array(tensor)
        if tensor.name in replacements:
            array = replacements[tensor.name]
        elif tensor.name in entry["rebuild"]["slice"]:
            array = array[tuple(slice(0, d) for d in entry["rebuild"]["slice"][tensor.name])]
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array), tensor.name))
    nodes = {n.name: n for n in model.graph.node}
    for change in entry["rebuild"]["attributes"]:
        for attr in nodes[change["node"]].attribute:
            if attr.name == change["name"]:
                attr.i = change["value"]
    return model


def assert_detector_widths_rebuild_exactly(model: torch.nn.Module, folder: Path) -> None:
    """Export ``model`` (a detector on 32x32 inputs) to ``folder``; every width rebuilt from the
    files must hold the tensors of that width's own export, bit for bit."""
    spec = BundleSpec(
        name="d", task="detection", labels=[str(i) for i in range(10)], preprocess=FASHION_PREPROCESS,
        output={"name": "output", "kind": "centernet"}, accuracy={0.25: 0.7, 0.5: 0.8, 0.75: 0.85, 1.0: 0.9},
    )
    manifest = write_bundle(model, spec, folder, log=lambda _: None)
    for entry in manifest["widths"]:
        own = export_width(plain_copy(model, entry["width"]), (1, 32, 32), "output")
        rebuilt = rebuild_from_files(folder, manifest, entry["width"])
        own_tensors = {t.name: numpy_helper.to_array(t) for t in own.graph.initializer}
        for tensor in rebuilt.graph.initializer:
            assert np.array_equal(numpy_helper.to_array(tensor), own_tensors[tensor.name]), (entry["width"], tensor.name)
