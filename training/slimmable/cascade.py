"""The detector and the scene namer together, as POST /detect runs them: mAP per width.

At each width the detector's decoded boxes (detector score above the threshold, 0.05 as in every
mAP here) are cropped (slimmable.namer.crop_boxes), named by the namer at the same width, and each
box is scored by detector score x the namer's probability of the box's class. The threshold applies
to the detector's score, before naming: the namer re-ranks the detector's boxes and never adds,
moves or drops one, so /detect's scoreThreshold selects the same boxes with or without it.
(Thresholding the named score instead would drop the low tail that mAP counts: 0.847 against 0.883
on 500 scenes with the crop yardstick as namer.)

    python3 -m slimmable.cascade --detector runs/fashion-detector-branch/final.pt \\
      --namer runs/fashion-scene-namer/final.pt --out ../docs/detection/cascade.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .checkpoint import load_model
from .data import LABELS, load_split, normalize
from .detection import Detections, evaluate_map
from .layers import set_width
from .namer import crop_boxes
from .naming import save_report
from .scenes import Scene, make_scenes
from .train_detector import TEST_SEED, detect_all, recorded_class_score


def namer_probabilities(namer: nn.Module, scene: Scene, boxes: torch.Tensor, flip: bool = False) -> torch.Tensor:
    """The namer's class probabilities for each box's crop (with ``flip``, averaged with the mirrored crop's)."""
    crops = normalize(crop_boxes(scene.image, boxes))
    with torch.no_grad():
        p = torch.softmax(namer(crops), 1)
        return (p + torch.softmax(namer(crops.flip(-1)), 1)) / 2 if flip else p


def name_detections(namer: nn.Module, scene: Scene, detections: Detections) -> Detections:
    """Re-score one scene's detections by the namer's probability of each box's class, best first."""
    if len(detections.scores) == 0:
        return detections
    probabilities = namer_probabilities(namer, scene, detections.boxes)
    scores = detections.scores * probabilities[torch.arange(len(detections.labels)), detections.labels]
    keep = scores.argsort(descending=True)
    return Detections(detections.boxes[keep], scores[keep], detections.labels[keep])


def cascade_map(detector: nn.Module, namer: nn.Module, scenes: list[Scene], width: float, class_score: str) -> dict[str, dict[str, float]]:
    """mAP of the detector alone and of the cascade at one width."""
    detections = detect_all(detector, scenes, width, len(LABELS), class_score)
    namer.eval()
    set_width(namer, width)
    named = [name_detections(namer, s, d) for s, d in zip(scenes, detections)]
    return {"detector": evaluate_map(detections, scenes, len(LABELS)), "named": evaluate_map(named, scenes, len(LABELS))}


def pair_arguments(parser: argparse.ArgumentParser, scenes: int) -> None:
    """The options of the CLIs that evaluate a detector with its namer (this one, cascade_probes)."""
    parser.add_argument("--detector", type=Path, required=True, help="train_detector's final.pt")
    parser.add_argument("--namer", type=Path, required=True, help="slimmable.namer's final.pt")
    parser.add_argument("--scenes", type=int, default=scenes, help="the first test scenes (seed 1)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")


def load_pair(args: argparse.Namespace) -> tuple[nn.Module, dict[str, object], nn.Module, list[Scene]]:
    """The detector (and its checkpoint's metadata), the namer in eval mode, and the test scenes."""
    if args.threads:
        torch.set_num_threads(args.threads)
    detector, meta = load_model(args.detector)
    namer, _ = load_model(args.namer)
    namer.eval()
    print(f"generating {args.scenes} test scenes ...", flush=True)
    return detector, meta, namer, make_scenes(load_split("test"), TEST_SEED, args.scenes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pair_arguments(parser, scenes=2000)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    args = parser.parse_args(argv)
    detector, meta, namer, scenes = load_pair(args)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for width in args.widths:
        start = time.perf_counter()
        result = cascade_map(detector, namer, scenes, width, recorded_class_score(meta))
        results[f"{width:g}"] = {k: {m: round(v, 6) for m, v in r.items()} for k, r in result.items()}
        print(f"width {width:g}: detector mAP@0.5 {result['detector']['map50']:.4f} [.5:.95] {result['detector']['map']:.4f}; "
              f"named {result['named']['map50']:.4f} [.5:.95] {result['named']['map']:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    report = {"detector": str(args.detector), "namer": str(args.namer), "scenes": args.scenes, "score_threshold": 0.05, "widths": results}
    save_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
