"""Where a detector's mAP goes: per width, mAP@0.5 as trained (class-aware), the same with every
label merged into one class (finding the objects, whatever their class), and AP@0.5 per class.
A large gap between the first two means the boxes are fine and the classes are confused. The naming
section scores the class logits at each object's true centre (``centre_scores``, reported by
slimmable.naming): top-1 by object size, and the mAP@0.5 perfect boxes with that naming would reach.

    python3 -m research.diagnose_detector --checkpoint runs/fashion-detector/final.pt [--scenes 2000]

``--split train`` scores the first training scenes instead (the fixed set a first stage trains on):
set beside the test scenes, it shows how much a detector has memorised.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from slimmable.checkpoint import load_model
from slimmable.data import LABELS, load_split
from slimmable.detection import Detections, average_precision, centre_cell, decode, nms
from slimmable.detector_eval import raw_outputs, recorded_class_score
from slimmable.naming import naming_report, save_report
from slimmable.scenes import TEST_SEED, TRAIN_SEED, Scene, make_scenes


def centre_scores(output: torch.Tensor, scene: Scene, num_classes: int) -> torch.Tensor:
    """A detector's class scores for each object of a scene: the highest sigmoid heatmap value of each
    class in the 3x3 cells around the object's centre cell (where its peak may fall)."""
    heat = torch.sigmoid(output[:num_classes])
    grid_h, grid_w = heat.shape[1:]
    rows: list[torch.Tensor] = []
    for box in scene.boxes.tolist():
        px, py = centre_cell(box, grid_w, grid_h)
        region = heat[:, max(0, py - 1) : py + 2, max(0, px - 1) : px + 2]
        rows.append(region.reshape(num_classes, -1).max(1).values)
    return torch.stack(rows) if rows else torch.zeros(0, num_classes)


def merged(scene: Scene) -> Scene:
    return Scene(scene.image, scene.boxes, torch.zeros_like(scene.labels))


def class_agnostic(d: Detections) -> Detections:
    """One label for all, and NMS across classes (one box per object, whatever its class)."""
    labels = torch.zeros_like(d.labels)
    kept = nms(d.boxes, d.scores, labels, 0.5) if len(d.scores) else torch.zeros(0, dtype=torch.int64)
    return Detections(d.boxes[kept], d.scores[kept], labels[kept])


def class_ap(detections: list[Detections], scenes: list[Scene], cls: int) -> float:
    """AP@0.5 of one class: the other classes' boxes and labels are dropped."""
    only = [Detections(d.boxes[d.labels == cls], d.scores[d.labels == cls], torch.zeros(int((d.labels == cls).sum()), dtype=torch.int64)) for d in detections]
    truths = [Scene(s.image, s.boxes[s.labels == cls], torch.zeros(int((s.labels == cls).sum()), dtype=torch.int64)) for s in scenes]
    return average_precision(only, truths, 1, 0.5)


def diagnose(model: torch.nn.Module, scenes: list[Scene], widths: Sequence[float], num_classes: int,
             class_score: str = "heatmap") -> dict[str, dict[str, object]]:
    report: dict[str, dict[str, object]] = {}
    agnostic_truths = [merged(s) for s in scenes]
    for width in widths:
        outputs = raw_outputs(model, scenes, width)
        detections = [decode(o, num_classes, class_score=class_score) for o in outputs]
        agnostic = [class_agnostic(d) for d in detections]
        report[f"{width:g}"] = {
            "map50": round(average_precision(detections, scenes, num_classes, 0.5), 4),
            "map50_class_agnostic": round(average_precision(agnostic, agnostic_truths, 1, 0.5), 4),
            "ap50_per_class": {LABELS[c]: round(class_ap(detections, scenes, c), 4) for c in range(num_classes)},
            "naming": naming_report(scenes, [centre_scores(o, s, num_classes) for o, s in zip(outputs, scenes)], num_classes),
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--scenes", type=int, default=2000, help="how many scenes (the first of the split's seed)")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="test scenes (seed 1) or training scenes (seed 0)")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    model, meta = load_model(args.checkpoint)
    size = int(getattr(model, "input_size"))
    print(f"generating {args.scenes} {args.split} scenes ...", flush=True)
    scenes = make_scenes(load_split(args.split), TEST_SEED if args.split == "test" else TRAIN_SEED, args.scenes, size=size)
    report = diagnose(model, scenes, sorted(getattr(model, "widths")), int(getattr(model, "num_classes")), recorded_class_score(meta))
    for width, r in report.items():
        print(f"width {width}: mAP@0.5 {r['map50']:.4f}, class-agnostic {r['map50_class_agnostic']:.4f}", flush=True)
        print("  AP@0.5 per class: " + ", ".join(f"{k} {v:.3f}" for k, v in r["ap50_per_class"].items()), flush=True)  # type: ignore[union-attr]
        print(f"  naming at the true centres: {json.dumps(r['naming'])}", flush=True)
    save_report(args.out, dict(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
