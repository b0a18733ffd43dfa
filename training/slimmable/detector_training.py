"""Joint training of the slimmable detector on Fashion scenes: every step runs every width (widest
first), sums the gradients, takes one optimizer step. Resumable: rerunning the same run goes on from
its ``last.pt``. The CLI is slimmable.train_detector; the recipe's options are described there.

``DetectorTraining`` is the part of a run a variant may replace (the model, each batch's targets, an
extra loss, modules a starting checkpoint may lack): the shipped recipe uses it as it is.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Mapping, Sequence, TypeVar, cast

import torch
from torch import nn

from .checkpoint import load_checkpoint
from .data import Split, load_split
from .detection import CLASS_SCORES, Targets, centre_class_loss, detection_loss, heatmap_distillation, make_targets
from .detector_eval import evaluate_detector, stack_images, to_input
from .layers import set_width
from .models import build_model, kwargs_from_recipe
from .optim import learning_rate, make_optimizer
from .scenes import TEST_SEED, TRAIN_SEED, Scene, make_scenes
from .train import resume, save_checkpoint

# A loss on one width's output (N x C+4 x H x W) of the current batch, added to the recipe's losses.
OutputLoss = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class DetectorConfig:
    widths: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    input_size: int = 128
    epochs: int = 14
    train_scenes: int = 20000
    val_scenes: int = 300
    test_scenes: int = 2000
    batch_size: int = 32
    lr: float = 0.02
    weight_decay: float = 5e-5
    warmup_epochs: float = 1.0
    seed: int = 0
    threads: int = 0
    fresh_scenes: bool = False  # new scenes every epoch (a fixed set is memorised: train mAP 0.90 vs test 0.81)
    distill: float = 0.0  # weight of the heatmap distillation loss for the widths below the widest
    init_from: str = ""  # a checkpoint (final.pt or last.pt) or bundle whose weights start the run
    stage_channels: list[int] = field(default_factory=lambda: [24, 48, 128, 256])
    stage_depths: list[int] = field(default_factory=lambda: [1, 2, 3, 2])
    class_loss: float = 0.0  # weight of the cross-entropy on the class logits at object centres (0: off)
    box_channels: int = 0  # channels of a separate box branch at width 1.0 (0: the head predicts classes and boxes)
    class_score: str = "heatmap"  # how decoding scores classes (detection.class_scores): the measured mAP and the bundle use it
    bf16: bool = False  # bfloat16 autocast for the training steps (2x faster on AVX512-BF16 CPUs); eval stays float32


class DetectorTraining:
    """What a run builds and optimises beyond the shared loop. Subclasses change a part of it."""

    arch = "slimmable_detector"
    grown_modules: tuple[str, ...] = ()  # state-dict key prefixes the model may add to an --init-from checkpoint

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config

    def build_model(self) -> nn.Module:
        return build_model(self.arch, widths=self.config.widths, **kwargs_from_recipe(self.arch, asdict(self.config)))

    def targets(self, batch: list[Scene], flips: list[bool], num_classes: int) -> Targets:
        return make_targets(batch, num_classes, self.config.input_size, flips)

    def extra_loss(self, batch: list[Scene], flips: list[bool], targets: Targets, num_classes: int) -> OutputLoss | None:
        """A further loss for every width's output on this batch (None: the recipe's losses alone)."""
        return None


def training_scenes(split: Split, config: DetectorConfig, epoch: int, fresh_before: int = 0) -> list[Scene]:
    """The scenes an epoch trains on: always the first ``train_scenes`` of the seed, or with
    ``fresh_scenes`` a new block per epoch, after the first (which a fixed-scene stage trained on) and
    after the ``fresh_before`` blocks that earlier fresh-scene stages used."""
    start = (1 + fresh_before + epoch) * config.train_scenes if config.fresh_scenes else 0
    return make_scenes(split, TRAIN_SEED + config.seed, config.train_scenes, start=start, size=config.input_size)


def fresh_epochs(stages: Sequence[Mapping[str, object]]) -> int:
    """How many fresh-scene blocks the given stage recipes used (a later stage starts after them)."""
    return sum(cast(int, s["epochs"]) for s in stages if s.get("fresh_scenes"))


def width_output(model: nn.Module, inputs: torch.Tensor, width: float, bf16: bool) -> torch.Tensor:
    """The model's output at one width as a training step computes it: under bfloat16 autocast when
    asked, always returned as float32 (the losses' logs and sigmoids need the precision)."""
    set_width(model, width)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return model(inputs).float()


def start_from(model: nn.Module, path: str, grown_modules: tuple[str, ...]) -> list[dict[str, object]]:
    """Load another run's weights (a checkpoint or a bundle) into ``model``; only keys under
    ``grown_modules`` may be missing. Returns the recipes of the runs it came from, first first."""
    start = load_checkpoint(Path(path))
    try:
        missing, unexpected = model.load_state_dict(start["model"], strict=False)  # type: ignore[arg-type]
    except RuntimeError as error:  # tensors of other shapes
        raise ValueError(f"{path} does not fit this model: {error}") from error
    if unexpected or any(not key.startswith(grown_modules) for key in missing):
        raise ValueError(f"{path} does not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return [*cast(list, start.get("earlier_stages", [])), start["config"]]


def train_detector(config: DetectorConfig, out_dir: Path, log: Callable[[str], None] = print,
                   variant: Callable[[DetectorConfig], DetectorTraining] = DetectorTraining) -> tuple[nn.Module, dict[float, dict[str, float]]]:
    """Train (or resume) a run and return the model with its test mAP per width."""
    run = variant(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    log(f"generating {config.train_scenes} training scenes and {config.test_scenes} test scenes ...")
    train_split = load_split("train")
    train_scenes = [] if config.fresh_scenes else training_scenes(train_split, config, 0)
    test_scenes = make_scenes(load_split("test"), TEST_SEED, config.test_scenes, size=config.input_size)
    val_scenes = test_scenes[: config.val_scenes]
    model = run.build_model()
    num_classes = int(getattr(model, "num_classes"))
    earlier_stages: list[dict[str, object]] = []  # the recipes of the runs this one started from, first first
    if config.init_from:
        earlier_stages = start_from(model, config.init_from, run.grown_modules)
        log(f"initialised from {config.init_from}")
    model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = config.train_scenes // config.batch_size
    total_steps, warmup = steps_per_epoch * config.epochs, int(config.warmup_epochs * steps_per_epoch)
    start_epoch, step, train_seconds = resume(out_dir, config, model, optimizer, generator, log)
    widest_first = sorted(config.widths, reverse=True)
    fresh_before = fresh_epochs(earlier_stages)  # scene blocks the earlier stages trained on
    for epoch in range(start_epoch, config.epochs):
        model.train()
        started = time.time()
        losses = {w: 0.0 for w in config.widths}
        if config.fresh_scenes:
            train_scenes = training_scenes(train_split, config, epoch, fresh_before)
        order = torch.randperm(len(train_scenes), generator=generator)
        for batch_start in range(0, steps_per_epoch * config.batch_size, config.batch_size):
            batch = [train_scenes[i] for i in order[batch_start : batch_start + config.batch_size].tolist()]
            flips = (torch.rand(len(batch), generator=generator) < 0.5).tolist()
            images = stack_images(batch)
            images = torch.where(torch.tensor(flips)[:, None, None, None], images.flip(3), images)
            inputs = to_input(images).contiguous(memory_format=torch.channels_last)
            targets = run.targets(batch, flips, num_classes)
            extra_loss = run.extra_loss(batch, flips, targets, num_classes)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config.lr, step, total_steps, warmup)
            optimizer.zero_grad(set_to_none=True)
            teacher: torch.Tensor | None = None
            for width in widest_first:
                output = width_output(model, inputs, width, config.bf16)
                loss = detection_loss(output, targets, num_classes)
                if config.class_loss:
                    loss = loss + config.class_loss * centre_class_loss(output, targets, num_classes)
                if extra_loss is not None:
                    loss = loss + extra_loss(output)
                if config.distill:
                    if teacher is None:
                        teacher = output.detach()  # the widest width, first: it teaches the narrower ones
                    else:
                        loss = loss + config.distill * heatmap_distillation(output, teacher, targets, num_classes)
                loss.backward()
                losses[width] += float(loss)
            nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            step += 1
        train_seconds += time.time() - started
        val = evaluate_detector(model, val_scenes, config.widths, num_classes, config.class_score)
        save_checkpoint(out_dir, config, model, optimizer, generator, epoch + 1, step, train_seconds)
        loss_text = " ".join(f"{w:g}:{losses[w] / steps_per_epoch:.3f}" for w in widest_first)
        val_text = " ".join(f"{w:g}:{val[w]['map50']:.3f}" for w in widest_first)
        log(f"epoch {epoch + 1}/{config.epochs} {time.time() - started:.0f}s | loss {loss_text} | val mAP@0.5 {val_text}")
    log(f"evaluating every width on {len(test_scenes)} test scenes ...")
    results = evaluate_detector(model, test_scenes, config.widths, num_classes, config.class_score)
    test_map = {f"{w:g}": r for w, r in results.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": run.arch, "widths": config.widths, "model": model.state_dict(), "config": asdict(config),
                "earlier_stages": earlier_stages, "test_map": test_map, "train_seconds": train_seconds}, out_dir / "final.pt")
    (out_dir / "result.json").write_text(json.dumps({"test_map": test_map, "train_seconds": round(train_seconds, 1), "config": asdict(config),
                                                     "earlier_stages": earlier_stages}, indent=2) + "\n")
    return model, results


def int_list(text: str) -> list[int]:
    """``24,48,128,256`` -> [24, 48, 128, 256] (an argparse type)."""
    return [int(part) for part in text.split(",")]


def add_shape_arguments(parser: argparse.ArgumentParser, defaults: DetectorConfig) -> None:
    """The options that shape the detector (its backbone stages and box branch)."""
    parser.add_argument("--stage-channels", type=int_list, default=defaults.stage_channels, help="channels of the four backbone stages at width 1.0, e.g. 24,48,128,256")
    parser.add_argument("--stage-depths", type=int_list, default=defaults.stage_depths, help="3x3 convolutions per backbone stage, e.g. 1,2,3,2")
    parser.add_argument("--box-channels", type=int, default=defaults.box_channels, help="a box branch of its own with this many channels (0: boxes share the class head)")


def add_training_arguments(parser: argparse.ArgumentParser, defaults: DetectorConfig) -> None:
    """Every option of a detector run; each one's destination is a DetectorConfig field."""
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, final.pt; a rerun resumes)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--train-scenes", type=int, default=defaults.train_scenes)
    parser.add_argument("--val-scenes", type=int, default=defaults.val_scenes)
    parser.add_argument("--test-scenes", type=int, default=defaults.test_scenes)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    parser.add_argument("--threads", type=int, default=defaults.threads)
    parser.add_argument("--fresh-scenes", action="store_true", help="draw new training scenes every epoch")
    parser.add_argument("--distill", type=float, default=defaults.distill, help="weight of the full-to-narrow heatmap distillation (0: off)")
    parser.add_argument("--init-from", default=defaults.init_from, help="start from this checkpoint's or bundle's weights (e.g. a first stage's final.pt)")
    add_shape_arguments(parser, defaults)
    parser.add_argument("--class-loss", type=float, default=defaults.class_loss, help="weight of the cross-entropy on the class logits at object centres (0: off)")
    parser.add_argument("--class-score", choices=CLASS_SCORES, default=defaults.class_score,
                        help="how decoding scores classes for the validation and test mAP (recorded in the bundle); rerunning a finished run with another re-measures the test mAP")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for training steps (evaluation stays float32)")


Config = TypeVar("Config", bound=DetectorConfig)


def config_from_arguments(args: argparse.Namespace, config_type: type[Config]) -> Config:
    """The config whose fields the parsed options set (fields without an option keep their defaults)."""
    return config_type(**{f.name: getattr(args, f.name) for f in fields(config_type) if hasattr(args, f.name)})


def train_and_report(config: DetectorConfig, out_dir: Path, variant: Callable[[DetectorConfig], DetectorTraining] = DetectorTraining) -> int:
    """A CLI's run: train, logging to stdout, then print the test mAP per width."""
    _, results = train_detector(config, out_dir, log=lambda line: print(line, flush=True), variant=variant)
    for width, r in sorted(results.items()):
        print(f"width {width:g}: mAP@0.5 {r['map50']:.4f}  mAP@[.5:.95] {r['map']:.4f}", flush=True)
    return 0
