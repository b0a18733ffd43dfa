"""Heatmap targets in which the smallest object wins its cells, a probe of the naming gap
(docs/detection.md, "Third probe: the smallest object wins its cells"; FCOS's rule for ambiguous locations): a
cell inside a smaller object's box belongs to that object, so a larger object's Gaussian is cut
there, except at its own centre cell, and the class targets at a small item lying on a big one do
not also ask for the big one's class. Size, offset and mask targets are the library's.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from slimmable.detection import STRIDE, Targets, cell_coordinates, centre_cell, centre_gaussian, make_targets, target_boxes
from slimmable.scenes import Scene


def cells_inside(box: list[float], ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The cells of the grid whose centres lie inside a pixel box (x2, y2 exclusive)."""
    cx, cy = (xs + 0.5) * STRIDE, (ys + 0.5) * STRIDE
    return (cx >= box[0]) & (cx < box[2]) & (cy >= box[1]) & (cy < box[3])


def smallest_wins_targets(scenes: list[Scene], num_classes: int, input_size: int, flips: list[bool] | None = None) -> Targets:
    targets = make_targets(scenes, num_classes, input_size, flips)
    grid = input_size // STRIDE
    ys, xs = cell_coordinates(grid)
    heatmap = torch.zeros_like(targets.heatmap)
    for i, scene in enumerate(scenes):
        boxes = target_boxes(scene, input_size, bool(flips and flips[i]))
        areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).tolist()
        for box, label, area in zip(boxes.tolist(), scene.labels.tolist(), areas):
            blob = centre_gaussian(box, ys, xs)
            for other, other_area in zip(boxes.tolist(), areas):
                if other_area < area:
                    blob = torch.where(cells_inside(other, ys, xs), torch.zeros_like(blob), blob)
            px, py = centre_cell(box, grid, grid)
            blob[py, px] = 1.0  # an object always keeps its own peak
            heatmap[i, label] = torch.maximum(heatmap[i, label], blob)
    return replace(targets, heatmap=heatmap)
