"""How well can the objects of Fashion scenes be named at all? A yardstick for the detector.

Crops every ground-truth object of the training scenes (square around its box, resized to 28x28,
background included), trains the classifier architecture (``fashion_cnn`` at width 1.0, the project's
classifier recipe) on those crops, and scores the crops of the test scenes: top-1 by object size and
the mAP@0.5 that perfect boxes with this classifier's naming would reach (slimmable.naming). Set
beside ``diagnose_detector``'s naming section it says how much of the detector's mAP is lost to
naming that a dedicated classifier does better, and how much no classifier of this size recovers.

    python3 -m research.naming_ceiling --out runs/naming-ceiling [--train-scenes 16000 --epochs 10]

``--opaque-items`` composes the scenes with opaque items (opaque_items.py), to measure what the
library's see-through paste costs naming.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from slimmable.data import LABELS, load_split
from slimmable.naming import classifier_scores, naming_report, save_report
from slimmable.scenes import TEST_SEED, TRAIN_SEED, make_scenes, see_through
from slimmable.train import TrainConfig, train

from .crops import crop_split
from .opaque_items import opaque


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder (the classifier's checkpoints; resumable)")
    parser.add_argument("--train-scenes", type=int, default=16000, help="training scenes to crop (about 3.5 objects each)")
    parser.add_argument("--test-scenes", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    parser.add_argument("--opaque-items", action="store_true", help="compose the scenes with opaque item outlines (opaque_items.py)")
    args = parser.parse_args(argv)
    print(f"cropping the objects of {args.train_scenes} training and {args.test_scenes} test scenes ...", flush=True)
    item_alpha = opaque if args.opaque_items else see_through
    train_scenes = make_scenes(load_split("train"), TRAIN_SEED, args.train_scenes, item_alpha=item_alpha)
    test_scenes = make_scenes(load_split("test"), TEST_SEED, args.test_scenes, item_alpha=item_alpha)
    splits = crop_split(train_scenes), crop_split(test_scenes)
    print(f"{len(splits[0])} training crops, {len(splits[1])} test crops", flush=True)
    config = TrainConfig(widths=[1.0], epochs=args.epochs, threads=args.threads)
    model, _ = train(config, args.out, splits=splits, log=lambda line: print(line, flush=True))
    report = naming_report(test_scenes, classifier_scores(model, splits[1], test_scenes), len(LABELS))
    report = {"classifier": "fashion_cnn width 1.0 on 28x28 crops", "train_crops": len(splits[0]), "epochs": args.epochs, "opaque_items": args.opaque_items, **report}
    print(json.dumps(report, indent=2), flush=True)
    save_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
