"""Write a slimmable bundle (see docs/bundle-format.md) from a trained slimmable model."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from torch import nn

from ..flops import count_width
from ..layers import set_width
from .onnx_graph import INPUT_NAME, OPSET, export_width
from .plain import BN_TENSORS, bn_tensor_names, plain_copy
from .rebuild import derive_recipe, prove_sharing
from .tensor_file import TensorFileWriter

FORMAT = "slimmable-bundle"
FORMAT_VERSION = 1
GRAPH_FILE = "shared.onnx"
BN_FILE = "switchable_bn.bin"
GOLDEN_FILE = "golden.bin"
MANIFEST_FILE = "manifest.json"
SIZE_BOUND = 1.05  # whole bundle vs the full-width ONNX model alone
GOLDEN_BUDGET = 16 * 1024  # bytes of golden outputs before they are subsampled


@dataclass
class BundleSpec:
    name: str
    task: str  # "classification" or "detection"
    labels: list[str]
    preprocess: dict[str, object]  # resize mode, colour, mean/std: see docs/bundle-format.md
    output: dict[str, object]  # output name, kind and decoding parameters
    accuracy: dict[float, float]  # measured per width on the test split
    metric: str = "top1"
    golden_pixels: torch.Tensor | None = None  # N x C x H x W uint8 at the model's input size
    extra: dict[str, object] = field(default_factory=dict)  # e.g. training recipe, data set
    width_metrics: dict[float, dict[str, float | bool]] = field(default_factory=dict)  # more measured metrics (and flags) per width


def write_bundle(model: nn.Module, spec: BundleSpec, out_dir: Path, log: Callable[[str], None] = print) -> dict[str, object]:
    widths: list[float] = sorted(getattr(model, "widths"))
    missing = [w for w in widths if w not in spec.accuracy]
    if missing:
        raise ValueError(f"no measured {spec.metric} for widths {missing}")
    channels, size = int(getattr(model, "in_channels")), int(getattr(model, "input_size"))
    output_name = str(spec.output["name"])
    input_shape = (channels, size, size)
    model = model.cpu().eval()
    widest = widths[-1]
    bn_names = set(bn_tensor_names(model))

    shared = export_width(plain_copy(model, widest), input_shape, output_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (GRAPH_FILE, BN_FILE, GOLDEN_FILE, MANIFEST_FILE):
        (out_dir / stale).unlink(missing_ok=True)

    bn_file, golden_file = TensorFileWriter(), TensorFileWriter()
    pixels = spec.golden_pixels if spec.golden_pixels is not None else random_pixels(1, input_shape)
    golden = normalize_pixels(pixels, spec.preprocess)
    stride = golden_stride(model, golden, len(widths), bn_budget=GOLDEN_BUDGET)
    golden_entry: dict[str, object] = {
        "file": GOLDEN_FILE,
        "pixels": golden_file.add(pixels.numpy(), "uint8"),
        "outputs": {},
        "output_stride": stride,
        "tolerance": 1e-4,
    }
    width_entries: list[dict[str, object]] = []
    for width in widths:
        own = export_width(plain_copy(model, width), input_shape, output_name)
        recipe = derive_recipe(shared, own, bn_names)
        proof = prove_sharing(shared, own, recipe)
        macs, params = count_width(model, width)
        log(
            f"width {width:g}: {macs / 1e6:.2f} MMACs, {params} params, {spec.metric} {spec.accuracy[width]:.4f}; "
            f"sharing proven for {proof['shared_tensors_checked']} tensors, {len(recipe.slice)} sliced, "
            f"{len(recipe.attributes)} attribute changes"
        )
        # The widest width's BN tensors already sit in the shared graph: store them once, there.
        bn_entries = {} if width == widest else add_switchable_bn(bn_file, recipe.switchable_bn)
        set_width(model, width)
        with torch.no_grad():
            outputs = model(golden)
        golden_entry["output_shape"] = list(outputs.shape)
        golden_entry["outputs"][f"{width:g}"] = golden_file.add(outputs.numpy().reshape(-1)[::stride])  # type: ignore[index]
        width_entries.append(
            {
                "width": width,
                spec.metric: round(spec.accuracy[width], 6),
                **{k: v if isinstance(v, bool) else round(v, 6) for k, v in spec.width_metrics.get(width, {}).items()},
                "mflops": round(macs / 1e6, 4),
                "params": params,
                "rebuild": {
                    "slice": recipe.slice,
                    "switchable_bn": bn_entries,
                    "attributes": [{"node": c.node, "name": c.name, "value": c.value} for c in recipe.attributes],
                },
                "sharing_proof": proof,
            }
        )
    set_width(model, widest)

    onnx.save(shared, str(out_dir / GRAPH_FILE))
    bn_bytes = bn_file.write(out_dir / BN_FILE)
    golden_file.write(out_dir / GOLDEN_FILE)
    manifest: dict[str, object] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": spec.name,
        "task": spec.task,
        "architecture": type(model).__name__,
        "metric": spec.metric,
        "graph": GRAPH_FILE,
        "opset": OPSET,
        "switchable_bn": {"file": BN_FILE, "bytes": bn_bytes, "dtype": "float32", "byte_order": "little"},
        "input": {"name": INPUT_NAME, "shape": ["batch", channels, size, size], "dtype": "float32", "layout": "NCHW"},
        "preprocess": spec.preprocess,
        "output": spec.output,
        "labels": spec.labels,
        "widths": width_entries,
        "golden": golden_entry,
        **spec.extra,
    }
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_text(to_json(manifest))
    check_size(out_dir)
    return manifest


def golden_stride(model: nn.Module, golden: torch.Tensor, num_widths: int, bn_budget: int) -> int:
    """Dense outputs (a detector's heatmaps) would dwarf the weights; keep every k-th value, with k
    odd so it walks through all channels and positions of the output planes."""
    with torch.no_grad():
        size = model(golden).numel() * num_widths * 4
    stride = max(1, math.ceil(size / bn_budget))
    return stride if stride % 2 == 1 else stride + 1


def add_switchable_bn(writer: TensorFileWriter, tensors: dict[str, np.ndarray]) -> dict[str, object]:
    """Store one width's BN layers; each layer is its four tensors back to back (BN_TENSORS order),
    so the manifest needs one entry per layer: ``{"offset": bytes, "channels": C}``."""
    entries: dict[str, object] = {}
    layers = sorted({name.rsplit(".", 1)[0] for name in tensors})
    for layer in layers:
        parts = [tensors[f"{layer}.{t}"] for t in BN_TENSORS]
        entry = writer.add(np.concatenate(parts))
        entries[layer] = {"offset": entry["offset"], "channels": int(parts[0].shape[0])}
    return entries


def random_pixels(count: int, shape: tuple[int, int, int], seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (count, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def normalize_pixels(pixels: torch.Tensor, preprocess: dict[str, object]) -> torch.Tensor:
    """uint8 pixels -> model input, exactly as the manifest's preprocessing says: x * scale, then
    (x - mean) / std per channel."""
    scale = float(preprocess["scale"])  # type: ignore[arg-type]
    mean = torch.tensor(preprocess["mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(preprocess["std"], dtype=torch.float32).view(1, -1, 1, 1)
    return (pixels.float() * scale - mean) / std


def to_json(value: object, indent: str = "") -> str:
    """Indented JSON in which every innermost object or list (shapes, tensor entries) sits on one
    line: readable, yet small enough for the bundle's size bound."""
    inner = indent + " "
    if isinstance(value, dict) and value and any(isinstance(v, (dict, list)) for v in value.values()):
        items = [f"{inner}{json.dumps(k)}: {to_json(v, inner).strip()}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}" + ("" if indent else "\n")
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        items = [f"{inner}{to_json(v, inner).strip()}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]" + ("" if indent else "\n")
    return json.dumps(value, separators=(", ", ": "))


def bundle_size(out_dir: Path) -> tuple[int, int]:
    """(bytes of every bundle file, bytes of the full-width ONNX graph alone)."""
    total = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    return total, (out_dir / GRAPH_FILE).stat().st_size


def check_size(out_dir: Path) -> float:
    total, graph = bundle_size(out_dir)
    ratio = total / graph
    if ratio > SIZE_BOUND:
        raise ValueError(f"bundle is {ratio:.3f}x the full-width graph ({total} vs {graph} bytes), over {SIZE_BOUND}x")
    return ratio
