"""A slimmable single-stage detector in the CenterNet style ("objects as points").

Backbone: four stride-2 stages of 3x3 slimmable convolutions (24/48/128/256 channels at width 1.0).
Neck: the stride-16 features, upsampled, added to the stride-8 ones (an FPN-lite). Head: two 3x3
convolutions (128 channels), then a 1x1 convolution predicting, per cell of the stride-8 grid, a heatmap
logit per class, the box size (w, h) and the centre's sub-cell offset; with ``box_channels`` the
boxes come from a branch of their own on the neck and the head serves the class scores alone (the
shipped detector: tighter boxes, docs/detection.md). The compute sits at stride 8 and 16, where
features are deep enough to tell a shirt from a T-shirt; a head on the stride-4 grid spends half
its operations there and names those classes worse (docs/detection.md). Every convolution is
slimmable and every BN switchable, so all of it narrows with the width. One output tensor
``[N, classes + 4, H/8, W/8]`` keeps ONNX export and decoding simple (decoding: src/vision/detection.ts,
slimmable/detection.py).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ..layers import SlimmableConv2d, conv_bn_relu

DEFAULT_WIDTHS = (0.25, 0.5, 0.75, 1.0)


def scaled(channels: int, widths: Sequence[float]) -> list[int]:
    return [max(4, int(channels * w)) for w in widths]


def recipe_kwargs(recipe: Mapping[str, object]) -> dict[str, object]:
    """The constructor arguments a training recipe (slimmable.detector_training's config) records;
    those a recipe does not name take the constructor's defaults."""
    keys = ("input_size", "stage_channels", "stage_depths", "box_channels")
    return {key: recipe[key] for key in keys if key in recipe}


def repeat(channels: list[int], count: int) -> list[nn.Module]:
    """``count`` stride-1 blocks that keep the channel count."""
    return [conv_bn_relu(channels, channels) for _ in range(count)]


class SlimmableDetector(nn.Module):
    def __init__(
        self,
        widths: Sequence[float] = DEFAULT_WIDTHS,
        input_size: int = 128,
        in_channels: int = 1,
        num_classes: int = 10,
        stage_channels: Sequence[int] = (24, 48, 128, 256),
        stage_depths: Sequence[int] = (1, 2, 3, 2),
        head_channels: int = 128,
        box_channels: int = 0,
    ) -> None:
        """``stage_depths``: 3x3 convolutions per stage (the first of each has stride 2).
        ``box_channels``: 0 shares the head between class scores and boxes (the default shape); more
        gives the boxes a branch of their own (one 3x3 convolution of that many channels on the neck)
        and leaves the head to the class scores alone."""
        super().__init__()
        if input_size % 16 != 0:
            raise ValueError(f"input_size must be a multiple of 16, got {input_size}")
        if len(stage_channels) != 4 or len(stage_depths) != 4 or min(stage_depths) < 1:
            raise ValueError(f"need four stages of depth >= 1, got channels {stage_channels} and depths {stage_depths}")
        self.widths = sorted(widths)
        self.input_size = input_size
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.stage_channels = list(stage_channels)  # at width 1.0, for subclasses that add branches
        self.head_channels = head_channels
        n = len(self.widths)
        c1, c2, c3, c4 = (scaled(c, self.widths) for c in stage_channels)
        head = scaled(head_channels, self.widths)
        d1, d2, d3, d4 = stage_depths
        # stage1's blocks are spliced into one Sequential (conv, bn, relu, block, ...): a depth-1 stage1
        # then has the keys stage1.0 (conv), stage1.1 (BN), which the shipped bundle's tensors carry.
        self.stage1 = nn.Sequential(*conv_bn_relu([in_channels] * n, c1, stride=2), *repeat(c1, d1 - 1))  # /2
        self.stage2 = nn.Sequential(conv_bn_relu(c1, c2, stride=2), *repeat(c2, d2 - 1))  # /4
        self.stage3 = nn.Sequential(conv_bn_relu(c2, c3, stride=2), *repeat(c3, d3 - 1))  # /8
        self.stage4 = nn.Sequential(conv_bn_relu(c3, c4, stride=2), *repeat(c4, d4 - 1))  # /16
        self.lateral4 = conv_bn_relu(c4, head, kernel=1)
        self.lateral3 = conv_bn_relu(c3, head, kernel=1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Sequential(conv_bn_relu(head, head), conv_bn_relu(head, head))
        self.box_head: nn.Module | None = None
        self.predict_box: SlimmableConv2d | None = None
        if box_channels:
            box = scaled(box_channels, self.widths)
            self.box_head = conv_bn_relu(head, box)
            self.predict_box = SlimmableConv2d(box, [4] * n, 1, bias=True)
            small_init(self.predict_box)
        self.predict = SlimmableConv2d(head, [num_classes + (0 if box_channels else 4)] * n, 1, bias=True)
        small_init(self.predict)
        with torch.no_grad():  # heatmap at a low prior (focal-loss practice)
            assert self.predict.bias is not None
            self.predict.bias[:num_classes].fill_(-2.19)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stride-4 features (stage 2) and the neck: stride-16 features upsampled onto stride 8."""
        f2 = self.stage2(self.stage1(x))
        f3 = self.stage3(f2)
        f4 = self.stage4(f3)
        return f2, self.up(self.lateral4(f4)) + self.lateral3(f3)

    def with_boxes(self, scores: torch.Tensor, neck: torch.Tensor) -> torch.Tensor:
        """The output: the head's scores, followed by the box branch's 4 channels when there is one
        (the shared head's scores already end with them)."""
        if self.box_head is None or self.predict_box is None:
            return scores
        return torch.cat([scores, self.predict_box(self.box_head(neck))], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, neck = self.features(x)
        return self.with_boxes(self.predict(self.head(neck)), neck)


def small_init(layer: SlimmableConv2d) -> None:
    """Small initial outputs (focal-loss practice): the first steps start from near-zero predictions."""
    with torch.no_grad():
        assert layer.bias is not None
        nn.init.normal_(layer.weight, std=0.01)
        layer.bias.zero_()
