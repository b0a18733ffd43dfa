"""Joint slimmable training: every step runs every width (widest first), sums the gradients, and
takes ONE optimizer step. Data-parallel under torch.distributed when launched with WORLD_SIZE > 1.

    python3 -m slimmable.train --out runs/fashion --epochs 20

Resumable: rerunning with the same --out continues from ``last.pt``.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .data import Split, batches, load_split
from .layers import set_width
from .models import build_model
from .optim import learning_rate, make_optimizer

# Which widths one step trains; gets (step generator, model widths), returns widths, widest first.
WidthSampler = Callable[[torch.Generator, Sequence[float]], list[float]]


def all_widths(_generator: torch.Generator, widths: Sequence[float]) -> list[float]:
    return sorted(widths, reverse=True)


@dataclass
class TrainConfig:
    arch: str = "fashion_cnn"
    widths: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75, 1.0])
    epochs: int = 20
    batch_size: int = 256
    lr: float = 0.1
    weight_decay: float = 5e-4
    warmup_epochs: float = 1.0
    seed: int = 0
    train_subset: int = 0  # 0 = the whole training split
    test_subset: int = 0
    threads: int = 0  # 0 = leave torch's default


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model: nn.Module, split: Split, widths: Sequence[float], ctx: distributed.Context) -> dict[float, float]:
    """Top-1 accuracy per width, with each width's own running statistics."""
    model.eval()
    result: dict[float, float] = {}
    with torch.no_grad():
        for width in widths:
            set_width(model, width)
            counts = torch.zeros(2)
            for images, labels in batches(split, 1000, rank=ctx.rank, world_size=ctx.world_size):
                logits = model(images.to(ctx.device))
                counts[0] += (logits.argmax(1).cpu() == labels).sum()
                counts[1] += len(labels)
            counts = distributed.sum_tensor(counts, ctx)
            result[width] = float(counts[0] / counts[1])
    return result


def format_widths(values: dict[float, float], fmt: str) -> str:
    return " ".join(f"{w:g}:{v:{fmt}}" for w, v in sorted(values.items(), reverse=True))


def train(
    config: TrainConfig,
    out_dir: Path,
    data_dir: str | None = None,
    sampler: WidthSampler = all_widths,
    model: nn.Module | None = None,
    log: Callable[[str], None] = print,
    after_step: Callable[[nn.Module], None] | None = None,
    distill: bool = False,
    eval_widths: Sequence[float] | None = None,
    splits: tuple[Split, Split] | None = None,
) -> tuple[nn.Module, dict[float, float]]:
    """Train (or resume) and return the model with its per-width test accuracy.

    ``sampler`` picks each step's widths (default: all, widest first); ``after_step`` runs after every
    optimizer step (incremental training restores frozen weights there); ``distill`` turns on
    in-place distillation: the first width of each step learns from the labels, the others from its
    soft predictions (US-Nets); ``eval_widths`` limits the per-epoch evaluation; ``splits`` (train,
    test) replaces Fashion-MNIST with other 28x28 images (e.g. crops of Fashion scenes).
    """
    ctx = distributed.setup()
    try:
        return _train(config, out_dir, data_dir, sampler, model, log, ctx, after_step, distill, eval_widths, splits)
    finally:
        distributed.teardown(ctx)


