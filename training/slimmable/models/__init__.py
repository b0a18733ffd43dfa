"""Model registry: architecture name -> constructor (keyword arguments: widths, input_size,
in_channels, num_classes), and for architectures shaped by their training recipe, the reader of the
constructor arguments a recipe records. Packages built on this one add their own with
``register_model``."""
from __future__ import annotations

from typing import Callable, Mapping

from torch import nn

from .detector import SlimmableDetector, recipe_kwargs
from .fashion_cnn import FashionCNN
from .mobilenet_v2 import SMobileNetV2

RecipeReader = Callable[[Mapping[str, object]], dict[str, object]]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "fashion_cnn": FashionCNN,
    "s_mobilenet_v2": SMobileNetV2,
    "slimmable_detector": SlimmableDetector,
}

# Architectures whose shape is set by their training recipe (a checkpoint's "config"), not only by name.
RECIPE_KWARGS: dict[str, RecipeReader] = {"slimmable_detector": recipe_kwargs}


def register_model(name: str, constructor: Callable[..., nn.Module], recipe_reader: RecipeReader | None = None) -> None:
    """Make ``name`` buildable (and its checkpoints and bundles loadable); registering the same
    constructor again is a no-op, another one under a taken name an error."""
    if MODELS.get(name, constructor) is not constructor:
        raise ValueError(f"architecture {name!r} is already registered")
    MODELS[name] = constructor
    if recipe_reader is not None:
        RECIPE_KWARGS[name] = recipe_reader


def build_model(name: str, **kwargs: object) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown architecture {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)


def kwargs_from_recipe(name: str, recipe: Mapping[str, object]) -> dict[str, object]:
    reader = RECIPE_KWARGS.get(name)
    return reader(recipe) if reader else {}
