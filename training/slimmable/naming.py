"""Naming, apart from finding: how well class scores name the objects of Fashion scenes.

Scores here are per ground-truth object (one row of class scores each), from any source: a classifier
on the object's crop (the scene namer, ``classifier_scores``) or a detector's class scores at the
object's centre. The report gives top-1 by object size and the mAP@0.5 a detector would reach with
PERFECT boxes and these class scores: every object answered once per class, on its true box. That
number is what naming alone allows; a real detector also loses what it fails to find.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .data import Split, normalize
from .detection import Detections, average_precision
from .scenes import Scene

# Longest side of the tight box, in pixels (items are drawn 16..64 px square).
SIZE_BUCKETS = {"small (<28 px)": (0, 28), "medium (28-43 px)": (28, 44), "large (>=44 px)": (44, 10_000)}


def longest_sides(scene: Scene) -> torch.Tensor:
    return (scene.boxes[:, 2:] - scene.boxes[:, :2]).max(1).values


def classifier_scores(model: torch.nn.Module, crops: Split, scenes: list[Scene]) -> list[torch.Tensor]:
    """Softmax class probabilities for each object of each scene; ``crops`` holds the objects' crops
    in scene order (e.g. namer.scene_crops(scenes))."""
    model.eval()
    with torch.no_grad():
        probabilities = torch.cat([torch.softmax(model(normalize(chunk)), 1) for chunk in crops.images.split(1000)])
    return list(probabilities.split([len(s.labels) for s in scenes]))


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
    """Write a report as JSON (when a path was given) and say where."""
    if path is not None:
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {path}", flush=True)