def _train(
    config: TrainConfig,
    out_dir: Path,
    data_dir: str | None,
    sampler: WidthSampler,
    model: nn.Module | None,
    log: Callable[[str], None],
    ctx: distributed.Context,
    after_step: Callable[[nn.Module], None] | None = None,
    distill: bool = False,
    eval_widths: Sequence[float] | None = None,
    splits: tuple[Split, Split] | None = None,
) -> tuple[nn.Module, dict[float, float]]:
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.batch_size % ctx.world_size:
        raise ValueError(f"batch size {config.batch_size} must divide by the {ctx.world_size} processes")
    seed_everything(config.seed)
    train_split, test_split = splits or (load_split("train", data_dir), load_split("test", data_dir))
    if config.train_subset:
        train_split = train_split.subset(config.train_subset)
    if config.test_subset:
        test_split = test_split.subset(config.test_subset)
    model = model or build_model(config.arch, widths=config.widths)
    # channels_last ran these small convolutions faster on CPU (119 s vs 210 s an epoch, one measurement)
    model.to(ctx.device, memory_format=torch.channels_last)
    distributed.broadcast_model(model, ctx)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)

    steps_per_epoch = max(1, (len(train_split) // ctx.world_size) // (config.batch_size // ctx.world_size))
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = int(config.warmup_epochs * steps_per_epoch)
    start_epoch, step, train_seconds = resume(out_dir, config, model, optimizer, generator, log if ctx.is_main else None)

    accuracy: dict[float, float] = {}
    for epoch in range(start_epoch, config.epochs):
        model.train()
        started = time.time()
        loss_sum: dict[float, float] = {}
        correct: dict[float, int] = {}
        seen: dict[float, int] = {}
        per_rank = config.batch_size // ctx.world_size
        for images, labels in batches(train_split, per_rank, generator, True, ctx.rank, ctx.world_size):
            lr = learning_rate(config.lr, step, total_steps, warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            images = images.to(ctx.device, memory_format=torch.channels_last)
            labels = labels.to(ctx.device)
            teacher: torch.Tensor | None = None
            for width in sampler(generator, config.widths):
                set_width(model, width)
                logits = model(images)
                if teacher is None:
                    loss = F.cross_entropy(logits, labels)
                    teacher = F.softmax(logits.detach(), 1) if distill else None
                else:
                    loss = F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean")
                loss.backward()  # gradients of all widths accumulate into the shared weights
                loss_sum.setdefault(width, 0.0)
                loss_sum[width] += float(loss) * len(labels)
                correct[width] = correct.get(width, 0) + int((logits.argmax(1) == labels).sum())
                seen[width] = seen.get(width, 0) + len(labels)
            distributed.average_gradients(model, ctx)
            optimizer.step()
            if after_step is not None:
                after_step(model)
            step += 1
        distributed.average_buffers(model, ctx)
        train_seconds += time.time() - started
        accuracy = evaluate(model, test_split, eval_widths or config.widths, ctx)
        if ctx.is_main:
            # Save before reporting, so an interruption never loses a finished epoch.
            save_checkpoint(out_dir, config, model, optimizer, generator, epoch + 1, step, train_seconds)
            trained = sorted(seen)
            loss_text = format_widths({w: loss_sum[w] / seen[w] for w in trained}, ".3f")
            train_text = format_widths({w: correct[w] / seen[w] for w in trained}, ".4f")
            log(
                f"epoch {epoch + 1}/{config.epochs} lr {lr:.4f} {time.time() - started:.0f}s | loss {loss_text}"
                f" | train acc {train_text} | test acc {format_widths(accuracy, '.4f')}"
            )
    if not accuracy:
        accuracy = evaluate(model, test_split, eval_widths or config.widths, ctx)
    if ctx.is_main:
        save_final(model, config, accuracy, out_dir, train_seconds)
    return model, accuracy


def resume(
    out_dir: Path,
    config: object,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    log: Callable[[str], None] | None,
) -> tuple[int, int, float]:
    """Load ``out_dir/last.pt`` if it exists; returns (epoch, step, training seconds) to go on from."""
    last = out_dir / "last.pt"
    if not last.exists():
        return 0, 0, 0.0
    state = torch.load(last, map_location="cpu")
    # The thread count changes speed, not the recipe: a run may resume with more or fewer threads.
    if any(state["config"].get(k) != v for k, v in asdict(config).items() if k in state["config"] and k != "threads"):  # type: ignore[call-overload]
        raise ValueError(f"{last} was written with another configuration; use a new --out or delete it")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if log:
        log(f"resumed from {last} at epoch {state['epoch']}")
    return int(state["epoch"]), int(state["step"]), float(state.get("train_seconds", 0.0))


def save_checkpoint(
    out_dir: Path,
    config: object,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    epoch: int,
    step: int,
    train_seconds: float = 0.0,
) -> None:
    """Everything needed to resume exactly: weights, optimizer, both random streams, position."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {
        "config": asdict(config),  # type: ignore[call-overload]
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "epoch": epoch,
        "step": step,
        "train_seconds": train_seconds,
    }
    torch.save(state, out_dir / "last.tmp")
    (out_dir / "last.tmp").replace(out_dir / "last.pt")  # atomic: a kill never leaves half a file


def save_final(model: nn.Module, config: TrainConfig, accuracy: dict[float, float], out_dir: Path, train_seconds: float = 0.0) -> Path:
    """The checkpoint the exporter reads: weights, architecture and measured per-width accuracy."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "final.pt"
    torch.save(
        {
            "arch": config.arch,
            "widths": config.widths,
            "model": model.state_dict(),
            "test_accuracy": {str(w): a for w, a in accuracy.items()},
            "config": asdict(config),
            "train_seconds": train_seconds,
        },
        path,
    )
    summary = {"test_accuracy": {str(w): a for w, a in accuracy.items()}, "train_seconds": round(train_seconds, 1), "config": asdict(config)}
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, final.pt)")
    parser.add_argument("--arch", default=defaults.arch)
    parser.add_argument("--widths", type=float, nargs="+", default=defaults.widths)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="global batch size")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--train-subset", type=int, default=0, help="use only the first N training images")
    parser.add_argument("--test-subset", type=int, default=0, help="evaluate on the first N test images")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: default)")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST idx files")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = TrainConfig(
        arch=args.arch,
        widths=sorted(args.widths),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        seed=args.seed,
        train_subset=args.train_subset,
        test_subset=args.test_subset,
        threads=args.threads,
    )
    _, accuracy = train(config, args.out, args.data_dir, log=lambda line: print(line, flush=True))
    print(f"final test accuracy {format_widths(accuracy, '.4f')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
