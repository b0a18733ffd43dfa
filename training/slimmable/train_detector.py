"""Train the slimmable detector on Fashion scenes (slimmable.detector_training): every step runs every
width (widest first), sums the gradients, takes one optimizer step. Resumable: rerun the same command.

    python3 -m slimmable.train_detector --out runs/fashion-detector --epochs 14

The shipped recipe is `npm run train:detector` (docs/detection.md). ``--init-from`` starts from another
run's weights, ``--fresh-scenes`` draws new training scenes every epoch (after the first
``--train-scenes`` and after the blocks earlier fresh-scene stages used, so no stage sees another's
scenes), ``--distill`` adds in-place distillation from the full width to the narrower ones, and
``--class-loss`` a cross-entropy on the class logits at object centres.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .detector_training import DetectorConfig, add_training_arguments, config_from_arguments, train_and_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_arguments(parser, DetectorConfig())
    args = parser.parse_args(argv)
    return train_and_report(config_from_arguments(args, DetectorConfig), args.out)


if __name__ == "__main__":
    sys.exit(main())
