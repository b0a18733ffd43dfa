"""Which objects does the detector lose? Objects grouped by size and by how other items cover them.

Items are pasted in order (a scene's box order), so a later item drawn across an earlier one hides
part of it. For each ground-truth object this groups by size (naming.SIZE_BUCKETS) and by overlap:
``free`` (no other box touches it), ``on top`` (other boxes touch it, but later items cover at most 20%
of its box), ``under 20-50%`` and ``under >50%`` (the share of its box covered by items pasted after
it). Per group it reports the share of objects, how often the detector's decoded output holds a box
of the right class at IoU >= 0.5, how often that box outscores every other-class box there, and the
crop classifier's top-1 (the yardstick of research.naming_ceiling) on the same objects.

    python3 -m research.crowding --checkpoint runs/fashion-detector-branch/final.pt \\
      --classifier runs/naming-ceiling/final.pt --out ../docs/detection/crowding.json
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
from slimmable.detection import Detections, box_iou
from slimmable.detector_eval import detect_all, recorded_class_score
from slimmable.naming import SIZE_BUCKETS, classifier_scores, longest_sides, save_report
from slimmable.scenes import TEST_SEED, Scene, box_intersection, make_scenes

from .crops import crop_split

OVERLAPS = ("free", "on top", "under 20-50%", "under >50%")


def covered_share(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per box: the share of its area inside later boxes (summed over them), and whether any other box touches it."""
    inter = box_intersection(boxes, boxes)
    inter.fill_diagonal_(0)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(1)
    later = torch.triu(torch.ones_like(inter), diagonal=1)  # [i, j] = 1 when j was pasted after i
    return (inter * later).sum(1) / area, inter.sum(1) > 0


def overlap_groups(scene: Scene) -> list[str]:
    under, touched = covered_share(scene.boxes)
    groups: list[str] = []
    for share, touches in zip(under.tolist(), touched.tolist()):
        if share > 0.5:
            groups.append("under >50%")
        elif share > 0.2:
            groups.append("under 20-50%")
        else:
            groups.append("on top" if touches else "free")
    return groups


def size_group(side: float) -> str:
    return next(name for name, (lo, hi) in SIZE_BUCKETS.items() if lo <= side < hi)


def detector_outcomes(detections: Detections, scene: Scene) -> list[tuple[bool, bool]]:
    """Per object: (a right-class box at IoU >= 0.5 exists, and it outscores every other-class box there)."""
    outcomes: list[tuple[bool, bool]] = []
    for box, label in zip(scene.boxes, scene.labels.tolist()):
        if len(detections.scores) == 0:
            outcomes.append((False, False))
            continue
        near = box_iou(box[None], detections.boxes)[0] >= 0.5
        right = near & (detections.labels == label)
        best_right = float(detections.scores[right].max()) if right.any() else 0.0
        best_other = float(detections.scores[near & ~right].max()) if (near & ~right).any() else 0.0
        outcomes.append((bool(right.any()), bool(right.any()) and best_right > best_other))
    return outcomes


def crowding_report(scenes: list[Scene], detections: list[Detections], classifier_top1: list[torch.Tensor]) -> dict[str, dict[str, float]]:
    rows: dict[str, list[tuple[bool, bool, bool]]] = {}
    for scene, found, named in zip(scenes, detections, classifier_top1):
        sizes = [size_group(s) for s in longest_sides(scene).tolist()]
        for size, overlap, outcome, right in zip(sizes, overlap_groups(scene), detector_outcomes(found, scene), named.tolist()):
            rows.setdefault(f"{size}, {overlap}", []).append((*outcome, bool(right)))
    total = sum(len(r) for r in rows.values())
    report: dict[str, dict[str, float]] = {}
    for size in SIZE_BUCKETS:
        for overlap in OVERLAPS:
            group = rows.get(f"{size}, {overlap}", [])
            if group:
                n = len(group)
                report[f"{size}, {overlap}"] = {
                    "objects": n, "share": round(n / total, 4),
                    "right_class_box": round(sum(g[0] for g in group) / n, 4),
                    "right_class_outscores_others": round(sum(g[1] for g in group) / n, 4),
                    "crop_classifier_top1": round(sum(g[2] for g in group) / n, 4),
                }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="the detector (a train_detector or train_naming_probe final.pt, or a bundle folder)")
    parser.add_argument("--classifier", type=Path, required=True, help="the crop classifier (research.naming_ceiling's final.pt)")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--scenes", type=int, default=2000, help="the first test scenes (seed 1)")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    detector, meta = load_model(args.checkpoint)
    classifier, _ = load_model(args.classifier)
    print(f"generating {args.scenes} test scenes ...", flush=True)
    scenes = make_scenes(load_split("test"), TEST_SEED, args.scenes)
    detections = detect_all(detector, scenes, args.width, len(LABELS), recorded_class_score(meta))
    print("scoring the crops ...", flush=True)
    named = [scores.argmax(1) == scene.labels for scores, scene in zip(classifier_scores(classifier, crop_split(scenes), scenes), scenes)]
    report = {"width": args.width, "scenes": args.scenes, "groups": crowding_report(scenes, detections, named)}
    print(json.dumps(report, indent=2), flush=True)
    save_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
