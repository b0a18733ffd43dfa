"""Fashion scenes with opaque items, a probe of how pasting affects naming (docs/detection.md, "Does
the see-through paste cost naming?"): each item's filled outline is pasted opaquely, where the library's scenes
let the background show through an item's dark parts. Use as ``make_scenes(..., item_alpha=opaque)``;
the layout of every scene stays the same, only pixels change.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from slimmable.scenes import see_through


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


def opaque(item: torch.Tensor) -> torch.Tensor:
    """An item's opacity: its brightness, and fully opaque inside its outline."""
    return torch.maximum(see_through(item), silhouette(item).float())
