"""Model registry: architecture name -> constructor (keyword arguments: widths, input_size,
in_channels, num_classes)."""
from __future__ import annotations

from typing import Callable, Mapping

from torch import nn

from .detector import SlimmableDetector, recipe_kwargs
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


# Architectures whose shape is set by their training recipe (a checkpoint's "config"), not only by name.
RECIPE_KWARGS: dict[str, Callable[[Mapping[str, object]], dict[str, object]]] = {"slimmable_detector": recipe_kwargs}


def kwargs_from_recipe(name: str, recipe: Mapping[str, object]) -> dict[str, object]:
    reader = RECIPE_KWARGS.get(name)
    return reader(recipe) if reader else {}
