"""Load slimmable weights: our own training checkpoints (final.pt / last.pt), state dicts named like
the reference implementation (per-width BN under ``<prefix>.bn.<i>.*``, optional ``module.`` prefix,
checkpoint under ``model``), so holders of the published checkpoints can export them, and exported
bundle folders (models/<name>), so what ships can be evaluated or trained further without its
training checkpoint."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from .export.unbundle import is_bundle, load_bundle
from .layers import SwitchableBatchNorm2d
from .models import build_model, kwargs_from_recipe

BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


class CheckpointError(ValueError):
    pass


def unwrap_state_dict(checkpoint: object) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: under ``model`` or ``state_dict`` or bare; ``module.``
    prefixes (DataParallel) removed."""
    state = checkpoint
    if isinstance(state, Mapping):
        for key in ("model", "state_dict"):
            if key in state and isinstance(state[key], Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("checkpoint holds no state dict (expected tensors, or a dict with 'model')")
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}


def adapt_shared_bn(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference S-MobileNetV2 has one plain (shared) BN after its 1280-channel conv, where ours is
    switchable: copy such a BN into every width, which reproduces the reference exactly."""
    adapted = dict(state)
    for prefix, module in model.named_modules():
        if not isinstance(module, SwitchableBatchNorm2d) or f"{prefix}.weight" not in state:
            continue
        for tensor in BN_TENSORS:
            key = f"{prefix}.{tensor}"
            if key in adapted:
                value = adapted.pop(key)
                for i in range(module.num_widths):
                    adapted[f"{prefix}.bn.{i}.{tensor}"] = value.clone()
    return adapted


def load_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Strict load with errors that name the offending tensors."""
    state = adapt_shared_bn(model, state)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors, e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensors, e.g. {unexpected[:3]}")
    if wrong:
        problems.append(f"wrong shapes for {len(wrong)} tensors, e.g. {wrong[:3]}")
    if problems:
        raise CheckpointError("state dict does not fit the model: " + "; ".join(problems))
    model.load_state_dict(state)


def load_checkpoint(path: Path) -> dict[str, object]:
    """A training checkpoint's dict (``model`` = the state dict, ``config``, ``earlier_stages``, ...),
    or the same built from a bundle folder, for runs that start from another's weights."""
    if is_bundle(path):
        model, meta = load_bundle(path)
        return {**meta, "model": model.state_dict(), "earlier_stages": meta.get("earlier_stages", [])}
    return dict(torch.load(path, map_location="cpu"))


def load_model(
    path: Path,
    arch: str | None = None,
    widths: list[float] | None = None,
    **model_kwargs: int,
) -> tuple[nn.Module, dict[str, object]]:
    """Build the model a checkpoint describes (or ``arch``/``widths`` for bare state dicts) and load it.
    Returns the model (eval mode) and the checkpoint's metadata (e.g. measured test accuracy).
    A bundle folder is rebuilt from its files and checked against its golden outputs."""
    if is_bundle(path):
        return load_bundle(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    checkpoint = torch.load(path, map_location="cpu")
    meta = checkpoint if isinstance(checkpoint, Mapping) else {}
    arch = arch or meta.get("arch")
    widths = widths or meta.get("widths")
    if not arch:
        raise CheckpointError(f"{path} does not say its architecture: pass --arch")
    recipe = meta.get("config")
    kwargs: dict[str, object] = {**(kwargs_from_recipe(str(arch), recipe) if isinstance(recipe, Mapping) else {}), **model_kwargs}
    if widths:
        kwargs["widths"] = widths
    model = build_model(str(arch), **kwargs)
    load_state(model, unwrap_state_dict(checkpoint))
    model.eval()
    return model, {k: v for k, v in meta.items() if k not in ("model", "optimizer", "state_dict")}
