"""Export an UNTRAINED model as a bundle for latency measurements only (e.g. an ImageNet-size
S-MobileNetV2 for the width speed-up benchmark). Its manifest says `"latency_only": true` and its
accuracy fields are 0: it is never a classifier to serve.

    python3 -m slimmable.export.latency_only --arch s_mobilenet_v2 --out ../bench/tmp/s-mobilenet-v2-latency-only
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from ..models import build_model
from .bundle import bundle_size, write_bundle
from .specs import classifier_spec


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="s_mobilenet_v2")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    model = build_model(args.arch).eval()
    widths = sorted(getattr(model, "widths"))
    labels = [f"class {i}" for i in range(int(getattr(model, "num_classes")))]
    extra: dict[str, object] = {"latency_only": True, "note": "random weights: for latency measurements only, never served as a classifier"}
    spec = classifier_spec(args.out.name, labels, {w: 0.0 for w in widths}, extra, fashion=False)
    write_bundle(model, spec, args.out, log=lambda line: print(line, flush=True))
    total, graph = bundle_size(args.out)
    print(f"wrote {args.out} (latency only): {total} bytes, {total / graph:.3f}x the full-width graph", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
