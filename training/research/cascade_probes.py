"""The choices behind slimmable.cascade, measured: where the threshold applies, how the two scores
combine, test-time flips, and how far perfect naming of the detector's boxes would go.

Every variant starts from the same decoded boxes (detector score above 0.05) at one width:

- ``named``: detector score x the namer's probability of the box's class (each box keeps the class the
  detector decoded it with);
- ``named, threshold on the named score``: the same, boxes whose named score is 0.05 or less dropped;
- ``named x p^0.5`` and ``x p^2``: the probability weighted less or more;
- ``named + the namer's top class``: each box also answered for the namer's own best class;
- ``flips``: the detector's output averaged with its output on the mirrored scene (boxes decoded
  from the average), named, and named by the namer averaged over mirrored crops;
- ``oracle naming``: each box kept with its score only if its class is that of the true box it
  overlaps most (the ceiling of re-scoring the detector's boxes);
- ``fused``: what /detect does (slimmable.cascade.name_detections): every distinct box answered
  for every class, scored objectness x (class score / objectness)^power x p, at several powers; with
  answers at or below 0.05 dropped; with the decoded classes only; and with flips of both models.

    python3 -m research.cascade_probes --detector runs/fashion-detector-branch/final.pt \\
      --namer runs/fashion-scene-namer/final.pt --scenes 500 --out ../docs/detection/cascade-probes.json
    python3 -m research.cascade_probes --detector ../models/fashion-detector --namer ../models/fashion-scene-namer \\
      --scenes 500 --fusion --out ../docs/detection/cascade-probes-fusion.json   # the bundles, as shipped
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

import torch
from torch import nn

from slimmable.cascade import answers, distinct_boxes, fuse, load_pair, namer_probabilities, pair_arguments, with_mirrored
from slimmable.data import LABELS
from slimmable.detection import Detections, box_iou, decode, decode_with_class_scores, evaluate_map, nms
from slimmable.detector_eval import raw_outputs, recorded_class_score
from slimmable.layers import set_width
from slimmable.naming import save_report
from slimmable.scenes import Scene

Rescore = Callable[[Detections, torch.Tensor, Scene], Detections]


def scaled(power: float, threshold: float = 0.0) -> Rescore:
    def rescore(d: Detections, p: torch.Tensor, _scene: Scene) -> Detections:
        scores = d.scores * p[torch.arange(len(d.labels)), d.labels] ** power
        keep = scores > threshold
        return Detections(d.boxes[keep], scores[keep], d.labels[keep])
    return rescore


def with_namer_top_class(d: Detections, p: torch.Tensor, _scene: Scene) -> Detections:
    rows = torch.arange(len(d.labels))
    top = p.argmax(1)
    extra = top != d.labels
    boxes = torch.cat([d.boxes, d.boxes[extra]])
    labels = torch.cat([d.labels, top[extra]])
    scores = torch.cat([d.scores * p[rows, d.labels], d.scores[extra] * p[rows[extra], top[extra]]])
    keep = nms(boxes, scores, labels, 0.5)
    return Detections(boxes[keep], scores[keep], labels[keep])


def oracle(d: Detections, _p: torch.Tensor, scene: Scene) -> Detections:
    if len(scene.labels) == 0:
        return d
    right = scene.labels[box_iou(d.boxes, scene.boxes).argmax(1)] == d.labels
    return Detections(d.boxes, d.scores * right.float(), d.labels)


def rescored_map50(detections: list[Detections], scenes: list[Scene], namer: nn.Module, rescore: Rescore, flip: bool = False) -> float:
    out = [d if len(d.labels) == 0 else rescore(d, namer_probabilities(namer, s, d.boxes, flip), s) for s, d in zip(scenes, detections)]
    return round(evaluate_map(out, scenes, len(LABELS))["map50"], 4)


def fused_map50(outputs: torch.Tensor, scenes: list[Scene], namer: nn.Module, class_score: str, power: float, threshold: float = 0.0,
                flip: bool = False, decoded_only: bool = False) -> float:
    out = []
    for scene, output in zip(scenes, outputs):
        detections, scores = decode_with_class_scores(output, len(LABELS), class_score=class_score)
        if len(detections.labels) == 0:
            out.append(detections)
        elif decoded_only:
            fused = fuse(scores, namer_probabilities(namer, scene, detections.boxes, flip), power)
            out.append(Detections(detections.boxes, fused[torch.arange(len(detections.labels)), detections.labels], detections.labels))
        else:
            boxes, box_scores = distinct_boxes(detections, scores)
            out.append(answers(boxes, fuse(box_scores, namer_probabilities(namer, scene, boxes, flip), power), threshold, 100, 0.5))
    return round(evaluate_map(out, scenes, len(LABELS))["map50"], 4)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pair_arguments(parser, scenes=500)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--fusion", action="store_true", help="also the fused scoring of slimmable.cascade")
    args = parser.parse_args(argv)
    detector, meta, namer, scenes = load_pair(args)
    set_width(namer, args.width)
    classes, scoring = len(LABELS), recorded_class_score(meta)
    raw = raw_outputs(detector, scenes, args.width)
    mirrored_average = with_mirrored(raw, detector, scenes, args.width)  # each computed once, for every variant
    plain = [decode(o, classes, class_score=scoring) for o in raw]
    flips = [decode(o, classes, class_score=scoring) for o in mirrored_average]
    results = {
        "detector alone": round(evaluate_map(plain, scenes, classes)["map50"], 4),
        "named": rescored_map50(plain, scenes, namer, scaled(1.0)),
        "named, threshold 0.05 on the named score": rescored_map50(plain, scenes, namer, scaled(1.0, 0.05)),
        "named x p^0.5": rescored_map50(plain, scenes, namer, scaled(0.5)),
        "named x p^2": rescored_map50(plain, scenes, namer, scaled(2.0)),
        "named + the namer's top class": rescored_map50(plain, scenes, namer, with_namer_top_class),
        "detector flips, alone": round(evaluate_map(flips, scenes, classes)["map50"], 4),
        "detector flips, named": rescored_map50(flips, scenes, namer, scaled(1.0)),
        "detector and namer flips, named": rescored_map50(flips, scenes, namer, scaled(1.0), flip=True),
        "oracle naming of the detector's boxes": rescored_map50(plain, scenes, namer, oracle),
    }
    if args.fusion:
        results |= {f"fused, every class, power {p:g}": fused_map50(raw, scenes, namer, scoring, p) for p in (0.0, 0.5, 1.0)}
        results |= {
            "fused, power 0.5, answers at or below 0.05 dropped": fused_map50(raw, scenes, namer, scoring, 0.5, threshold=0.05),
            "fused, power 0.5, the decoded classes only": fused_map50(raw, scenes, namer, scoring, 0.5, decoded_only=True),
            "fused, power 0.5, flips of both models": fused_map50(mirrored_average, scenes, namer, scoring, 0.5, flip=True),
        }
    for name, value in results.items():
        print(f"{name}: mAP@0.5 {value:.4f}", flush=True)
    save_report(args.out, {"detector": str(args.detector), "namer": str(args.namer), "scenes": args.scenes, "width": args.width, "map50": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
