"""A crop classifier as the detector's naming teacher, a probe of the naming gap (docs/detection.md;
train_naming_probe --crop-teacher).

The classifier that ``naming_ceiling`` trains on object crops names the objects of Fashion scenes better
than the detector's class logits do (87.2% vs 82.8%, and 85.1% vs 74.5% on small objects,
docs/detection.md). Its softened class probabilities for each object's crop become a target for the
detector's class logits at that object's centre cell: knowledge distillation from a stronger
classifier into the single-stage detector. The teacher only shapes training; the exported detector
does not contain it.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from slimmable.checkpoint import load_model
from slimmable.data import normalize
from slimmable.detection import STRIDE, Targets, centre_cell, flip_boxes
from slimmable.scenes import Scene

from .crops import crop_objects


class CropTeacher:
    def __init__(self, checkpoint: Path, temperature: float, bf16: bool = False) -> None:
        self.model, _ = load_model(checkpoint)
        self.model.eval()
        self.temperature = temperature
        self.bf16 = bf16  # bfloat16 autocast: the teacher's forward then costs half (training's --bf16)

    def centre_targets(self, scenes: list[Scene], flips: list[bool], num_classes: int, input_size: int) -> torch.Tensor:
        """N x C x H x W: the teacher's softened probabilities at each object's centre cell (the cell
        make_targets marks; zeros elsewhere), from its crop, mirrored where the input was."""
        grid = input_size // STRIDE
        probabilities = torch.zeros(len(scenes), num_classes, grid, grid)
        crops = [crop_objects(s) for s in scenes]
        crops = [c.flip(3) if flip else c for c, flip in zip(crops, flips)]
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(normalize(torch.cat(crops))).float()
        soft = torch.softmax(logits / self.temperature, 1).split([len(c) for c in crops])
        for i, (scene, flip) in enumerate(zip(scenes, flips)):
            boxes = flip_boxes(scene.boxes, input_size) if flip else scene.boxes
            for box, row in zip(boxes.tolist(), soft[i]):
                px, py = centre_cell(box, grid, grid)
                probabilities[i, :, py, px] = row
        return probabilities


def centre_distillation(output: torch.Tensor, teacher: torch.Tensor, targets: Targets, num_classes: int, temperature: float) -> torch.Tensor:
    """KL divergence of the detector's softened class distribution at each object's centre cell from
    the teacher's (``CropTeacher.centre_targets``), times temperature squared (Hinton et al.), averaged
    over objects."""
    centres = targets.mask[:, 0] > 0
    logits = output[:, :num_classes].permute(0, 2, 3, 1)[centres]
    target = teacher.permute(0, 2, 3, 1)[centres]
    if len(target) == 0:
        return logits.sum() * 0
    return F.kl_div(F.log_softmax(logits / temperature, 1), target, reduction="batchmean") * temperature**2
