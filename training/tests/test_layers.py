import pytest
import torch
import torch.nn.functional as F
from torch import nn

from slimmable.layers import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm2d, make_divisible, set_width


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.widths = [0.5, 1.0]
        self.conv = SlimmableConv2d([3, 3], [4, 8], 3, padding=1, bias=True)
        self.dw = SlimmableConv2d([4, 8], [4, 8], 3, stride=2, padding=1, depthwise=True)
        self.bn = SwitchableBatchNorm2d([4, 8])
        self.fc = SlimmableLinear([4, 8], [5, 5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.dw(self.conv(x)))
        return self.fc(x.mean((2, 3)))


def test_make_divisible_follows_the_mobilenet_rule() -> None:
    assert make_divisible(32 * 0.35) == 16  # 8 would be more than 10% below 11.2
    assert make_divisible(24 * 0.5) == 16  # 12 rounds half up to 16
    assert make_divisible(32) == 32
    assert make_divisible(4) == 8  # never below the divisor


def test_slimmable_conv_equals_plain_conv_with_sliced_weights() -> None:
    model = Tiny()
    x = torch.randn(2, 3, 9, 9)
    set_width(model, 0.5)
    expected = F.conv2d(x, model.conv.weight[:4], model.conv.bias[:4], padding=1)
    assert torch.equal(model.conv(x), expected)
    y = torch.randn(2, 4, 9, 9)
    expected_dw = F.conv2d(y, model.dw.weight[:4], None, stride=2, padding=1, groups=4)
    assert torch.equal(model.dw(y), expected_dw)


def test_slimmable_linear_equals_plain_linear_with_sliced_weights() -> None:
    model = Tiny()
    set_width(model, 0.5)
    x = torch.randn(3, 4)
    assert torch.equal(model.fc(x), F.linear(x, model.fc.weight[:, :4], model.fc.bias))


def test_switchable_bn_keeps_private_statistics_per_width() -> None:
    model = Tiny().train()
    set_width(model, 0.5)
    model(torch.randn(8, 3, 9, 9) * 3 + 2)
    narrow, wide = model.bn.bn[0], model.bn.bn[1]
    assert narrow.num_batches_tracked.item() == 1
    assert wide.num_batches_tracked.item() == 0
    assert torch.equal(wide.running_mean, torch.zeros(8))
    # In eval mode the narrow width normalises with ITS statistics, not the wide width's.
    model.eval()
    z = torch.randn(2, 4, 5, 5)
    expected = (z - narrow.running_mean[None, :, None, None]) / torch.sqrt(narrow.running_var[None, :, None, None] + narrow.eps)
    assert torch.allclose(model.bn(z), expected * narrow.weight[None, :, None, None] + narrow.bias[None, :, None, None], atol=1e-6)


def test_set_width_rejects_unknown_widths_by_name() -> None:
    with pytest.raises(ValueError, match=r"0\.3 is not one of this model's widths \[0\.5, 1\.0\]"):
        set_width(Tiny(), 0.3)


def test_channel_lists_must_match_the_widths() -> None:
    with pytest.raises(ValueError, match="one entry per width"):
        SlimmableConv2d([3, 3], [4, 8, 16], 3)
    with pytest.raises(ValueError, match="must not shrink"):
        SlimmableLinear([8, 4], [2, 2])
