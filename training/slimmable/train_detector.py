"""Joint training of the slimmable detector on Fashion scenes: every step runs every width (widest
first), sums the gradients, takes one optimizer step. Resumable: rerun the same command.

    python3 -m slimmable.train_detector --out runs/fashion-detector --epochs 14

Options for later stages (what `npm run train:detector` runs after the first): ``--init-from`` starts
from another run's weights, ``--fresh-scenes`` draws new training scenes every epoch (after the first
``--train-scenes`` and after the blocks earlier fresh-scene stages used, so no stage sees another's
scenes), and ``--distill`` adds in-place distillation from the full width to the narrower ones.
Probes of the naming gap, not in the shipped recipe (docs/detection.md): ``--crop-teacher``,
``--fine-class-channels`` (grown onto an ``--init-from`` detector) and ``--smallest-wins``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence, cast

import torch
from torch import nn

from .checkpoint import load_checkpoint
from .crop_teacher import CropTeacher, centre_distillation
from .data import Split, load_split
from .detection import CLASS_SCORES, Detections, centre_class_loss, decode, detection_loss, evaluate_map, heatmap_distillation, make_targets
from .layers import set_width
from .models import build_model, kwargs_from_recipe
from .optim import learning_rate, make_optimizer
from .scenes import Scene, make_scenes
from .train import resume, save_checkpoint

TRAIN_SEED, TEST_SEED = 0, 1
# Modules a later stage may add to the detector it starts from (they start as a no-op, see detector.py).
GROWN_MODULES = ("fine_lateral.", "fine_neck.", "fine_head.", "predict_fine.")
# Normalisation of scene pixels (pixel / 255 - MEAN) / STD; recorded in the bundle's manifest.
MEAN, STD = 0.25, 0.25


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
    init_from: str = ""  # a checkpoint (final.pt or last.pt) whose weights start the run
    stage_channels: list[int] = field(default_factory=lambda: [24, 48, 128, 256])
    stage_depths: list[int] = field(default_factory=lambda: [1, 2, 3, 2])
    class_loss: float = 0.0  # weight of the cross-entropy on the class logits at object centres (0: off)
    box_channels: int = 0  # channels of a separate box branch at width 1.0 (0: the head predicts classes and boxes)
    class_score: str = "heatmap"  # how decoding scores classes (detection.class_scores): the measured mAP and the bundle use it
    bf16: bool = False  # bfloat16 autocast for the training steps (2x faster on AVX512-BF16 CPUs); eval stays float32
    smallest_wins: bool = False  # heatmap targets give a cell inside a smaller object's box to that object (detection.make_targets)
    fine_class_channels: int = 0  # channels of a stride-4 class path added to the class logits (0: none)
    crop_teacher: str = ""  # a crop classifier's checkpoint (naming_ceiling) whose naming the class logits learn (crop_teacher.py)
    teacher_weight: float = 0.0  # weight of that distillation at every width (0: off)
    teacher_temperature: float = 2.0


def recorded_class_score(meta: Mapping[str, object]) -> str:
    """The class scoring a checkpoint's run measured its mAP with (runs from before the option: heatmap)."""
    config = meta.get("config")
    return str(config.get("class_score", "heatmap")) if isinstance(config, dict) else "heatmap"


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


def to_input(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0 - MEAN) / STD


def stack(scenes: list[Scene]) -> torch.Tensor:
    return torch.stack([s.image for s in scenes])


def raw_outputs(model: nn.Module, scenes: list[Scene], width: float) -> torch.Tensor:
    """The model's raw output (N x C+4 x H x W) for every scene at one width (eval mode, chunks of 100)."""
    model.eval()
    set_width(model, width)
    with torch.no_grad():
        return torch.cat([model(to_input(stack(scenes[start : start + 100]))) for start in range(0, len(scenes), 100)])


def detect_all(model: nn.Module, scenes: list[Scene], width: float, num_classes: int, class_score: str = "heatmap") -> list[Detections]:
    """Detections for every scene at one width."""
    return [decode(o, num_classes, class_score=class_score) for o in raw_outputs(model, scenes, width)]


def evaluate_detector(model: nn.Module, scenes: list[Scene], widths: Sequence[float], num_classes: int,
                      class_score: str = "heatmap") -> dict[float, dict[str, float]]:
    return {width: evaluate_map(detect_all(model, scenes, width, num_classes, class_score), scenes, num_classes) for width in widths}


