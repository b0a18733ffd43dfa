"""Object crops of Fashion scenes for the yardstick classifier (naming_ceiling) and the crop teacher.

These crops resize the square around each true box with torch's antialiased bilinear interpolation;
the classifiers of these probes were trained on them, so they keep them. The shipped scene namer
crops with ``slimmable.namer.crop_boxes``, whose arithmetic the server reproduces exactly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from slimmable.data import Split
from slimmable.naming import longest_sides
from slimmable.scenes import Scene


def crop_objects(scene: Scene, size: int = 28, margin: int = 2) -> torch.Tensor:
    """Each object as a ``size`` x ``size`` uint8 crop: the square around its box centre whose side is
    the box's longest side plus ``margin`` px each way (zeros beyond the canvas), resized."""
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


def crop_split(scenes: list[Scene]) -> Split:
    """Every object of the scenes as a labelled crop, in scene order."""
    return Split(torch.cat([crop_objects(s) for s in scenes]), torch.cat([s.labels for s in scenes]))
