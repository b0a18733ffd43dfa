"""A plain (non-slimmable) PyTorch copy of one width: sliced weights and that width's BN.

Tracing a model that picks its BN by a Python-side index is fragile in torch 1.13's ONNX exporter,
while a plain copy exports cleanly. Module names are kept, so every width exports the same
initializer names and node names as the full-width graph.
"""
from __future__ import annotations

import copy

from torch import nn

from ..layers import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d, set_width


# The four tensors of an ONNX BatchNormalization node, in its input order (scale, B, mean, var).
BN_TENSORS = ("weight", "bias", "running_mean", "running_var")


def _plain_conv(layer: SlimmableConv2d) -> nn.Conv2d:
    weight = layer.active_weight()
    conv = nn.Conv2d(
        layer.active_in,
        layer.active_out,
        weight.shape[-1],
        layer.stride,
        layer.padding,
        groups=layer.active_groups,
        bias=layer.bias is not None,
    )
    conv.weight.data = weight.detach().clone()
    bias = layer.active_bias()
    if conv.bias is not None and bias is not None:
        conv.bias.data = bias.detach().clone()
    return conv


def _plain_linear(layer: SlimmableLinear) -> nn.Linear:
    linear = nn.Linear(layer.active_in, layer.active_out, bias=layer.bias is not None)
    linear.weight.data = layer.active_weight().detach().clone()
    bias = layer.active_bias()
    if linear.bias is not None and bias is not None:
        linear.bias.data = bias.detach().clone()
    return linear


def _replace_children(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, SlimmableConv2d):
            setattr(module, name, _plain_conv(child))
        elif isinstance(child, SlimmableLinear):
            setattr(module, name, _plain_linear(child))
        elif isinstance(child, SwitchableBatchNorm2d):
            setattr(module, name, copy.deepcopy(child.active))
        else:
            _replace_children(child)


def plain_copy(model: nn.Module, width: float) -> nn.Module:
    """An eval-mode plain copy of ``model`` at ``width``; ``model`` itself is not changed."""
    clone = copy.deepcopy(model)
    set_width(clone, width)
    _replace_children(clone)
    clone.eval()
    return clone


def bn_tensor_names(model: nn.Module) -> list[str]:
    """Initializer names of the switchable-BN tensors in a plain copy (per-width, never sliced)."""
    names: list[str] = []
    for prefix, module in model.named_modules():
        if isinstance(module, SwitchableBatchNorm2d):
            names += [f"{prefix}.{t}" for t in BN_TENSORS]
    return names
