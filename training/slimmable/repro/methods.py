"""The training methods compared in the reproduction, each trained with the same recipe, epochs and
seed, and each returning its top-1 test accuracy per width.

individual   one separately trained model per width
switchable   joint training with switchable BN (the paper's slimmable network)
shared_bn    the same joint training with ONE shared BN (evaluated with its running statistics, and
             again after recomputing the statistics per width)
incremental  train the narrowest width, freeze it, add the next width's channels and train those, ...
usnet        US-Nets: sandwich rule + in-place distillation, shared BN, post-training calibration,
             evaluated at the four widths and at widths in between
"""
from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..data import Split, load_split
from ..distributed import Context
from ..layers import SlimmableConv2d, SlimmableLinear
from ..models import build_model
from ..train import TrainConfig, evaluate, train
from .calibrate import calibrated_copy

WIDTHS = [0.25, 0.5, 0.75, 1.0]
US_EVAL_WIDTHS = [0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
US_WIDTHS = [0.25 + k / 32 for k in range(25)]  # 0.25 .. 1.0 in steps of 1/32

Result = dict[str, object]


def _accuracy(values: dict[float, float]) -> dict[str, float]:
    return {f"{w:g}": round(a, 4) for w, a in sorted(values.items())}


def run_individual(config: TrainConfig, run_dir: Path, log: Callable[[str], None]) -> Result:
    accuracy: dict[float, float] = {}
    for width in WIDTHS:
        model = build_model("fashion_cnn", widths=[width])
        _, acc = train(replace(config, widths=[width]), run_dir / f"width-{width:g}", model=model, log=log)
        accuracy[width] = acc[width]
    return {"accuracy": _accuracy(accuracy)}


def run_switchable(config: TrainConfig, run_dir: Path, log: Callable[[str], None]) -> Result:
    _, accuracy = train(config, run_dir, log=log)
    return {"accuracy": _accuracy(accuracy)}


def run_shared_bn(config: TrainConfig, run_dir: Path, log: Callable[[str], None], calibration: Split) -> Result:
    model, accuracy = train(config, run_dir, model=build_model("fashion_cnn", widths=config.widths, bn="shared"), log=log)
    test = _test_split(config)
    recalibrated = {w: evaluate(calibrated_copy(model, w, calibration), test, [w], Context())[w] for w in config.widths}
    return {"accuracy": _accuracy(accuracy), "accuracy_recalibrated": _accuracy(recalibrated)}


class FreezePrefix:
    """Restore the weights a narrower width owns after every optimizer step (incremental training:
    earlier widths are frozen; momentum and weight decay would otherwise still move them)."""

    def __init__(self, model: nn.Module, width_index: int) -> None:
        self.saved: list[tuple[torch.Tensor, tuple[slice, ...], torch.Tensor]] = []
        for module in model.modules():
            if isinstance(module, (SlimmableConv2d, SlimmableLinear)):
                lists = (module.out_channels_list, module.in_channels_list) if isinstance(module, SlimmableConv2d) else (module.out_features_list, module.in_features_list)
                out_c, in_c = lists[0][width_index], lists[1][width_index]
                depthwise = isinstance(module, SlimmableConv2d) and module.depthwise
                block = (slice(0, out_c), slice(0, 1 if depthwise else in_c))
                self.saved.append((module.weight, block, module.weight.data[block].clone()))
                if module.bias is not None:
                    self.saved.append((module.bias, (slice(0, out_c),), module.bias.data[:out_c].clone()))

    def __call__(self, _model: nn.Module) -> None:
        with torch.no_grad():
            for tensor, block, value in self.saved:
                tensor.data[block] = value


def run_incremental(config: TrainConfig, run_dir: Path, log: Callable[[str], None]) -> Result:
    model = build_model("fashion_cnn", widths=config.widths)
    for index, width in enumerate(config.widths):
        freeze = FreezePrefix(model, index - 1) if index > 0 else None
        # Every stage trains only its width; the narrower widths' weights stay as they were.
        model, _ = train(config, run_dir / f"stage-{width:g}", sampler=lambda _g, _w, w=width: [w], model=model,
                         log=log, after_step=freeze, eval_widths=config.widths[: index + 1])
    accuracy = evaluate(model, _test_split(config), config.widths, Context())
    return {"accuracy": _accuracy(accuracy)}


def sandwich(generator: torch.Generator, widths: list[float]) -> list[float]:
    """US-Nets' sandwich rule: the widest, two random widths in between, the narrowest."""
    inner = widths[1:-1]
    picks = torch.randperm(len(inner), generator=generator)[:2].tolist()
    return [widths[-1], *sorted((inner[i] for i in picks), reverse=True), widths[0]]


def run_usnet(config: TrainConfig, run_dir: Path, log: Callable[[str], None], calibration: Split) -> Result:
    model = build_model("fashion_cnn", widths=US_WIDTHS, bn="shared")
    model, _ = train(replace(config, widths=US_WIDTHS), run_dir, sampler=sandwich, model=model, log=log,
                     distill=True, eval_widths=[1.0])
    test = _test_split(config)
    calibrated = {w: evaluate(calibrated_copy(model, w, calibration), test, [w], Context())[w] for w in US_EVAL_WIDTHS}
    return {"accuracy": _accuracy(calibrated), "widths_evaluated": US_EVAL_WIDTHS}


def _test_split(config: TrainConfig) -> Split:
    test = load_split("test")
    return test.subset(config.test_subset) if config.test_subset else test


METHODS = ("individual", "switchable", "shared_bn", "incremental", "usnet")


def run_method(name: str, config: TrainConfig, run_dir: Path, log: Callable[[str], None]) -> Result:
    """Train and evaluate one method; adds its training time (summed over resumed runs)."""
    random.seed(config.seed)
    train_split = load_split("train")
    calibration = train_split.subset(config.train_subset) if config.train_subset else train_split
    if name == "individual":
        result = run_individual(config, run_dir, log)
    elif name == "switchable":
        result = run_switchable(config, run_dir, log)
    elif name == "shared_bn":
        result = run_shared_bn(config, run_dir, log, calibration)
    elif name == "incremental":
        result = run_incremental(config, run_dir, log)
    elif name == "usnet":
        result = run_usnet(config, run_dir, log, calibration)
    else:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    result["train_seconds"] = round(sum(json.loads(p.read_text())["train_seconds"] for p in run_dir.rglob("result.json")), 1)
    return result


def bn_overhead_percent(widths: list[float]) -> float:
    """Extra parameters of switchable BN over one shared BN, in percent of the shared-BN model."""
    switchable = sum(p.numel() for p in build_model("fashion_cnn", widths=widths).parameters())
    shared = sum(p.numel() for p in build_model("fashion_cnn", widths=widths, bn="shared").parameters())
    return 100.0 * (switchable - shared) / shared
