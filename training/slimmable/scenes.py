""""Fashion scenes": a deterministic detection data set composed from real Fashion-MNIST items.

Each scene is a square canvas (128 px by default) with 1 to 6 items, each resized to 16..64 px,
placed with limited overlap on a textured background (smooth random blobs plus pixel noise, in the
same brightness range as the items' darker parts, so "anything not black" is not an object).
Boxes are tight around each item's visible pixels; labels are the 10 Fashion-MNIST classes.
Training scenes use the train split, test scenes the test split, so test objects are never seen.
Scene ``i`` of a seed is a pure function of (seed, i): any subset can be regenerated exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import Split

CANVAS = 128
MIN_SIZE, MAX_SIZE = 16, 64
MAX_OBJECTS = 6
MAX_IOU = 0.15  # between any two boxes of a scene
VISIBLE = 24  # pixel value above which an item pixel counts as part of the object (tight boxes)


@dataclass
class Scene:
    image: torch.Tensor  # 1 x H x W uint8
    boxes: torch.Tensor  # N x 4 float (x1, y1, x2, y2), pixel units, x2/y2 exclusive
    labels: torch.Tensor  # N int64


def box_intersection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection areas of N x 4 and M x 4 boxes (x1, y1, x2, y2)."""
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    return (rb - lt).clamp(min=0).prod(2)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of N x 4 and M x 4 boxes (x1, y1, x2, y2)."""
    inter = box_intersection(a, b)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def background(size: int, generator: torch.Generator) -> torch.Tensor:
    """Smooth blobs (upsampled coarse noise) plus fine noise, values roughly 0..110."""
    coarse = torch.rand(1, 1, 8, 8, generator=generator)
    blobs = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0, 0]
    level = torch.rand(1, generator=generator) * 50
    texture = blobs * (20 + torch.rand(1, generator=generator) * 60)
    noise = torch.randn(size, size, generator=generator) * (4 + torch.rand(1, generator=generator) * 10)
    return (level + texture + noise).clamp(0, 255)


def silhouette(item: torch.Tensor, dark: float = 8.0) -> torch.Tensor:
    """The item's filled outline: every pixel not reachable from the border through pixels <= ``dark``
    (Fashion-MNIST's black surround), so dark parts inside a garment count as the garment."""
    low = item <= dark
    outside = torch.zeros_like(low)
    for edge in (outside[0], outside[-1], outside[:, 0], outside[:, -1]):
        edge.fill_(True)
    outside &= low
    while True:  # flood fill from the border (10 steps on average for the 28x28 test items)
        grown = F.max_pool2d(outside[None, None].float(), 3, 1, 1)[0, 0].bool() & low
        if torch.equal(grown, outside):
            return ~outside
        outside = grown


def make_scene(split: Split, seed: int, index: int, size: int = CANVAS, opaque_items: bool = False) -> Scene:
    """``opaque_items``: paste each item's filled outline opaquely (an experiment; by default an item's
    brightness is its opacity, so its dark parts let the background through)."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + index)
    canvas = background(size, generator)
    count = int(torch.randint(1, MAX_OBJECTS + 1, (1,), generator=generator))
    boxes: list[torch.Tensor] = []
    labels: list[int] = []
    for _ in range(count):
        for _attempt in range(20):
            item_index = int(torch.randint(0, len(split), (1,), generator=generator))
            side = int(torch.randint(MIN_SIZE, MAX_SIZE + 1, (1,), generator=generator))
            item = F.interpolate(split.images[item_index][None].float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True)[0, 0]
            ys, xs = torch.nonzero(item > VISIBLE, as_tuple=True)
            if len(ys) == 0:
                continue
            x0 = int(torch.randint(0, size - side + 1, (1,), generator=generator))
            y0 = int(torch.randint(0, size - side + 1, (1,), generator=generator))
            box = torch.tensor([x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1], dtype=torch.float32)
            if boxes and float(box_iou(box[None], torch.stack(boxes)).max()) > MAX_IOU:
                continue
            # Items are light on black: their brightness is their opacity over the background.
            alpha = (item / 96).clamp(0, 1)
            if opaque_items:
                alpha = torch.maximum(alpha, silhouette(item).float())
            region = canvas[y0 : y0 + side, x0 : x0 + side]
            canvas[y0 : y0 + side, x0 : x0 + side] = region * (1 - alpha) + item * alpha
            boxes.append(box)
            labels.append(int(split.labels[item_index]))
            break
    image = canvas.round().clamp(0, 255).to(torch.uint8)[None]
    return Scene(image, torch.stack(boxes) if boxes else torch.zeros(0, 4), torch.tensor(labels, dtype=torch.int64))


def make_scenes(split: Split, seed: int, count: int, start: int = 0, size: int = CANVAS, opaque_items: bool = False) -> list[Scene]:
    return [make_scene(split, seed, start + i, size, opaque_items) for i in range(count)]
