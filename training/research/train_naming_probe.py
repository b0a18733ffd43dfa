"""Detector runs with the probes of the naming gap (docs/detection.md), none of them in the shipped
recipe: every option of slimmable.train_detector, plus

- ``--crop-teacher CHECKPOINT --teacher-weight W``: the class logits at each object's centre also
  learn the naming of a crop classifier (naming_ceiling's final.pt; crop_teacher.py);
- ``--fine-class-channels N``: a stride-4 class path (fine_class_detector.py), which may be grown
  onto an ``--init-from`` detector;
- ``--smallest-wins``: a cell inside a smaller object's box is that object's (smallest_wins.py).

    python3 -m research.train_naming_probe --out runs/fashion-detector-smallest \\
      --init-from runs/fashion-detector-branch/final.pt --fresh-scenes --distill 1 --class-loss 1 \\
      --box-channels 64 --smallest-wins --class-score blend --bf16 --epochs 6 --lr 0.01 --warmup-epochs 0.25

A run with ``--fine-class-channels`` saves the architecture ``fine_class_detector``; the library loads
its checkpoints and bundles once ``research`` is imported (every research CLI does).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

from slimmable.detection import Targets
from slimmable.detector_training import DetectorConfig, DetectorTraining, OutputLoss, add_training_arguments, config_from_arguments, train_and_report
from slimmable.scenes import Scene

from .crop_teacher import CropTeacher, centre_distillation
from .fine_class_detector import ARCH as FINE_CLASS_ARCH
from .fine_class_detector import GROWN_MODULES
from .smallest_wins import smallest_wins_targets


@dataclass
class NamingProbeConfig(DetectorConfig):
    smallest_wins: bool = False  # heatmap targets give a cell inside a smaller object's box to that object
    fine_class_channels: int = 0  # channels of a stride-4 class path added to the class logits (0: none)
    crop_teacher: str = ""  # a crop classifier's checkpoint (naming_ceiling) whose naming the class logits learn
    teacher_weight: float = 0.0  # weight of that distillation at every width (0: off)
    teacher_temperature: float = 2.0


class NamingProbeTraining(DetectorTraining):
    config: NamingProbeConfig

    def __init__(self, config: DetectorConfig) -> None:
        if not isinstance(config, NamingProbeConfig):
            raise TypeError(f"a naming probe needs a NamingProbeConfig, got {type(config).__name__}")
        super().__init__(config)
        if config.fine_class_channels:
            self.arch = FINE_CLASS_ARCH
            self.grown_modules = GROWN_MODULES

    @cached_property
    def teacher(self) -> CropTeacher:
        """Loaded at the first batch, after the detector is built: its initialisation does not depend on it."""
        return CropTeacher(Path(self.config.crop_teacher), self.config.teacher_temperature, self.config.bf16)

    def targets(self, batch: list[Scene], flips: list[bool], num_classes: int) -> Targets:
        if self.config.smallest_wins:
            return smallest_wins_targets(batch, num_classes, self.config.input_size, flips)
        return super().targets(batch, flips, num_classes)

    def extra_loss(self, batch: list[Scene], flips: list[bool], targets: Targets, num_classes: int) -> OutputLoss | None:
        if not self.config.teacher_weight:
            return None
        config = self.config
        soft = self.teacher.centre_targets(batch, flips, num_classes, config.input_size)
        return lambda output: config.teacher_weight * centre_distillation(output, soft, targets, num_classes, config.teacher_temperature)


def main(argv: Sequence[str] | None = None) -> int:
    defaults = NamingProbeConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser, defaults)
    parser.add_argument("--smallest-wins", action="store_true", help="cut a larger object's heatmap target inside the boxes of smaller objects (FCOS's rule)")
    parser.add_argument("--fine-class-channels", type=int, default=defaults.fine_class_channels,
                        help="a stride-4 class path with this many channels, added to the class logits (0: none); may be grown onto an --init-from detector")
    parser.add_argument("--crop-teacher", default=defaults.crop_teacher, help="a crop classifier's checkpoint (research.naming_ceiling) to distil naming from")
    parser.add_argument("--teacher-weight", type=float, default=defaults.teacher_weight, help="weight of the crop teacher's distillation at object centres (0: off)")
    parser.add_argument("--teacher-temperature", type=float, default=defaults.teacher_temperature, help="softmax temperature of that distillation")
    args = parser.parse_args(argv)
    if args.teacher_weight and not args.crop_teacher:
        parser.error("--teacher-weight needs --crop-teacher (a crop classifier's checkpoint)")
    return train_and_report(config_from_arguments(args, NamingProbeConfig), args.out, variant=NamingProbeTraining)


if __name__ == "__main__":
    sys.exit(main())
