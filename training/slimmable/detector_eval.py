"""Running a slimmable detector on Fashion scenes: the input normalisation it is trained and served
with, its raw output per width, decoded detections, and mAP. Training, the cascade, the exporter and
the research probes all measure a detector through these functions, so they measure it alike."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from .detection import Detections, decode, evaluate_map
from .layers import set_width
from .scenes import Scene

# Normalisation of scene pixels (pixel / 255 - MEAN) / STD; recorded in the bundle's manifest.
MEAN, STD = 0.25, 0.25
CHUNK = 100  # scenes per forward pass when evaluating


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 scene images (N x 1 x H x W) -> the detector's input."""
    return (images.float() / 255.0 - MEAN) / STD


def stack_images(scenes: list[Scene]) -> torch.Tensor:
    return torch.stack([s.image for s in scenes])


def recorded_class_score(meta: Mapping[str, object]) -> str:
    """The class scoring (detection.class_scores) a checkpoint's run measured its mAP with; a recipe
    that does not name one used the sigmoid heatmap."""
    config = meta.get("config")
    return str(config.get("class_score", "heatmap")) if isinstance(config, dict) else "heatmap"


def raw_outputs(model: nn.Module, scenes: list[Scene], width: float) -> torch.Tensor:
    """The model's raw output (N x C+4 x H x W) for every scene at one width (eval mode, in chunks)."""
    model.eval()
    set_width(model, width)
    with torch.no_grad():
        return torch.cat([model(to_input(stack_images(scenes[start : start + CHUNK]))) for start in range(0, len(scenes), CHUNK)])


def detect_all(model: nn.Module, scenes: list[Scene], width: float, num_classes: int, class_score: str = "heatmap") -> list[Detections]:
    """Detections for every scene at one width."""
    return [decode(o, num_classes, class_score=class_score) for o in raw_outputs(model, scenes, width)]


def evaluate_detector(model: nn.Module, scenes: list[Scene], widths: Sequence[float], num_classes: int,
                      class_score: str = "heatmap") -> dict[float, dict[str, float]]:
    """mAP@0.5 and mAP@[.5:.95] of every width on the scenes."""
    return {width: evaluate_map(detect_all(model, scenes, width, num_classes, class_score), scenes, num_classes) for width in widths}
