"""Multiply-accumulate and parameter counts of one width, by forward hooks on the active layers."""
from __future__ import annotations

import torch
from torch import nn

from .layers import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d, set_width


def count_width(model: nn.Module, width: float) -> tuple[int, int]:
    """(MACs of conv + linear layers for one input, parameters used) at ``width``."""
    set_width(model, width)
    macs = 0
    params = 0

    def on_forward(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs, params
        if isinstance(module, SlimmableConv2d):
            weight = module.active_weight()
            macs += output.shape[2] * output.shape[3] * weight.numel()
            params += weight.numel() + (module.active_out if module.bias is not None else 0)
        elif isinstance(module, SlimmableLinear):
            macs += module.active_weight().numel()
            params += module.active_weight().numel() + (module.active_out if module.bias is not None else 0)
        elif isinstance(module, SwitchableBatchNorm2d):
            params += 2 * module.active.num_features

    handles = [
        m.register_forward_hook(on_forward)
        for m in model.modules()
        if isinstance(m, (SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d))
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            size = int(getattr(model, "input_size"))
            model(torch.zeros(1, int(getattr(model, "in_channels")), size, size))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return macs, params
