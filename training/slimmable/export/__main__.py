"""Export a slimmable checkpoint to a bundle.

    python3 -m slimmable.export --checkpoint runs/fashion-classifier/final.pt --out ../models/fashion-classifier

Reference-style checkpoints (e.g. the published S-MobileNetV2) need --arch and --widths, and the
accuracy per width with --accuracy (the exporter cannot evaluate ImageNet here).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from .. import data
from ..checkpoint import load_model
from ..train import evaluate
from ..distributed import Context
from .bundle import BundleSpec, bundle_size, random_pixels, write_bundle


def parse_accuracy(items: Sequence[str]) -> dict[float, float]:
    result: dict[float, float] = {}
    for item in items:
        width, _, value = item.partition("=")
        try:
            result[float(width)] = float(value)
        except ValueError:
            raise SystemExit(f"--accuracy expects WIDTH=ACCURACY pairs such as 1.0=0.712, got {item!r}")
    return result


def fashion_golden_pixels(count: int = 4) -> torch.Tensor:
    """The first test images plus one seeded random image (noise exercises every channel)."""
    images = data.load_split("test").images[:count]
    return torch.cat([images, random_pixels(1, tuple(images.shape[1:]))])


LOGITS_OUTPUT: dict[str, object] = {"name": "logits", "kind": "logits", "activation": "softmax"}


def imagenet_preprocess() -> dict[str, object]:
    return {"resize": "cover", "colorspace": "rgb", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def fashion_preprocess() -> dict[str, object]:
    # Fashion-MNIST items are light on black: letterbox on black so the aspect ratio survives.
    return {"resize": "contain", "background": [0], "colorspace": "grayscale", "scale": 1 / 255, "mean": [data.MEAN], "std": [data.STD]}


def namer_entry(namer: str, cascade: Path) -> tuple[dict[str, object], dict[float, dict[str, float]], dict[float, dict[str, float]]]:
    """The manifest's output field for naming (``namer``), and per width the mAP with naming (and
    ``test_time_flip`` where the pair was measured with flips) and without, from the report of
    slimmable.cascade (which measured this detector with that namer)."""
    from ..namer import CROP_MARGIN, CROP_SIZE, CROP_SUPERSAMPLE

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
    from ..detection import STRIDE
    from ..scenes import make_scenes
    from ..train_detector import MEAN, STD, TEST_SEED, recorded_class_score

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
        preprocess={"resize": "contain", "background": [0], "colorspace": "grayscale", "scale": 1 / 255, "mean": [MEAN], "std": [STD]},
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to (re)write")
    parser.add_argument("--name", help="model name served by the API (default: the folder name)")
    parser.add_argument("--arch", help="architecture, for checkpoints that do not record it")
    parser.add_argument("--widths", type=float, nargs="+", help="width list, for checkpoints that do not record it")
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--in-channels", type=int)
    parser.add_argument("--num-classes", type=int)
    parser.add_argument("--accuracy", nargs="+", default=[], help="measured top-1 per width: 1.0=0.705 0.75=0.689 ...")
    parser.add_argument("--labels", type=Path, help="text file, one label per line (default: Fashion-MNIST's)")
    parser.add_argument("--evaluate", action="store_true", help="re-measure accuracy on the Fashion-MNIST test split")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--namer", help="detectors: the bundle name of the scene namer that names their boxes (needs --cascade)")
    parser.add_argument("--cascade", type=Path, help="detectors: slimmable.cascade's report of this detector with that namer (the mAP the bundle records)")
    args = parser.parse_args(argv)

    model_kwargs = {k: v for k, v in (("input_size", args.input_size), ("in_channels", args.in_channels), ("num_classes", args.num_classes)) if v}
    print(f"loading {args.checkpoint}", flush=True)
    model, meta = load_model(args.checkpoint, args.arch, args.widths, **model_kwargs)
    widths: list[float] = sorted(getattr(model, "widths"))
    is_fashion = (int(getattr(model, "in_channels")), int(getattr(model, "input_size")), int(getattr(model, "num_classes"))) == (1, 28, 10)

    accuracy = {float(w): float(a) for w, a in dict(meta.get("test_accuracy") or {}).items()}  # type: ignore[arg-type]
    accuracy.update(parse_accuracy(args.accuracy))
    if args.evaluate or (is_fashion and not accuracy):
        if args.data_dir:
            import os

            os.environ[data.DATA_DIR_ENV] = args.data_dir
        print("measuring top-1 on the Fashion-MNIST test split ...", flush=True)
        accuracy = evaluate(model, data.load_split("test"), widths, Context())
    if args.labels:
        labels = [line.strip() for line in args.labels.read_text().splitlines() if line.strip()]
    elif is_fashion:
        labels = list(data.LABELS)
    else:
        labels = [f"class {i}" for i in range(int(getattr(model, "num_classes")))]
    if str(meta.get("arch")) == "slimmable_detector" or args.arch == "slimmable_detector":
        if bool(args.namer) != bool(args.cascade):
            parser.error("--namer and --cascade go together: the namer's name and the report that measured it with this detector")
        spec = detector_spec(model, meta, args.name or args.out.name, args.namer, args.cascade)
    else:
        spec = BundleSpec(
        name=args.name or args.out.name,
        task="classification",
        labels=labels,
        preprocess=fashion_preprocess() if is_fashion else imagenet_preprocess(),
        output=LOGITS_OUTPUT,
        accuracy=accuracy,
        golden_pixels=fashion_golden_pixels() if is_fashion else None,
        extra={"training": meta.get("config", {}), "checkpoint": args.checkpoint.name},
        )
    write_bundle(model, spec, args.out, log=lambda line: print(line, flush=True))
    total, graph = bundle_size(args.out)
    print(f"wrote {args.out}: {total} bytes, {total / graph:.3f}x the full-width graph ({graph} bytes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
