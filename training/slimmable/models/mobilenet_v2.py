"""S-MobileNetV2, laid out like the reference implementation so its checkpoints load by name.

Stem 3x3/2 conv, inverted residual blocks (t, c, n, s), a 1x1 conv to 1280 channels (not slimmed at
the output, as in the reference), global average pooling and an unslimmed linear classifier.
The reference tail BN is one shared BatchNorm; here every BN is switchable (the importer copies a
shared tail BN into every width, which reproduces the reference exactly).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..layers import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d, make_divisible

DEFAULT_WIDTHS = (0.35, 0.5, 0.75, 1.0)
BLOCKS = (  # expansion t, channels c, repeats n, first stride s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
TAIL_CHANNELS = 1280


class InvertedResidual(nn.Module):
    def __init__(self, inp: Sequence[int], outp: Sequence[int], stride: int, expand_ratio: int) -> None:
        super().__init__()
        self.residual = stride == 1 and list(inp) == list(outp)
        hidden = [c * expand_ratio for c in inp]
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers += [SlimmableConv2d(inp, hidden, 1), SwitchableBatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            SlimmableConv2d(hidden, hidden, 3, stride, 1, depthwise=True),
            SwitchableBatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            SlimmableConv2d(hidden, outp, 1),
            SwitchableBatchNorm2d(outp),
        ]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class SMobileNetV2(nn.Module):
    def __init__(
        self,
        widths: Sequence[float] = DEFAULT_WIDTHS,
        input_size: int = 224,
        in_channels: int = 3,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if input_size % 32 != 0:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        self.widths = sorted(widths)
        self.input_size = input_size
        self.in_channels = in_channels
        self.num_classes = num_classes
        n = len(self.widths)

        def scaled(c: int) -> list[int]:
            return [make_divisible(c * w, 8, min_value=1) for w in self.widths]

        channels = scaled(32)
        features: list[nn.Module] = [
            nn.Sequential(
                SlimmableConv2d([in_channels] * n, channels, 3, 2, 1),
                SwitchableBatchNorm2d(channels),
                nn.ReLU6(inplace=True),
            )
        ]
        for t, c, repeats, s in BLOCKS:
            outp = scaled(c)
            for i in range(repeats):
                features.append(InvertedResidual(channels, outp, s if i == 0 else 1, t))
                channels = outp
        tail = [TAIL_CHANNELS] * n
        features.append(
            nn.Sequential(SlimmableConv2d(channels, tail, 1), SwitchableBatchNorm2d(tail), nn.ReLU6(inplace=True))
        )
        features.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(SlimmableLinear(tail, [num_classes] * n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
