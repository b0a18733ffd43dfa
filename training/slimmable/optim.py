"""Optimizer and learning-rate schedule of the slimmable recipe."""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import SlimmableConv2d


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Weight decay on conv and linear weights only: not on BN, biases or depthwise kernels
    (decaying a depthwise kernel's few weights hurts narrow models, as in the reference recipe)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            is_weight = name == "weight" and param.dim() > 1
            depthwise = isinstance(module, SlimmableConv2d) and module.depthwise
            (decay if is_weight and not depthwise else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(parameter_groups(model, weight_decay), lr=lr, momentum=0.9, nesterov=True)


def learning_rate(base_lr: float, step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))
