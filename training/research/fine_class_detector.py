"""The detector with a stride-4 class path, a probe of the naming gap (docs/detection.md, "A stride-4
class path"): two 3x3 convolutions of ``fine_class_channels`` channels on the stride-4 features plus
the upsampled neck, max-pooled to stride 8 and added to the class logits. Its predictor starts at
zero, so the path can be grown onto a trained detector (train_naming_probe --init-from) without
changing what that detector outputs; the output keeps the shipped layout ``[N, classes + 4, H/8, W/8]``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from slimmable.layers import SlimmableConv2d, conv_bn_relu
from slimmable.models import register_model
from slimmable.models.detector import DEFAULT_WIDTHS, SlimmableDetector, recipe_kwargs, scaled

ARCH = "fine_class_detector"
# The modules this variant adds to a SlimmableDetector: a starting checkpoint may lack them.
GROWN_MODULES = ("fine_lateral.", "fine_neck.", "fine_head.", "predict_fine.")


class FineClassDetector(SlimmableDetector):
    def __init__(self, widths: Sequence[float] = DEFAULT_WIDTHS, fine_class_channels: int = 64, **detector_kwargs: object) -> None:
        super().__init__(widths, **detector_kwargs)  # type: ignore[arg-type]
        fine = scaled(fine_class_channels, self.widths)
        self.fine_lateral = conv_bn_relu(scaled(self.stage_channels[1], self.widths), fine, kernel=1)
        self.fine_neck = conv_bn_relu(scaled(self.head_channels, self.widths), fine, kernel=1)
        self.fine_head = nn.Sequential(conv_bn_relu(fine, fine), conv_bn_relu(fine, fine))
        self.predict_fine = SlimmableConv2d(fine, [self.num_classes] * len(self.widths), 1, bias=True)
        with torch.no_grad():
            assert self.predict_fine.bias is not None
            self.predict_fine.weight.zero_()
            self.predict_fine.bias.zero_()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f2, neck = self.features(x)
        scores = self.predict(self.head(neck))
        fine = self.fine_head(self.fine_lateral(f2) + self.up(self.fine_neck(neck)))
        fine_scores = self.pool(self.predict_fine(fine))
        if self.box_head is None:  # the shared head's output ends with the 4 box channels
            fine_scores = torch.cat([fine_scores, torch.zeros_like(scores[:, self.num_classes :])], 1)
        return self.with_boxes(scores + fine_scores, neck)


def fine_recipe_kwargs(recipe: Mapping[str, object]) -> dict[str, object]:
    """The constructor arguments a run's recipe records: the detector's, and the path's channels."""
    return {**recipe_kwargs(recipe), **({"fine_class_channels": recipe["fine_class_channels"]} if "fine_class_channels" in recipe else {})}


register_model(ARCH, FineClassDetector, fine_recipe_kwargs)
