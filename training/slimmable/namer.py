"""The scene namer: a slimmable classifier that names the detector's boxes from their crops.

The detector finds objects well (mAP@0.5 0.954 at width 1.0 with every label merged) but names
small objects lying on others worse than a classifier given the object's crop (docs/detection.md).
So /detect can pass each box's crop to a second slimmable model at the same width and score each
box by detector score x the namer's probability of the box's class (slimmable.cascade).

The crop is defined here once, and src/vision/crop.ts computes the same numbers: the square around
the box centre whose side is the box's longest side plus ``margin`` px each way, sampled bilinearly
on a ``size * supersample`` grid (zeros beyond the image) and averaged down ``supersample`` x
``supersample`` (a box filter, so large boxes are not aliased), rounded half up to uint8. Training crops
jitter the ground-truth boxes, because at serving time the boxes are the detector's, not the truth.

    python3 -m slimmable.namer --out runs/fashion-scene-namer [--train-scenes 24000 --epochs 10 --jitter 0.06]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from .checkpoint import load_model
from .data import Split, load_split
from .layers import set_width
from .naming import classifier_scores, naming_report, save_report
from .scenes import TEST_SEED, TRAIN_SEED, Scene, make_scenes
from .train import TrainConfig, train

CROP_SIZE = 28  # the classifier's input
CROP_MARGIN = 2.0  # px of context around the box's longest side, each way
CROP_SUPERSAMPLE = 2


def crop_boxes(image: torch.Tensor, boxes: torch.Tensor, size: int = CROP_SIZE, margin: float = CROP_MARGIN,
               supersample: int = CROP_SUPERSAMPLE) -> torch.Tensor:
    """``image`` (1 x H x W uint8) cropped around each of ``boxes`` (K x 4, x1 y1 x2 y2 in pixels, a
    pixel i covering [i, i+1)): K x 1 x size x size uint8."""
    if len(boxes) == 0:
        return torch.zeros(0, 1, size, size, dtype=torch.uint8)
    plane = image[0].double()
    height, width = plane.shape
    boxes = boxes.double()
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sides = ((boxes[:, 2:] - boxes[:, :2]).amax(1) + 2 * margin).clamp(min=1.0)
    samples = size * supersample
    steps = (torch.arange(samples, dtype=torch.float64) + 0.5) / samples - 0.5  # in units of the side, centred
    xs = centres[:, :1] + steps[None] * sides[:, None] - 0.5  # K x samples, in pixel-centre coordinates
    ys = centres[:, 1:] + steps[None] * sides[:, None] - 0.5
    x0, y0 = xs.floor(), ys.floor()
    fx, fy = xs - x0, ys - y0
    value = torch.zeros(len(boxes), samples, samples, dtype=torch.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            row, col = (y0 + dy).long(), (x0 + dx).long()
            inside = ((row >= 0) & (row < height))[:, :, None] & ((col >= 0) & (col < width))[:, None, :]
            pixels = plane[row.clamp(0, height - 1)[:, :, None], col.clamp(0, width - 1)[:, None, :]]
            value += torch.where(inside, pixels, torch.zeros((), dtype=torch.float64)) * wy[:, :, None] * wx[:, None, :]
    pooled = value.reshape(len(boxes), size, supersample, size, supersample).mean((2, 4))
    return (pooled + 0.5).floor().clamp(0, 255).to(torch.uint8)[:, None]  # halves up, as JavaScript's Math.round


def jitter_boxes(boxes: torch.Tensor, generator: torch.Generator, amount: float) -> torch.Tensor:
    """Boxes moved and resized at random, as a detector's boxes miss the truth: centre shifts and
    log-size changes with standard deviation ``amount`` (relative to the box's size)."""
    if amount <= 0 or len(boxes) == 0:
        return boxes
    sizes = boxes[:, 2:] - boxes[:, :2]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2 + torch.randn(sizes.shape, generator=generator) * amount * sizes
    sizes = sizes * torch.exp(torch.randn(sizes.shape, generator=generator) * amount)
    return torch.cat([centres - sizes / 2, centres + sizes / 2], 1)


def scene_crops(scenes: list[Scene], jitter: float = 0.0, seed: int = 0) -> Split:
    """The crop of every object of the scenes (its box jittered by ``jitter``), labelled."""
    generator = torch.Generator().manual_seed(seed)
    crops = [crop_boxes(s.image, jitter_boxes(s.boxes, generator, jitter)) for s in scenes]
    return Split(torch.cat(crops), torch.cat([s.labels for s in scenes]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints; a rerun resumes)")
    parser.add_argument("--train-scenes", type=int, default=24000, help="training scenes to crop (about 3.5 objects each)")
    parser.add_argument("--test-scenes", type=int, default=2000, help="test scenes whose true boxes score the namer")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--jitter", type=float, default=0.06, help="box jitter of the training crops (relative std)")
    parser.add_argument("--first-scene", type=int, default=0, help="index of the first training scene (a later run can crop fresh scenes)")
    parser.add_argument("--init-from", type=Path, help="start from this namer's weights (e.g. to go on training on fresh crops)")
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--warmup-epochs", type=float, default=TrainConfig.warmup_epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--report", type=Path, help="also write the naming report (width 1.0) as JSON here")
    args = parser.parse_args(argv)
    print(f"cropping the objects of {args.train_scenes} training and {args.test_scenes} test scenes ...", flush=True)
    train_scenes = make_scenes(load_split("train"), TRAIN_SEED, args.train_scenes, start=args.first_scene)
    test_scenes = make_scenes(load_split("test"), TEST_SEED, args.test_scenes)
    splits = scene_crops(train_scenes, args.jitter, args.seed), scene_crops(test_scenes)
    print(f"{len(splits[0])} training crops (jitter {args.jitter}), {len(splits[1])} test crops (true boxes)", flush=True)
    config = TrainConfig(epochs=args.epochs, threads=args.threads, seed=args.seed, lr=args.lr, warmup_epochs=args.warmup_epochs)
    start = load_model(args.init_from)[0] if args.init_from else None
    model, accuracy = train(config, args.out, splits=splits, model=start, distill=True, log=lambda line: print(line, flush=True))
    set_width(model, 1.0)
    report = {"namer": "fashion_cnn, all widths, on crops of Fashion scenes", "train_crops": len(splits[0]), "jitter": args.jitter,
              "epochs": args.epochs, "top1_by_width": {str(w): round(a, 4) for w, a in accuracy.items()},
              "width_1": naming_report(test_scenes, classifier_scores(model, splits[1], test_scenes), 10)}
    print(json.dumps(report, indent=2), flush=True)
    save_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
