import pytest
import torch

from slimmable.detection import STRIDE
from slimmable.flops import count_width
from slimmable.layers import set_width
from slimmable.models import MODELS, build_model
from slimmable.models.detector import SlimmableDetector

# Reference multiply-accumulates (conv + FC) of S-MobileNetV2 at 224x224x3, 1000 classes.
REFERENCE_MMACS = {1.0: 300.8, 0.75: 209.1, 0.5: 97.1, 0.35: 59.3}


@pytest.mark.parametrize("width", sorted(REFERENCE_MMACS))
def test_s_mobilenet_v2_reproduces_the_reference_macs(width: float) -> None:
    model = build_model("s_mobilenet_v2")
    macs, _ = count_width(model, width)
    assert abs(macs / 1e6 - REFERENCE_MMACS[width]) / REFERENCE_MMACS[width] < 0.005


def test_fashion_cnn_widths_span_a_real_compute_range() -> None:
    model = build_model("fashion_cnn")
    macs = [count_width(model, w)[0] for w in model.widths]
    assert macs == sorted(macs)
    assert macs[-1] / macs[0] > 10


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_take_input_size_channels_and_classes(name: str) -> None:
    model = build_model(name, input_size=64, in_channels=2, num_classes=7).eval()
    # classifiers answer logits; a detector (or a registered variant) a map at its output stride of 7 heatmaps + size + offset
    expected = (2, 11, 64 // STRIDE, 64 // STRIDE) if isinstance(model, SlimmableDetector) else (2, 7)
    for width in model.widths:
        set_width(model, width)
        assert model(torch.randn(2, 2, 64, 64)).shape == expected


def test_unknown_architecture_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="fashion_cnn"):
        build_model("resnet9000")


def test_a_box_branch_keeps_the_output_layout_and_frees_the_head_for_the_classes() -> None:
    model = build_model("slimmable_detector", input_size=64, num_classes=7, box_channels=16).eval()
    assert getattr(model, "predict").out_channels_list == [7] * 4 and getattr(model, "predict_box").out_channels_list == [4] * 4
    for width in model.widths:
        set_width(model, width)
        assert model(torch.randn(2, 1, 64, 64)).shape == (2, 11, 64 // STRIDE, 64 // STRIDE)
