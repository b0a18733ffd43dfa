"""Time one joint training step of the detector (every width forward and backward, widest first), in
float32 and under bfloat16 autocast, to size a recipe to the training budget. Run it alone: the
numbers are only comparable within one run.

    python3 -m research.step_timing --stage-channels 32,64,160,256 --stage-depths 2,3,4,2
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import torch

from slimmable.detector_training import DetectorConfig, add_shape_arguments, width_output
from slimmable.models import build_model


def step_seconds(model: torch.nn.Module, inputs: torch.Tensor, widths: Sequence[float], bf16: bool, repeats: int) -> float:
    """Median wall time of ``repeats`` steps after one warm-up step (gradients are dropped, no update)."""
    times: list[float] = []
    for attempt in range(repeats + 1):
        started = time.perf_counter()
        for width in sorted(widths, reverse=True):
            width_output(model, inputs, width, bf16).square().mean().backward()
        model.zero_grad(set_to_none=True)
        if attempt:
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main(argv: Sequence[str] | None = None) -> int:
    defaults = DetectorConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_shape_arguments(parser, defaults)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model("slimmable_detector", widths=defaults.widths, stage_channels=args.stage_channels, stage_depths=args.stage_depths, box_channels=args.box_channels)
    model.train().to(memory_format=torch.channels_last)
    inputs = torch.randn(args.batch_size, 1, defaults.input_size, defaults.input_size).contiguous(memory_format=torch.channels_last)
    steps = defaults.train_scenes // args.batch_size
    print(f"stages {args.stage_channels} x {args.stage_depths}, box branch {args.box_channels}, batch {args.batch_size}, {args.threads} threads", flush=True)
    for name, bf16 in (("float32", False), ("bfloat16", True)):
        seconds = step_seconds(model, inputs, defaults.widths, bf16, args.repeats)
        print(f"{name:9s} {seconds:.3f} s per step, {seconds * steps:.0f} s per epoch of {defaults.train_scenes} scenes (steps only)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
