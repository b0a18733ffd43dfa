"""Post-training BatchNorm calibration: recompute a width's BN statistics on training batches.

The statistics are the exact average over the calibration batches (momentum None). The model must be
in TRAIN mode while calibrating (the known pitfall of the US-Nets reference code: calibrating in eval
mode leaves the statistics unchanged and accuracy collapses); gradients are off.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..data import Split, batches
from ..layers import set_width


def calibrated_copy(model: nn.Module, width: float, split: Split, num_batches: int = 20, batch_size: int = 256) -> nn.Module:
    """A copy of ``model`` set to ``width`` whose BN running statistics come from ``split``."""
    clone = copy.deepcopy(model)
    set_width(clone, width)
    for module in clone.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batches
    clone.train()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for i, (images, _) in enumerate(batches(split, batch_size, generator, train=False)):
            if i >= num_batches:
                break
            clone(images)
    clone.eval()
    return clone
