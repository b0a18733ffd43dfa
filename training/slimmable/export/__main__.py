"""Export a slimmable checkpoint to a bundle.

    python3 -m slimmable.export --checkpoint runs/fashion-classifier/final.pt --out ../models/fashion-classifier

Reference-style checkpoints (e.g. the published S-MobileNetV2) need --arch and --widths, and the
accuracy per width with --accuracy (the exporter cannot evaluate ImageNet here).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .. import data
from ..checkpoint import load_model
from ..distributed import Context
from ..models.detector import SlimmableDetector
from ..train import evaluate
from .bundle import bundle_size, write_bundle
from .specs import classifier_spec, detector_spec


def parse_accuracy(items: Sequence[str]) -> dict[float, float]:
    result: dict[float, float] = {}
    for item in items:
        width, _, value = item.partition("=")
        try:
            result[float(width)] = float(value)
        except ValueError:
            raise SystemExit(f"--accuracy expects WIDTH=ACCURACY pairs such as 1.0=0.712, got {item!r}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to (re)write")
    parser.add_argument("--name", help="model name served by the API (default: the folder name)")
    parser.add_argument("--arch", help="architecture, for checkpoints that do not record it")
    parser.add_argument("--widths", type=float, nargs="+", help="width list, for checkpoints that do not record it")
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--in-channels", type=int)
    parser.add_argument("--num-classes", type=int)
    parser.add_argument("--accuracy", nargs="+", default=[], help="measured top-1 per width: 1.0=0.705 0.75=0.689 ...")
    parser.add_argument("--labels", type=Path, help="text file, one label per line (default: Fashion-MNIST's)")
    parser.add_argument("--evaluate", action="store_true", help="re-measure accuracy on the Fashion-MNIST test split")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--namer", help="detectors: the bundle name of the scene namer that names their boxes (needs --cascade)")
    parser.add_argument("--cascade", type=Path, help="detectors: slimmable.cascade's report of this detector with that namer (the mAP the bundle records)")
    args = parser.parse_args(argv)

    model_kwargs = {k: v for k, v in (("input_size", args.input_size), ("in_channels", args.in_channels), ("num_classes", args.num_classes)) if v}
    print(f"loading {args.checkpoint}", flush=True)
    model, meta = load_model(args.checkpoint, args.arch, args.widths, **model_kwargs)
    widths: list[float] = sorted(getattr(model, "widths"))
    is_fashion = (int(getattr(model, "in_channels")), int(getattr(model, "input_size")), int(getattr(model, "num_classes"))) == (1, 28, 10)

    accuracy = {float(w): float(a) for w, a in dict(meta.get("test_accuracy") or {}).items()}  # type: ignore[arg-type]
    accuracy.update(parse_accuracy(args.accuracy))
    if args.evaluate or (is_fashion and not accuracy):
        if args.data_dir:
            import os

            os.environ[data.DATA_DIR_ENV] = args.data_dir
        print("measuring top-1 on the Fashion-MNIST test split ...", flush=True)
        accuracy = evaluate(model, data.load_split("test"), widths, Context())
    if args.labels:
        labels = [line.strip() for line in args.labels.read_text().splitlines() if line.strip()]
    elif is_fashion:
        labels = list(data.LABELS)
    else:
        labels = [f"class {i}" for i in range(int(getattr(model, "num_classes")))]
    if isinstance(model, SlimmableDetector):  # the shipped detector, or a registered variant of it
        if bool(args.namer) != bool(args.cascade):
            parser.error("--namer and --cascade go together: the namer's name and the report that measured it with this detector")
        spec = detector_spec(model, meta, args.name or args.out.name, args.namer, args.cascade)
    else:
        spec = classifier_spec(args.name or args.out.name, labels, accuracy, {"training": meta.get("config", {}), "checkpoint": args.checkpoint.name}, is_fashion)
    write_bundle(model, spec, args.out, log=lambda line: print(line, flush=True))
    total, graph = bundle_size(args.out)
    print(f"wrote {args.out}: {total} bytes, {total / graph:.3f}x the full-width graph ({graph} bytes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
