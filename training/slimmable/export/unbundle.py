"""A bundle back into a slimmable PyTorch model: the inverse of write_bundle.

The bundle holds every trained number (shared.onnx the full-width weights and BN, switchable_bn.bin
each narrower width's BN) and the manifest the training recipe, so the model can be rebuilt without
the training checkpoint, which is not committed. The evaluators and `--init-from` then measure or
continue exactly what ships. The rebuilt model must reproduce the bundle's golden outputs at every
width, or loading fails.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from ..layers import SwitchableBatchNorm2d, set_width
from ..models import MODELS, build_model, kwargs_from_recipe
from .bundle import normalize_pixels
from .plain import BN_TENSORS
from .tensor_file import read_tensor

MANIFEST = "manifest.json"


class BundleLoadError(ValueError):
    pass


def is_bundle(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def registry_name(architecture: str) -> str:
    """The registry name of the exported class (the manifest records the class name)."""
    for name, constructor in MODELS.items():
        if getattr(constructor, "__name__", "") == architecture:
            return name
    raise BundleLoadError(f"architecture {architecture!r} is not one this package builds; known: {sorted(MODELS)}")


def bundle_state(model: nn.Module, manifest: Mapping[str, object], folder: Path) -> dict[str, torch.Tensor]:
    """The model's state dict filled from the bundle's files."""
    graph = onnx.load(str(folder / str(manifest["graph"])))
    shared = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.graph.initializer}
    bn_blob = (folder / str(manifest["switchable_bn"]["file"])).read_bytes()  # type: ignore[index]
    widths = manifest["widths"]
    assert isinstance(widths, list)
    state = dict(model.state_dict())
    filled: set[str] = set()
    for prefix, module in model.named_modules():
        if not isinstance(module, SwitchableBatchNorm2d):
            continue
        widest = len(widths) - 1
        for index, entry in enumerate(widths):
            for position, tensor in enumerate(BN_TENSORS):
                key = f"{prefix}.bn.{index}.{tensor}"
                if index == widest:
                    value = shared.get(f"{prefix}.{tensor}")
                else:
                    layer = entry["rebuild"]["switchable_bn"].get(prefix)
                    value = None if layer is None else torch.from_numpy(np.frombuffer(
                        bn_blob, "<f4", int(layer["channels"]), int(layer["offset"]) + position * 4 * int(layer["channels"])).copy())
                if value is None or value.shape != state[key].shape:
                    raise BundleLoadError(f"{folder}: no {tensor} of the right size for BN {prefix!r} at width {entry['width']}")
                state[key] = value
                filled.add(key)
    for key in state:
        if key in filled:
            continue
        if key in shared:
            if shared[key].shape != state[key].shape:
                raise BundleLoadError(f"{folder}: {key} is {tuple(shared[key].shape)} in the graph, {tuple(state[key].shape)} in the model")
            state[key] = shared[key]
        elif not key.endswith("num_batches_tracked"):
            raise BundleLoadError(f"{folder}: the graph has no initializer {key!r}")
    return state


def check_golden(model: nn.Module, manifest: Mapping[str, object], folder: Path) -> float:
    """The largest difference from the bundle's golden outputs over all widths; raises past tolerance."""
    golden = manifest["golden"]
    assert isinstance(golden, dict)
    blob = (folder / str(golden["file"])).read_bytes()
    pixels = torch.from_numpy(read_tensor(blob, golden["pixels"]).copy())
    inputs = normalize_pixels(pixels, manifest["preprocess"])  # type: ignore[arg-type]
    worst = 0.0
    for width, entry in golden["outputs"].items():
        set_width(model, float(width))
        with torch.no_grad():
            ours = model(inputs).numpy().reshape(-1)[:: int(golden.get("output_stride", 1))]
        worst = max(worst, float(np.abs(ours - read_tensor(blob, entry)).max()))
    if worst > float(golden["tolerance"]):
        raise BundleLoadError(f"{folder}: the rebuilt model misses the golden outputs by {worst:.2e} (tolerance {golden['tolerance']})")
    return worst


def load_bundle(folder: Path) -> tuple[nn.Module, dict[str, object]]:
    """The bundle's slimmable model (eval mode, widest width) and checkpoint-style metadata
    (``arch``, ``widths``, ``config`` = the training recipe, the measured quality, ``bundle``,
    ``golden_max_error``)."""
    manifest = json.loads((folder / MANIFEST).read_text())
    arch = registry_name(str(manifest["architecture"]))
    recipe = manifest.get("training") if isinstance(manifest.get("training"), dict) else {}
    widths = [float(entry["width"]) for entry in manifest["widths"]]
    model = build_model(arch, **{**kwargs_from_recipe(arch, recipe), "widths": widths})
    model.load_state_dict(bundle_state(model, manifest, folder))
    model.eval()
    error = check_golden(model, manifest, folder)
    set_width(model, widths[-1])
    meta: dict[str, object] = {"arch": arch, "widths": widths, "config": recipe, "bundle": str(folder), "golden_max_error": error,
                               **measured_metrics(manifest)}
    if manifest.get("earlier_training_stages"):
        meta["earlier_stages"] = manifest["earlier_training_stages"]
    return model, meta


def measured_metrics(manifest: Mapping[str, object]) -> dict[str, object]:
    """The per-width quality the manifest records, under the keys a training checkpoint uses, so a
    bundle re-exports like its checkpoint: ``test_accuracy`` (classifiers) or ``test_map`` (detectors,
    the detector's own mAP when the manifest also holds a namer's)."""
    widths = manifest["widths"]
    assert isinstance(widths, list)
    if manifest.get("metric") == "top1":
        return {"test_accuracy": {float(w["width"]): float(w["top1"]) for w in widths}}
    own = "_detector" if all("map50_detector" in w for w in widths) else ""
    return {"test_map": {float(w["width"]): {"map50": float(w[f"map50{own}"]), "map": float(w[f"map{own}"])} for w in widths}}
