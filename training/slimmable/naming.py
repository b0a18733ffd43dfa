"""Naming, apart from finding: how well class scores name the objects of Fashion scenes.

Scores here are per ground-truth object (one row of class scores each), from any source: a detector's
heatmap at the object's centre (diagnose_detector) or a classifier on the object's crop
(naming_ceiling). The report gives top-1 by object size and the mAP@0.5 a detector would reach with
PERFECT boxes and these class scores: every object answered once per class, on its true box. That
number is what naming alone allows; a real detector also loses what it fails to find.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from .detection import Detections, average_precision, centre_cell
from .scenes import Scene

# Longest side of the tight box, in pixels (items are drawn 16..64 px square).
SIZE_BUCKETS = {"small (<28 px)": (0, 28), "medium (28-43 px)": (28, 44), "large (>=44 px)": (44, 10_000)}


def longest_sides(scene: Scene) -> torch.Tensor:
    return (scene.boxes[:, 2:] - scene.boxes[:, :2]).max(1).values


def crop_objects(scene: Scene, size: int = 28, margin: int = 2) -> torch.Tensor:
    """Each object as a ``size`` x ``size`` uint8 crop: the square around its box centre whose side is
    the box's longest side plus ``margin`` px each way (zeros beyond the canvas), resized. The
    yardstick classifier and the crop teacher were trained on these crops, so they stay; the scene
    namer uses ``namer.crop_boxes``, whose arithmetic the server can reproduce exactly."""
    if len(scene.boxes) == 0:
        return torch.zeros(0, 1, size, size, dtype=torch.uint8)
    sides = [int(s) + 2 * margin for s in longest_sides(scene).tolist()]
    pad = max(sides)  # one padding per scene, wide enough for every square around its boxes
    padded = F.pad(scene.image.float(), (pad, pad, pad, pad))
    crops: list[torch.Tensor] = []
    for (x1, y1, x2, y2), side in zip(scene.boxes.tolist(), sides):
        left, top = int((x1 + x2 - side) / 2) + pad, int((y1 + y2 - side) / 2) + pad
        square = padded[:, top : top + side, left : left + side]
        crops.append(F.interpolate(square[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(crops).round().clamp(0, 255).to(torch.uint8)


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


def perfect_box_detections(scenes: list[Scene], scores: list[torch.Tensor]) -> list[Detections]:
    """Every object answered once per class on its true box, scored by that class's score."""
    detections: list[Detections] = []
    for scene, object_scores in zip(scenes, scores):
        count, classes = object_scores.shape
        boxes = scene.boxes.repeat_interleave(classes, 0)
        labels = torch.arange(classes).repeat(count)
        detections.append(Detections(boxes, object_scores.reshape(-1), labels))
    return detections


def naming_report(scenes: list[Scene], scores: list[torch.Tensor], num_classes: int) -> dict[str, object]:
    labels = torch.cat([s.labels for s in scenes])
    sides = torch.cat([longest_sides(s) for s in scenes])
    correct = (torch.cat(scores).argmax(1) == labels).float()
    by_size = {name: round(float(correct[(sides >= lo) & (sides < hi)].mean()), 4) for name, (lo, hi) in SIZE_BUCKETS.items()}
    return {
        "objects": len(labels),
        "top1": round(float(correct.mean()), 4),
        "top1_by_size": by_size,
        "map50_perfect_boxes": round(average_precision(perfect_box_detections(scenes, scores), scenes, num_classes, 0.5), 4),
    }


def save_report(path: Path | None, report: dict[str, object]) -> None:
    """Write a diagnosis report as JSON (when a path was given) and say where."""
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}", flush=True)
