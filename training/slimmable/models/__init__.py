"""Model registry: architecture name -> constructor (keyword arguments: widths, input_size,
in_channels, num_classes)."""
from __future__ import annotations

from typing import Callable

from torch import nn

from .detector import SlimmableDetector
from .fashion_cnn import FashionCNN
from .mobilenet_v2 import SMobileNetV2

MODELS: dict[str, Callable[..., nn.Module]] = {
    "fashion_cnn": FashionCNN,
    "s_mobilenet_v2": SMobileNetV2,
    "slimmable_detector": SlimmableDetector,
}


def build_model(name: str, **kwargs: object) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)
