"""The default classifier: a compact VGG-style slimmable CNN for 28x28 Fashion-MNIST.

Three stages of 3x3 convolutions (32 / 64 / 128 channels at width 1.0) so the four widths span
about a 12x range of multiply-accumulates, which shows up as a real latency range on CPU.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..layers import SharedBatchNorm2d, SlimmableLinear, SwitchableBatchNorm2d, conv_bn_relu

DEFAULT_WIDTHS = (0.25, 0.5, 0.75, 1.0)
BATCH_NORMS = {"switchable": SwitchableBatchNorm2d, "shared": SharedBatchNorm2d}


class FashionCNN(nn.Module):
    def __init__(
        self,
        widths: Sequence[float] = DEFAULT_WIDTHS,
        input_size: int = 28,
        in_channels: int = 1,
        num_classes: int = 10,
        stage_channels: Sequence[int] = (32, 64, 128),
        dropout: float = 0.2,
        bn: str = "switchable",
    ) -> None:
        """``bn="shared"`` gives every width one shared BatchNorm (the naive baseline, US-Nets)."""
        super().__init__()
        if bn not in BATCH_NORMS:
            raise ValueError(f"bn must be one of {sorted(BATCH_NORMS)}, got {bn!r}")
        if input_size % 4 != 0:
            raise ValueError(f"input_size must be a multiple of 4 (two 2x poolings), got {input_size}")
        self.widths = sorted(widths)
        self.input_size = input_size
        self.in_channels = in_channels
        self.num_classes = num_classes
        per_width = [[max(1, int(c * w)) for w in self.widths] for c in stage_channels]
        inputs = [in_channels] * len(self.widths)
        c1, c2, c3 = per_width
        norm = BATCH_NORMS[bn]
        self.features = nn.Sequential(
            conv_bn_relu(inputs, c1, bn=norm),
            conv_bn_relu(c1, c1, bn=norm),
            nn.MaxPool2d(2),
            conv_bn_relu(c1, c2, bn=norm),
            conv_bn_relu(c2, c2, bn=norm),
            nn.MaxPool2d(2),
            conv_bn_relu(c2, c3, bn=norm),
            conv_bn_relu(c3, c3, bn=norm),
            nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = SlimmableLinear(c3, [num_classes] * len(self.widths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.classifier(self.dropout(x))
