"""The detector and the scene namer together, as POST /detect runs them: mAP per width.

At each width the detector's decoded boxes (its score above 0.05, as in every mAP here) are taken
once each (a cell decoded for two classes is one box), cropped (slimmable.namer.crop_boxes) and
named by the namer at the same width. Each box is then answered once per class, scored

    objectness x (detector's class score / objectness) ^ power x namer's probability of the class

(``fuse``; objectness is the box's best class score), and class-wise NMS keeps the best 100 answers.
The power weighs the detector's opinion of the class against the namer's; it is fitted on validation
scenes of the train split (never on the test scenes) and written into the bundle. mAP counts every
answer; /detect's scoreThreshold drops answers below it from the same list (a box whose objectness
is below the threshold cannot answer, so the server does not crop it). At the ``--flip-widths``
both models also see the mirrored scene and crops and average their outputs (test-time flips).

    python3 -m slimmable.cascade --detector ../models/fashion-detector --namer ../models/fashion-scene-namer \\
      --flip-widths 1.0 --out ../docs/detection/cascade.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .checkpoint import load_model
from .data import LABELS, load_split, normalize
from .detection import Detections, decode_with_class_scores, evaluate_map, nms
from .detector_eval import raw_outputs, recorded_class_score
from .layers import set_width
from .namer import crop_boxes
from .naming import save_report
from .scenes import TEST_SEED, TRAIN_SEED, Scene, make_scenes


def namer_probabilities(namer: nn.Module, scene: Scene, boxes: torch.Tensor, flip: bool = False) -> torch.Tensor:
    """The namer's class probabilities for each box's crop (with ``flip``, averaged with the mirrored crop's)."""
    crops = normalize(crop_boxes(scene.image, boxes))
    with torch.no_grad():
        p = torch.softmax(namer(crops), 1)
        return (p + torch.softmax(namer(crops.flip(-1)), 1)) / 2 if flip else p


DETECTOR_THRESHOLD = 0.05  # the decoder's score threshold for the detector's boxes, as in every mAP here
VALIDATION_START = 1_000_000  # train-split scenes past every block the detector and the namer trained on


def fuse(class_scores: torch.Tensor, probabilities: torch.Tensor, detector_power: float) -> torch.Tensor:
    """Each box's score for every class (K x C): the detector's objectness (its best class score at
    the box's cell) x its class scores relative to that best, raised to ``detector_power``, x the
    namer's probabilities. A power below 1 lets the namer, which names better, outweigh the detector;
    0 would ignore the detector's classes, 1 multiplies the two scores as they are."""
    objectness = class_scores.amax(1, keepdim=True).clamp(min=1e-12)
    return objectness * (class_scores / objectness) ** detector_power * probabilities


def mirrored_outputs(detector: nn.Module, scenes: list[Scene], width: float, num_classes: int) -> torch.Tensor:
    """The detector's raw output on the mirrored scenes, mirrored back (the x offset within a cell
    mirrors to 1 - offset)."""
    mirrored = raw_outputs(detector, [Scene(s.image.flip(-1), s.boxes, s.labels) for s in scenes], width).flip(-1)
    mirrored[:, num_classes + 2] = 1 - mirrored[:, num_classes + 2]
    return mirrored


def with_mirrored(plain: torch.Tensor, detector: nn.Module, scenes: list[Scene], width: float) -> torch.Tensor:
    """``plain`` (the detector's raw outputs for the scenes) averaged with its outputs on the mirrored scenes."""
    return (plain + mirrored_outputs(detector, scenes, width, len(LABELS))) / 2


def distinct_boxes(detections: Detections, class_scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The decoded boxes once each (a cell decoded for several classes gives one box several
    times), best first, with the class scores at their cells."""
    first: dict[tuple[float, ...], int] = {}
    for index, box in enumerate(detections.boxes.tolist()):
        first.setdefault(tuple(box), index)
    keep = torch.tensor(list(first.values()), dtype=torch.int64)
    return detections.boxes[keep], class_scores[keep]


def answers(boxes: torch.Tensor, fused: torch.Tensor, score_threshold: float, max_detections: int, iou_threshold: float) -> Detections:
    """Every (box, class) whose fused score passes the threshold, class-wise NMS, the best first."""
    box_index, labels = (fused > score_threshold).nonzero(as_tuple=True)
    scores = fused[box_index, labels]
    keep = nms(boxes[box_index], scores, labels, iou_threshold)[:max_detections]
    return Detections(boxes[box_index][keep], scores[keep], labels[keep])


def name_detections(namer: nn.Module, scene: Scene, detections: Detections, class_scores: torch.Tensor, detector_power: float,
                    score_threshold: float = 0.0, max_detections: int = 100, iou_threshold: float = 0.5, flip: bool = False) -> Detections:
    """Name one scene's decoded boxes (what /detect does): each distinct box is answered once per
    class whose fused score passes ``score_threshold``, then class-wise NMS and the best
    ``max_detections``. ``class_scores``: every class's score at each detection's cell
    (decode_with_class_scores). A box whose objectness is below the threshold cannot answer, so the
    server names only the others. ``flip``: the namer also sees the mirrored crops."""
    if len(detections.scores) == 0:
        return detections
    boxes, scores = distinct_boxes(detections, class_scores)
    fused = fuse(scores, namer_probabilities(namer, scene, boxes, flip), detector_power)
    return answers(boxes, fused, score_threshold, max_detections, iou_threshold)


def cascade_map(detector: nn.Module, namer: nn.Module, scenes: list[Scene], width: float, class_score: str,
                powers: Sequence[float], flip: bool = False) -> dict[str, dict[str, float]]:
    """mAP at one width of the detector alone (``detector``) and of the pair for each detector power
    (keys ``power <p>``). The namer runs once per distinct box; only the fusion changes with the power.
    ``flip``: both models also see the mirrored scene and crops and their outputs are averaged (the
    detector alone is still measured without, as its checkpoint was)."""
    plain = raw_outputs(detector, scenes, width)
    outputs = with_mirrored(plain, detector, scenes, width) if flip else plain
    decoded = [decode_with_class_scores(o, len(LABELS), DETECTOR_THRESHOLD, class_score=class_score) for o in outputs]
    namer.eval()
    set_width(namer, width)
    named: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for scene, (detections, class_scores) in zip(scenes, decoded):
        boxes, scores = distinct_boxes(detections, class_scores)
        named.append((boxes, scores, namer_probabilities(namer, scene, boxes, flip) if len(boxes) else scores))
    alone = [decode_with_class_scores(o, len(LABELS), DETECTOR_THRESHOLD, class_score=class_score)[0] for o in plain] if flip else [d for d, _ in decoded]
    result = {"detector": evaluate_map(alone, scenes, len(LABELS))}  # the detector alone, as its checkpoint measured it
    for power in powers:
        pair = [answers(boxes, fuse(scores, p, power), 0.0, 100, 0.5) for boxes, scores, p in named]
        result[f"power {power:g}"] = evaluate_map(pair, scenes, len(LABELS))
    return result


def pair_arguments(parser: argparse.ArgumentParser, scenes: int) -> None:
    """The options of a CLI that evaluates a detector with its namer (this one, and probes of the pair)."""
    parser.add_argument("--detector", type=Path, required=True, help="slimmable.train_detector's final.pt, or a detector bundle folder")
    parser.add_argument("--namer", type=Path, required=True, help="slimmable.namer's final.pt, or a namer bundle folder")
    parser.add_argument("--scenes", type=int, default=scenes, help="the first test scenes (seed 1)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")


def load_pair(args: argparse.Namespace) -> tuple[nn.Module, dict[str, object], nn.Module, list[Scene]]:
    """The detector (and its checkpoint's metadata), the namer in eval mode, and the test scenes."""
    if args.threads:
        torch.set_num_threads(args.threads)
    detector, meta = load_model(args.detector)
    namer, _ = load_model(args.namer)
    namer.eval()
    print(f"generating {args.scenes} test scenes ...", flush=True)
    return detector, meta, namer, make_scenes(load_split("test"), TEST_SEED, args.scenes)


def fit_detector_power(detector: nn.Module, namer: nn.Module, class_score: str, widths: Sequence[float], powers: Sequence[float],
                       count: int, flip_widths: Sequence[float] = ()) -> tuple[float, dict[str, dict[str, float]]]:
    """The detector power with the best mAP@0.5 averaged over the widths, on validation scenes of the
    train split past every scene the detector and the namer trained on (never on the test scenes)."""
    scenes = make_scenes(load_split("train"), TRAIN_SEED, count, start=VALIDATION_START)
    table: dict[str, dict[str, float]] = {f"{p:g}": {} for p in powers}
    for width in widths:
        result = cascade_map(detector, namer, scenes, width, class_score, powers, width in flip_widths)
        for power in powers:
            table[f"{power:g}"][f"{width:g}"] = round(result[f"power {power:g}"]["map50"], 6)
        print(f"validation, width {width:g}: " + ", ".join(f"power {p:g} {table[f'{p:g}'][f'{width:g}']:.4f}" for p in powers), flush=True)
    best = max(powers, key=lambda p: sum(table[f"{p:g}"].values()))
    return best, table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pair_arguments(parser, scenes=2000)
    parser.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--powers", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0], help="detector powers to fit on validation scenes")
    parser.add_argument("--fit-scenes", type=int, default=1000, help="validation scenes of the train split the power is fitted on")
    parser.add_argument("--detector-power", type=float, help="use this power instead of fitting one")
    parser.add_argument("--flip-widths", type=float, nargs="*", default=[],
                        help="widths with test-time flips: both models also see the mirrored scene and crops")
    args = parser.parse_args(argv)
    detector, meta, namer, scenes = load_pair(args)
    class_score = recorded_class_score(meta)
    fit: dict[str, object] = {}
    if args.detector_power is None:
        power, table = fit_detector_power(detector, namer, class_score, args.widths, args.powers, args.fit_scenes, args.flip_widths)
        fit = {"split": "train", "seed": TRAIN_SEED, "first_scene": VALIDATION_START, "scenes": args.fit_scenes, "map50": table}
        print(f"fitted detector power {power:g}", flush=True)
    else:
        power = args.detector_power
    results: dict[str, dict[str, dict[str, float]]] = {}
    for width in args.widths:
        start = time.perf_counter()
        result = cascade_map(detector, namer, scenes, width, class_score, [power], width in args.flip_widths)
        pair = result[f"power {power:g}"]
        results[f"{width:g}"] = {"detector": {m: round(v, 6) for m, v in result["detector"].items()}, "named": {m: round(v, 6) for m, v in pair.items()},
                                 "test_time_flip": width in args.flip_widths}
        print(f"width {width:g}: detector mAP@0.5 {result['detector']['map50']:.4f} [.5:.95] {result['detector']['map']:.4f}; "
              f"named {pair['map50']:.4f} [.5:.95] {pair['map']:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    report = {"detector": str(args.detector), "namer": str(args.namer), "scenes": args.scenes, "score_threshold": DETECTOR_THRESHOLD,
              "detector_power": power, "fit": fit, "widths": results}
    save_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
