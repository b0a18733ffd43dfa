"""What a bundle's manifest says about each kind of model: preprocessing, output and its decoding,
measured quality and golden inputs (export/bundle.py writes it). The export CLIs build their
``BundleSpec`` from these."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import data
from ..detection import STRIDE
from ..detector_eval import MEAN as SCENE_MEAN
from ..detector_eval import STD as SCENE_STD
from ..detector_eval import recorded_class_score
from ..namer import CROP_MARGIN, CROP_SIZE, CROP_SUPERSAMPLE
from ..scenes import TEST_SEED, make_scenes
from .bundle import BundleSpec, random_pixels

LOGITS_OUTPUT: dict[str, object] = {"name": "logits", "kind": "logits", "activation": "softmax"}


def fashion_golden_pixels(count: int = 4) -> torch.Tensor:
    """The first test images plus one seeded random image (noise exercises every channel)."""
    images = data.load_split("test").images[:count]
    return torch.cat([images, random_pixels(1, tuple(images.shape[1:]))])


def imagenet_preprocess() -> dict[str, object]:
    return {"resize": "cover", "colorspace": "rgb", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def fashion_preprocess() -> dict[str, object]:
    # Fashion-MNIST items are light on black: letterbox on black so the aspect ratio survives.
    return {"resize": "contain", "background": [0], "colorspace": "grayscale", "scale": 1 / 255, "mean": [data.MEAN], "std": [data.STD]}


def scene_preprocess() -> dict[str, object]:
    """Fashion scenes, as the detector is trained on them (detector_eval.to_input)."""
    return {"resize": "contain", "background": [0], "colorspace": "grayscale", "scale": 1 / 255, "mean": [SCENE_MEAN], "std": [SCENE_STD]}


def classifier_spec(name: str, labels: list[str], accuracy: dict[float, float], extra: dict[str, object], fashion: bool) -> BundleSpec:
    """Classification bundles: softmax logits; Fashion-MNIST models (``fashion``) letterbox greyscale
    and carry golden test images, the others take ImageNet's RGB preprocessing."""
    return BundleSpec(
        name=name,
        task="classification",
        labels=labels,
        preprocess=fashion_preprocess() if fashion else imagenet_preprocess(),
        output=LOGITS_OUTPUT,
        accuracy=accuracy,
        golden_pixels=fashion_golden_pixels() if fashion else None,
        extra=extra,
    )


def namer_entry(namer: str, cascade: Path) -> tuple[dict[str, object], dict[float, dict[str, float]], dict[float, dict[str, float]]]:
    """The manifest's output field for naming (``namer``), and per width the mAP with naming (and
    ``test_time_flip`` where the pair was measured with flips) and without, from the report of
    slimmable.cascade (which measured this detector with that namer)."""
    report = json.loads(cascade.read_text())
    if "detector_power" not in report:
        raise SystemExit(f"{cascade} holds no detector_power: measure the pair again with python3 -m slimmable.cascade")
    widths = {float(w): r for w, r in report["widths"].items()}
    entry = {"model": namer, "crop": {"size": CROP_SIZE, "margin": CROP_MARGIN, "supersample": CROP_SUPERSAMPLE},
             "detector_power": float(report["detector_power"]), "candidate_threshold": float(report["score_threshold"])}
    named = {w: {**r["named"], **({"test_time_flip": True} if r.get("test_time_flip") else {})} for w, r in widths.items()}
    return {"namer": entry}, named, {w: r["detector"] for w, r in widths.items()}


def detector_spec(model: torch.nn.Module, meta: dict[str, object], name: str, namer: str | None = None, cascade: Path | None = None) -> BundleSpec:
    """Detection bundles: CenterNet-style output and its decoding parameters; mAP measured by the
    training run on the Fashion-scenes test set, or with a namer (``namer`` bundle name, ``cascade``
    its slimmable.cascade report) the mAP of the pair, the detector's own kept beside it."""
    measured = {float(w): r for w, r in dict(meta.get("test_map") or {}).items()}  # type: ignore[arg-type]
    if not measured:
        raise SystemExit("the detector checkpoint holds no measured mAP (test_map); export final.pt of a finished run")
    naming: dict[str, object] = {}
    width_metrics = {w: {"map": float(r["map"])} for w, r in measured.items()}
    if namer and cascade:
        naming, named, alone = namer_entry(namer, cascade)
        if set(named) != set(measured) or any(abs(alone[w]["map50"] - float(measured[w]["map50"])) > 1e-4 for w in measured):
            raise SystemExit(f"{cascade} does not measure this detector (its detector-alone mAP differs from the checkpoint's)")
        measured = named
        width_metrics = {w: {"map": float(named[w]["map"]), "map50_detector": float(alone[w]["map50"]), "map_detector": float(alone[w]["map"]),
                             **({"test_time_flip": True} if named[w].get("test_time_flip") else {})} for w in named}
    size = int(getattr(model, "input_size"))
    scenes = make_scenes(data.load_split("test"), TEST_SEED, 1, size=size)
    num_classes = int(getattr(model, "num_classes"))
    return BundleSpec(
        name=name,
        task="detection",
        labels=list(data.LABELS),
        preprocess=scene_preprocess(),
        output={
            "name": "output", "kind": "centernet", "stride": STRIDE, "num_classes": num_classes,
            "channels": {"heatmap_logits": [0, num_classes], "size": [num_classes, num_classes + 2], "offset": [num_classes + 2, num_classes + 4]},
            "class_score": recorded_class_score(meta),  # the decoding its mAP was measured with
            "score_threshold": 0.3, "iou_threshold": 0.5, "max_detections": 100, **naming,
        },
        accuracy={w: float(r["map50"]) for w, r in measured.items()},
        metric="map50",
        width_metrics=width_metrics,
        golden_pixels=torch.stack([s.image for s in scenes]),
        # a run started from another (--init-from) carries the earlier runs' recipes: the bundle names them all
        extra={"training": meta.get("config", {}), **({"earlier_training_stages": meta["earlier_stages"]} if meta.get("earlier_stages") else {}),
               "test_set": "Fashion scenes, test split, seed 1, 2000 scenes"},
    )
