"""Slimmable building blocks (Yu et al., ICLR 2019).

Every layer stores its weights at full width; at width index i it uses the prefix of the output
channels ``out_channels_list[i]`` and of the input channels ``in_channels_list[i]``. BatchNorm is the
one thing that is NOT shared: :class:`SwitchableBatchNorm2d` keeps a private BN per width, because a
layer's mean and variance change with the number of channels feeding it.

The active width is explicit state on each module, set for a whole model by :func:`set_width`.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below ``min_value`` (default:
    ``divisor``) and never more than 10% below ``value`` (the MobileNet rounding rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class SlimmableModule(nn.Module):
    """Base for modules whose active width is chosen by index into the model's width list."""

    def __init__(self, num_widths: int) -> None:
        super().__init__()
        self.num_widths = num_widths
        self.width_index = num_widths - 1  # widest by default

    def set_width_index(self, index: int) -> None:
        if not 0 <= index < self.num_widths:
            raise ValueError(f"width index {index} out of range 0..{self.num_widths - 1}")
        self.width_index = index


def _check_lists(name: str, lists: Sequence[Sequence[int]]) -> int:
    lengths = {len(values) for values in lists}
    if len(lengths) != 1:
        raise ValueError(f"{name}: channel lists must have one entry per width, got lengths {sorted(lengths)}")
    for values in lists:
        if list(values) != sorted(values):
            raise ValueError(f"{name}: channel lists must not shrink as width grows: {list(values)}")
    return lengths.pop()


class SlimmableConv2d(SlimmableModule):
    """A Conv2d whose active weight is ``weight[:out_i, :in_i // groups_i]``.

    ``depthwise=True`` makes ``groups`` follow the active channel count (in == out at every width).
    """

    def __init__(
        self,
        in_channels_list: Sequence[int],
        out_channels_list: Sequence[int],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        depthwise: bool = False,
        bias: bool = False,
    ) -> None:
        super().__init__(_check_lists("SlimmableConv2d", [in_channels_list, out_channels_list]))
        if depthwise and list(in_channels_list) != list(out_channels_list):
            raise ValueError("depthwise SlimmableConv2d needs equal input and output channel lists")
        self.in_channels_list = list(in_channels_list)
        self.out_channels_list = list(out_channels_list)
        self.depthwise = depthwise
        self.stride = stride
        self.padding = padding
        in_per_group = 1 if depthwise else max(in_channels_list)
        self.weight = nn.Parameter(torch.empty(max(out_channels_list), in_per_group, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(max(out_channels_list))) if bias else None
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    @property
    def active_in(self) -> int:
        return self.in_channels_list[self.width_index]

    @property
    def active_out(self) -> int:
        return self.out_channels_list[self.width_index]

    @property
    def active_groups(self) -> int:
        return self.active_in if self.depthwise else 1

    def active_weight(self) -> torch.Tensor:
        in_per_group = 1 if self.depthwise else self.active_in
        return self.weight[: self.active_out, :in_per_group]

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias[: self.active_out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.active_weight(), self.active_bias(), self.stride, self.padding, 1, self.active_groups)


class SlimmableLinear(SlimmableModule):
    """A Linear layer whose active weight is ``weight[:out_i, :in_i]``."""

    def __init__(self, in_features_list: Sequence[int], out_features_list: Sequence[int], bias: bool = True) -> None:
        super().__init__(_check_lists("SlimmableLinear", [in_features_list, out_features_list]))
        self.in_features_list = list(in_features_list)
        self.out_features_list = list(out_features_list)
        reference = nn.Linear(max(in_features_list), max(out_features_list), bias=bias)
        self.weight = reference.weight
        self.bias = reference.bias

    @property
    def active_in(self) -> int:
        return self.in_features_list[self.width_index]

    @property
    def active_out(self) -> int:
        return self.out_features_list[self.width_index]

    def active_weight(self) -> torch.Tensor:
        return self.weight[: self.active_out, : self.active_in]

    def active_bias(self) -> torch.Tensor | None:
        return None if self.bias is None else self.bias[: self.active_out]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.active_weight(), self.active_bias())


class SwitchableBatchNorm2d(SlimmableModule):
    """One private BatchNorm2d per width (affine parameters AND running statistics).

    The children are named ``bn.<i>`` with ``i`` the index in the ascending width list, as in the
    reference implementation, so its checkpoints load by name.
    """

    def __init__(self, channels_list: Sequence[int], momentum: float = 0.1) -> None:
        super().__init__(_check_lists("SwitchableBatchNorm2d", [channels_list]))
        self.channels_list = list(channels_list)
        self.bn = nn.ModuleList(nn.BatchNorm2d(c, momentum=momentum) for c in channels_list)

    @property
    def active(self) -> nn.BatchNorm2d:
        bn = self.bn[self.width_index]
        assert isinstance(bn, nn.BatchNorm2d)
        return bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.active(x)


class SharedBatchNorm2d(SlimmableModule):
    """ONE BatchNorm shared by every width (the naive baseline, and US-Nets' training-time BN):
    width i normalises with the first ``channels_list[i]`` entries of the shared affine parameters
    and running statistics, so the statistics end up a mix of all widths."""

    def __init__(self, channels_list: Sequence[int], momentum: float | None = 0.1) -> None:
        super().__init__(_check_lists("SharedBatchNorm2d", [channels_list]))
        self.channels_list = list(channels_list)
        self.bn = nn.BatchNorm2d(max(channels_list), momentum=momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.channels_list[self.width_index]
        bn = self.bn
        use_batch_stats = self.training or bn.running_mean is None
        if self.training and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
        momentum = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        # Slices are views: batch_norm updates the running statistics of the active prefix in place.
        return F.batch_norm(
            x,
            bn.running_mean[:c] if bn.running_mean is not None else None,
            bn.running_var[:c] if bn.running_var is not None else None,
            bn.weight[:c],
            bn.bias[:c],
            use_batch_stats,
            momentum,
            bn.eps,
        )


def conv_bn_relu(
    in_list: Sequence[int],
    out_list: Sequence[int],
    kernel: int = 3,
    stride: int = 1,
    bn: type[SlimmableModule] = SwitchableBatchNorm2d,
) -> nn.Sequential:
    """The common block: slimmable conv (same padding), per-width BN, ReLU."""
    return nn.Sequential(
        SlimmableConv2d(in_list, out_list, kernel, stride, kernel // 2),
        bn(out_list),  # type: ignore[call-arg]
        nn.ReLU(inplace=True),
    )


def slimmable_modules(model: nn.Module) -> Iterator[SlimmableModule]:
    return (m for m in model.modules() if isinstance(m, SlimmableModule))


def set_width(model: nn.Module, width: float) -> int:
    """Make every slimmable layer of ``model`` run at ``width`` (one of ``model.widths``).

    Returns the width index. Raises ValueError, naming the valid widths, for any other value.
    """
    widths: list[float] = list(getattr(model, "widths"))
    matches = [i for i, w in enumerate(widths) if abs(w - width) < 1e-9]
    if not matches:
        raise ValueError(f"width {width} is not one of this model's widths {widths}")
    for module in slimmable_modules(model):
        module.set_width_index(matches[0])
    return matches[0]
