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
from typing import Callable

import torch
import torch.nn.functional as F

from .data import Split

CANVAS = 128
MIN_SIZE, MAX_SIZE = 16, 64
MAX_OBJECTS = 6
MAX_IOU = 0.15  # between any two boxes of a scene
VISIBLE = 24  # pixel value above which an item pixel counts as part of the object (tight boxes)
TRAIN_SEED, TEST_SEED = 0, 1  # the seeds of the training scenes (train split) and the test scenes (test split)


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


ItemAlpha = Callable[[torch.Tensor], torch.Tensor]  # an item's pixels (side x side, 0..255) -> its opacity (0..1)


def see_through(item: torch.Tensor) -> torch.Tensor:
    """Items are light on black: their brightness is their opacity over the background, so their dark
    parts let the background through."""
    return (item / 96).clamp(0, 1)


def make_scene(split: Split, seed: int, index: int, size: int = CANVAS, item_alpha: ItemAlpha = see_through) -> Scene:
    """Scene ``index`` of ``seed``. ``item_alpha`` gives each pasted item's opacity; it draws no random
    numbers, so another rule changes the pixels but never the layout."""
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
            alpha = item_alpha(item)
            region = canvas[y0 : y0 + side, x0 : x0 + side]
            canvas[y0 : y0 + side, x0 : x0 + side] = region * (1 - alpha) + item * alpha
            boxes.append(box)
            labels.append(int(split.labels[item_index]))
            break
    image = canvas.round().clamp(0, 255).to(torch.uint8)[None]
    return Scene(image, torch.stack(boxes) if boxes else torch.zeros(0, 4), torch.tensor(labels, dtype=torch.int64))


def make_scenes(split: Split, seed: int, count: int, start: int = 0, size: int = CANVAS, item_alpha: ItemAlpha = see_through) -> list[Scene]:
    return [make_scene(split, seed, start + i, size, item_alpha) for i in range(count)]