def train_detector(config: DetectorConfig, out_dir: Path, log: Callable[[str], None] = print) -> tuple[nn.Module, dict[float, dict[str, float]]]:
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    log(f"generating {config.train_scenes} training scenes and {config.test_scenes} test scenes ...")
    train_split = load_split("train")
    train_scenes = [] if config.fresh_scenes else training_scenes(train_split, config, 0)
    test_scenes = make_scenes(load_split("test"), TEST_SEED, config.test_scenes, size=config.input_size)
    val_scenes = test_scenes[: config.val_scenes]
    model = build_model("slimmable_detector", widths=config.widths, **kwargs_from_recipe("slimmable_detector", asdict(config)))
    num_classes = int(getattr(model, "num_classes"))
    earlier_stages: list[dict[str, object]] = []  # the recipes of the runs this one started from, first first
    if config.init_from:
        start = load_checkpoint(Path(config.init_from))
        try:
            missing, unexpected = model.load_state_dict(start["model"], strict=False)
        except RuntimeError as error:  # tensors of other shapes
            raise ValueError(f"{config.init_from} does not fit this model: {error}") from error
        if unexpected or any(not key.startswith(GROWN_MODULES) for key in missing):
            raise ValueError(f"{config.init_from} does not fit this model: missing {missing[:3]}, unexpected {unexpected[:3]}")
        earlier_stages = [*start.get("earlier_stages", []), start["config"]]
        log(f"initialised from {config.init_from}")
    model.to(memory_format=torch.channels_last)
    crop_teacher = CropTeacher(Path(config.crop_teacher), config.teacher_temperature, config.bf16) if config.teacher_weight else None
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
            images = stack(batch)
            images = torch.where(torch.tensor(flips)[:, None, None, None], images.flip(3), images)
            inputs = to_input(images).contiguous(memory_format=torch.channels_last)
            targets = make_targets(batch, num_classes, config.input_size, flips, config.smallest_wins)
            crop_targets = crop_teacher.centre_targets(batch, flips, num_classes, config.input_size) if crop_teacher else None
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config.lr, step, total_steps, warmup)
            optimizer.zero_grad(set_to_none=True)
            teacher: torch.Tensor | None = None
            for width in widest_first:
                output = width_output(model, inputs, width, config.bf16)
                loss = detection_loss(output, targets, num_classes)
                if config.class_loss:
                    loss = loss + config.class_loss * centre_class_loss(output, targets, num_classes)
                if crop_targets is not None:
                    loss = loss + config.teacher_weight * centre_distillation(output, crop_targets, targets, num_classes, config.teacher_temperature)
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
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": "slimmable_detector", "widths": config.widths, "model": model.state_dict(), "config": asdict(config),
                "earlier_stages": earlier_stages, "test_map": {f"{w:g}": r for w, r in results.items()}, "train_seconds": train_seconds}, out_dir / "final.pt")
    (out_dir / "result.json").write_text(json.dumps({"test_map": {f"{w:g}": r for w, r in results.items()}, "train_seconds": round(train_seconds, 1), "config": asdict(config), "earlier_stages": earlier_stages}, indent=2) + "\n")
    return model, results


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    defaults = DetectorConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--train-scenes", type=int, default=defaults.train_scenes)
    parser.add_argument("--val-scenes", type=int, default=defaults.val_scenes)
    parser.add_argument("--test-scenes", type=int, default=defaults.test_scenes)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--fresh-scenes", action="store_true", help="draw new training scenes every epoch")
    parser.add_argument("--distill", type=float, default=defaults.distill, help="weight of the full-to-narrow heatmap distillation (0: off)")
    parser.add_argument("--init-from", default="", help="start from this checkpoint's weights (e.g. a first stage's final.pt)")
    parser.add_argument("--stage-channels", type=int_list, default=defaults.stage_channels, help="channels of the four backbone stages at width 1.0, e.g. 24,48,128,256")
    parser.add_argument("--stage-depths", type=int_list, default=defaults.stage_depths, help="3x3 convolutions per backbone stage, e.g. 1,2,3,2")
    parser.add_argument("--class-loss", type=float, default=defaults.class_loss, help="weight of the cross-entropy on the class logits at object centres (0: off)")
    parser.add_argument("--box-channels", type=int, default=defaults.box_channels, help="a box branch of its own with this many channels (0: boxes share the class head)")
    parser.add_argument("--class-score", choices=CLASS_SCORES, default=defaults.class_score,
                        help="how decoding scores classes for the validation and test mAP (recorded in the bundle); rerunning a finished run with another re-measures the test mAP")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for training steps (evaluation stays float32)")
    parser.add_argument("--smallest-wins", action="store_true", help="cut a larger object's heatmap target inside the boxes of smaller objects (FCOS's rule)")
    parser.add_argument("--fine-class-channels", type=int, default=defaults.fine_class_channels,
                        help="a stride-4 class path with this many channels, added to the class logits (0: none); may be grown onto an --init-from detector")
    parser.add_argument("--crop-teacher", default="", help="a crop classifier's checkpoint (slimmable.naming_ceiling) to distil naming from")
    parser.add_argument("--teacher-weight", type=float, default=defaults.teacher_weight, help="weight of the crop teacher's distillation at object centres (0: off)")
    parser.add_argument("--teacher-temperature", type=float, default=defaults.teacher_temperature, help="softmax temperature of that distillation")
    args = parser.parse_args(argv)
    if args.teacher_weight and not args.crop_teacher:
        parser.error("--teacher-weight needs --crop-teacher (a crop classifier's checkpoint)")
    config = DetectorConfig(epochs=args.epochs, train_scenes=args.train_scenes, val_scenes=args.val_scenes, test_scenes=args.test_scenes,
                            batch_size=args.batch_size, lr=args.lr, warmup_epochs=args.warmup_epochs, seed=args.seed, threads=args.threads,
                            fresh_scenes=args.fresh_scenes, distill=args.distill, init_from=args.init_from,
                            stage_channels=args.stage_channels, stage_depths=args.stage_depths, class_loss=args.class_loss, box_channels=args.box_channels, class_score=args.class_score, bf16=args.bf16,
                            smallest_wins=args.smallest_wins, fine_class_channels=args.fine_class_channels, crop_teacher=args.crop_teacher, teacher_weight=args.teacher_weight, teacher_temperature=args.teacher_temperature)
    _, results = train_detector(config, args.out, log=lambda line: print(line, flush=True))
    for width, r in sorted(results.items()):
        print(f"width {width:g}: mAP@0.5 {r['map50']:.4f}  mAP@[.5:.95] {r['map']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
